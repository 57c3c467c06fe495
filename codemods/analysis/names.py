"""Qualified names on Python's own `ast`: what a name or a dotted attribute denotes, through
imports (absolute, relative, aliased), assignments and Python's scoping rules (function,
class, lambda and comprehension scopes, `global`, `nonlocal`, builtins).

The names follow LibCST's `FullyQualifiedNameProvider`: ``pkg.mod.name`` at module level,
``pkg.mod.f.<locals>.x`` inside a function, ``pkg.mod.C.method`` for a method, and the import
target for an imported name (``sqlalchemy.orm.scoped_session`` for ``ss`` after ``from
sqlalchemy.orm import scoped_session as ss``). Like LibCST, every binding a scope has for a
name counts, wherever it stands in the scope.
"""

from __future__ import annotations

import ast
import builtins
from .walk import INERT, children, fill

BUILTINS = frozenset(dir(builtins))
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def absolute_module(module: str | None, level: int, package: str) -> str:
    """``from ..x import y`` seen from ``package``: the absolute name of ``..x``."""
    if not level:
        return module or ""
    base = package.split(".") if package else []
    if level > 1:
        if level - 1 > len(base):
            raise ImportError(f"relative import beyond the top-level package ({'.' * level}{module or ''})")
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def dotted(node: ast.AST | None) -> str | None:
    """``a.b.c`` for a chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


_NOTHING: frozenset[str] = frozenset()


class Scope:
    __slots__ = ("kind", "prefix", "parent", "bindings", "declared_global", "declared_nonlocal")

    def __init__(self, kind: str, prefix: str, parent: "Scope | None") -> None:
        self.kind = kind  # "module", "class", "function" or "comprehension"
        self.prefix = prefix  # what this scope's own names are qualified with
        self.parent = parent
        self.bindings: dict[str, list[str]] = {}
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()

    def bind(self, name: str, qname: str | None = None) -> None:
        if name in self.declared_global or name in self.declared_nonlocal:
            target = self.module() if name in self.declared_global else self._enclosing_binder(name)
            if target is not None and target is not self:
                target.bind(name, qname)
                return
        qnames = self.bindings.setdefault(name, [])
        qname = qname or f"{self.prefix}.{name}"
        if qname not in qnames:
            qnames.append(qname)

    def module(self) -> "Scope":
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    def _enclosing_binder(self, name: str) -> "Scope | None":
        scope = self.parent
        while scope is not None and scope.kind != "module":
            if scope.kind == "function" and name in scope.bindings:
                return scope
            scope = scope.parent
        return None

    def lookup(self, name: str) -> tuple[str, ...]:
        if name in self.declared_global:
            return self.module()._own_or_builtin(name)
        scope: Scope | None = self if name not in self.declared_nonlocal else self.parent
        first = True
        while scope is not None:
            if (first or scope.kind != "class") and name in scope.bindings:
                if name in scope.declared_global and scope.kind != "module":
                    return self.module()._own_or_builtin(name)
                return tuple(scope.bindings[name])
            if scope.kind == "module":
                break
            scope = scope.parent
            first = False
        return ("builtins." + name,) if name in BUILTINS else ()

    def binder(self, name: str) -> "Scope | None":
        """The scope whose binding of ``name`` a read of it here sees (None: a builtin or
        unbound), by the rules of ``lookup``."""
        if name in self.declared_global:
            return self.module()
        scope: Scope | None = self if name not in self.declared_nonlocal else self.parent
        first = True
        while scope is not None:
            if (first or scope.kind != "class") and name in scope.bindings:
                return self.module() if name in scope.declared_global else scope
            if scope.kind == "module":
                return None
            scope = scope.parent
            first = False
        return None

    def _own_or_builtin(self, name: str) -> tuple[str, ...]:
        if name in self.bindings:
            return tuple(self.bindings[name])
        return ("builtins." + name,) if name in BUILTINS else ()


class Names:
    """The scopes of one module, and the scope every name (and definition) stands in."""

    def __init__(self, tree: ast.Module, module: str, package: str) -> None:
        self.module_name = module
        self.package = package
        self.root = Scope("module", module, None)
        self.scope_of: dict[int, Scope] = {}  # id(ast.Name / def / class / lambda) -> its scope
        self.body_scope: dict[int, Scope] = {}  # id(def / class / lambda) -> the scope it opens
        self._qnames: dict[int, tuple[ast.AST, frozenset[str]]] = {}  # id(node) -> (node, qnames)
        self._same: dict = {}  # each qualified name, and each set of them, kept once
        self._spelled: dict[tuple, frozenset[str]] = {}  # (scope, name, *attributes) -> qnames
        fill(tree)
        self._visit_body(tree.body, self.root)

    # -- questions ------------------------------------------------------------------------
    def qnames(self, node: ast.AST | None) -> frozenset[str]:
        """Qualified names of a name or a dotted attribute (empty for anything else). As in
        LibCST, calls and subscripts are looked through (``a.b(1).c`` is ``a.b.c``, the call
        ``f(x)(y)`` is ``f``) and a builtin keeps its own name (``object.__repr__`` is
        ``builtins.object``)."""
        entry = self._qnames.get(id(node))  # the collectors ask about the same nodes
        if entry is not None and entry[0] is node:
            return entry[1]
        found = self._qualify(node)
        self._qnames[id(node)] = (node, found)  # the node kept alive: its id is not reused
        return found

    def _qualify(self, node: ast.AST | None) -> frozenset[str]:
        parts = []
        kind = type(node)
        while True:
            if kind is ast.Attribute:
                parts.append(node.attr)
                node = node.value
            elif kind is ast.Call:
                node = node.func
            elif kind is ast.Subscript:
                node = node.value
            else:
                break
            kind = type(node)
        if kind is not ast.Name:
            return _NOTHING
        scope = self.scope_of.get(id(node))
        if scope is None:
            return _NOTHING
        # The same spelling in the same scope names the same things: `self.session`, `db`
        # and `request.args` are asked about in every function (the scopes are complete now).
        key = (scope, node.id, *parts)
        found = self._spelled.get(key)
        if found is not None:
            return found
        heads = scope.lookup(node.id)
        if parts:
            tail = ".".join(reversed(parts))
            heads = [head if head.startswith("builtins.") else f"{head}.{tail}" for head in heads]
        same = self._same
        found = frozenset([same.setdefault(name, name) for name in heads])
        found = self._spelled[key] = same.setdefault(found, found)
        return found

    def definition(self, node: ast.AST) -> str:
        """Qualified name of a function or class definition (the smallest, as LibCST's
        ``min(qnames(node.name))``)."""
        scope = self.scope_of[id(node)]
        return min(scope.lookup(node.name) or (f"{scope.prefix}.{node.name}",))

    def inner(self, node: ast.AST) -> Scope:
        return self.body_scope[id(node)]

    # -- the walk -------------------------------------------------------------------------
    def _visit_body(self, body, scope: Scope) -> None:
        for stmt in body:
            self._visit(stmt, scope)

    def _visit_all(self, nodes, scope: Scope) -> None:
        for node in nodes:
            if node is not None:
                self._visit(node, scope)

    def _visit(self, node: ast.AST, scope: Scope) -> None:
        kind = type(node)
        if kind is ast.Name:
            self.scope_of[id(node)] = scope
            if type(node.ctx) is ast.Store:  # `del x` binds nothing (LibCST: an access)
                scope.bind(node.id)
            return
        special = _SPECIAL.get(kind)
        if special is not None:
            special(self, node, scope)
            return
        # Most nodes: one dictionary look-up, not a chain of isinstance. Their names are taken
        # here and their constants and operators passed over, not entered one call each (two
        # nodes in five are leaves).
        scope_of = self.scope_of
        for child in node._fs_children:  # see `walk.fill`
            kind = type(child)
            if kind is ast.Name:
                scope_of[id(child)] = scope
                if type(child.ctx) is ast.Store:
                    scope.bind(child.id)
            elif kind not in INERT:
                self._visit(child, scope)

    def _import(self, node: ast.Import, scope: Scope) -> None:
        for alias in node.names:
            if alias.asname:
                scope.bind(alias.asname, alias.name)
            else:
                top = alias.name.split(".")[0]
                scope.bind(top, top)

    def _import_from(self, node: ast.ImportFrom, scope: Scope) -> None:
        try:
            base = absolute_module(node.module, node.level, self.package)
        except ImportError:
            base = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name != "*":
                scope.bind(alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name)

    def _global(self, node: ast.Global, scope: Scope) -> None:
        scope.declared_global.update(node.names)

    def _nonlocal(self, node: ast.Nonlocal, scope: Scope) -> None:
        scope.declared_nonlocal.update(node.names)

    def _named_binding(self, node, scope: Scope) -> None:
        """`except E as name`, `case [*name]`, `case x as name`: binds, then its children."""
        if node.name:
            scope.bind(node.name)
        self._visit_all(children(node), scope)

    def _match_mapping(self, node: ast.MatchMapping, scope: Scope) -> None:
        if node.rest:
            scope.bind(node.rest)
        self._visit_all(children(node), scope)

    def _arguments(self, args: ast.arguments, outer: Scope, inner: Scope) -> None:
        self._visit_all(args.defaults, outer)
        self._visit_all(args.kw_defaults, outer)
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in every:
            if arg.annotation is not None:
                self._visit(arg.annotation, outer)
            inner.bind(arg.arg)

    def _function(self, node, scope: Scope) -> None:
        self._visit_all(node.decorator_list, scope)
        if node.returns is not None:
            self._visit(node.returns, scope)
        self.scope_of[id(node)] = scope
        scope.bind(node.name)
        qname = self.definition(node)
        inner = Scope("function", f"{qname}.<locals>", scope)
        self.body_scope[id(node)] = inner
        self._arguments(node.args, scope, inner)
        self._visit_body(node.body, inner)

    def _class(self, node: ast.ClassDef, scope: Scope) -> None:
        self._visit_all(node.decorator_list, scope)
        self._visit_all(node.bases, scope)
        self._visit_all((k.value for k in node.keywords), scope)
        self.scope_of[id(node)] = scope
        scope.bind(node.name)
        inner = Scope("class", self.definition(node), scope)
        self.body_scope[id(node)] = inner
        self._visit_body(node.body, inner)

    def _lambda(self, node: ast.Lambda, scope: Scope) -> None:
        inner = Scope("function", f"{scope.prefix}.<locals>", scope)  # LibCST names it so
        self.scope_of[id(node)] = scope
        self.body_scope[id(node)] = inner
        self._arguments(node.args, scope, inner)
        self._visit(node.body, inner)

    def _comprehension(self, node, scope: Scope) -> None:
        generators = node.generators
        self._visit(generators[0].iter, scope)
        inner = Scope("comprehension", f"{scope.prefix}.<comprehension>", scope)
        self.body_scope[id(node)] = inner
        for number, generator in enumerate(generators):
            self._visit(generator.target, inner)
            if number:
                self._visit(generator.iter, inner)
            self._visit_all(generator.ifs, inner)
        if isinstance(node, ast.DictComp):
            self._visit(node.key, inner)
            self._visit(node.value, inner)
        else:
            self._visit(node.elt, inner)


# The node kinds `Names._visit` does not simply walk through, and what it does with them.
_SPECIAL = {
    ast.FunctionDef: Names._function,
    ast.AsyncFunctionDef: Names._function,
    ast.ClassDef: Names._class,
    ast.Lambda: Names._lambda,
    **{kind: Names._comprehension for kind in COMPREHENSIONS},
    ast.Import: Names._import,
    ast.ImportFrom: Names._import_from,
    ast.Global: Names._global,
    ast.Nonlocal: Names._nonlocal,
    ast.ExceptHandler: Names._named_binding,
    ast.MatchAs: Names._named_binding,
    ast.MatchStar: Names._named_binding,
    ast.MatchMapping: Names._match_mapping,
}
