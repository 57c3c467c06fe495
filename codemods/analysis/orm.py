"""What an expression queries, as plain data the index can judge: does it return ORM objects?

``db_session.query(Asset).order_by(Asset.symbol).all()`` is summarised as root
``pkg.database.db_session``, entities ``{pkg.models.Asset, ...}`` and terminal ``all``. Whether
the root is a known session (a registry, Flask-SQLAlchemy's ``db.session``, a local session, or
``Model.query``) and whether an entity is a mapped class is decided by the index, which knows
every module's registries and models; names alone decide nothing.

`collect_orm` reads one module's `ast` in a single walk, in source order (the order LibCST's
visitor went in), and keeps the `ast` nodes FS003 edits.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable

from .walk import INERT, children, fill
from .location import Location, Positions
from .names import Names

DECLARATIVE_BASE = frozenset(
    {
        "sqlalchemy.orm.declarative_base",
        "sqlalchemy.ext.declarative.declarative_base",
        "sqlalchemy.orm.decl_api.declarative_base",
    }
)
DECLARATIVE_CLASS = frozenset(
    {
        "sqlalchemy.orm.DeclarativeBase",
        "sqlalchemy.orm.DeclarativeBaseNoMeta",
        "sqlalchemy.orm.decl_api.DeclarativeBase",
    }
)
FLASK_SQLALCHEMY = frozenset({"flask_sqlalchemy.SQLAlchemy", "flask_sqlalchemy.extension.SQLAlchemy"})
LRU_CACHE = frozenset({"functools.lru_cache", "functools.cache"})
CACHETOOLS = frozenset({"cachetools.cached", "cachetools.func.ttl_cache", "cachetools.func.lru_cache"})
FLASK_CACHING = frozenset({"flask_caching.Cache"})

# Terminal calls that hand back mapped objects (given a mapped entity).
OBJECT_TERMINALS = frozenset(
    {"all", "first", "one", "one_or_none", "get", "scalar_one", "scalar_one_or_none", "fetchall"}
)
# Calls in the chain after which rows hold columns, not objects.
COLUMN_ONLY = frozenset({"with_entities", "values", "count", "exists"})

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def full_qnames(names: Names, node: ast.AST | None) -> frozenset[str]:
    """Qualified names of any expression, as LibCST's FullyQualifiedNameProvider gave them:
    a call stands for what it calls and a subscript for what it indexes (``get_cache()`` is
    ``pkg.mod.get_cache``), ``True``/``False``/``None`` are builtins, and an attribute of
    anything else (``"".join``) was LibCST's ``None.join``, the builtin `None`."""
    current = node
    while isinstance(current, (ast.Call, ast.Subscript)):
        current = current.func if isinstance(current, ast.Call) else current.value
    base = current
    while isinstance(base, (ast.Attribute, ast.Call, ast.Subscript)):
        base = base.func if isinstance(base, ast.Call) else base.value
    if _named_constant(base):
        return frozenset({f"builtins.{base.value}"})
    if isinstance(base, ast.Name):
        return names.qnames(current)
    return frozenset({"builtins.None"}) if isinstance(current, ast.Attribute) else frozenset()


@dataclass(frozen=True)
class QuerySummary:
    roots: frozenset[str]  # qualified names of the chain's first name
    root_attr: str | None  # `query` in `Model.query....`
    entities: frozenset[str]  # qualified names of names passed as positional arguments
    methods: tuple[str, ...]  # method names along the chain, first to last

    @property
    def terminal(self) -> str | None:
        return self.methods[-1] if self.methods else None


def _arguments(call: ast.Call) -> list[ast.expr]:
    """The values a call passes (LibCST's ``arg.value``: ``*rows`` gives ``rows``)."""
    values = [a.value if isinstance(a, ast.Starred) else a for a in call.args]
    return values + [k.value for k in call.keywords]


def summarise(
    node: ast.expr, qnames: Callable[[ast.AST], frozenset[str]]
) -> QuerySummary | None:
    """The query a call chain makes, or None when ``node`` is not a method-call chain."""
    if not isinstance(node, ast.Call):
        return None
    methods: list[str] = []
    entities: set[str] = set()
    current: ast.expr = node
    while True:
        if isinstance(current, ast.Call):
            for value in _arguments(current):
                entities |= _entities(value, qnames)
            current = current.func
        elif isinstance(current, ast.Attribute):
            methods.append(current.attr)
            inner = current.value
            if isinstance(inner, (ast.Name, ast.Attribute)):
                if isinstance(inner, ast.Attribute) and inner.attr == "query":
                    return QuerySummary(
                        qnames(inner.value), "query", frozenset(entities) | qnames(inner.value),
                        tuple(reversed(methods)),
                    )
                return QuerySummary(qnames(inner), None, frozenset(entities), tuple(reversed(methods)))
            current = inner
        else:
            return None


def _entities(value: ast.expr, qnames) -> set[str]:
    """Names passed as arguments, looking inside nested calls (`select(Model)`), not inside
    attributes (`Model.id` is a column, not an entity)."""
    if isinstance(value, ast.Name) or _named_constant(value):
        return set(qnames(value))
    if isinstance(value, ast.Call):
        found: set[str] = set()
        for arg in _arguments(value):
            found |= _entities(arg, qnames)
        if isinstance(value.func, ast.Attribute):
            found |= _entities(value.func.value, qnames)
        return found
    return set()


@dataclass
class GlobalQuery:
    """``NAME = <query>`` at module level: run once, at import."""

    qname: str
    name: str
    query: QuerySummary
    location: Location


@dataclass
class Memo:
    """``if key not in CACHE: CACHE[key] = <query>`` then ``return CACHE[key]``."""

    function: str
    cache: frozenset[str]  # qualified names of the dict
    query: QuerySummary
    location: Location
    shape: str | None  # None for the plain shape the fix rewrites; "other" is only reported


@dataclass
class CachedFunction:
    """A function under a caching decorator, with the queries it makes."""

    qname: str
    decorator: frozenset[str]  # qualified names of the decorator (or its owner, for FS004)
    kind: str  # "lru" (functools), "flask-caching", "cachetools"
    queries: list[QuerySummary]
    location: Location
    returns_plain: bool = False  # every `return` hands back plain values, never ORM objects


@dataclass
class OrmFacts:
    declarative_bases: set[str] = field(default_factory=set)
    flask_sqlalchemy: set[str] = field(default_factory=set)  # `db = SQLAlchemy()`
    flask_caches: set[str] = field(default_factory=set)  # `cache = Cache()`
    classes: dict[str, frozenset[str]] = field(default_factory=dict)  # class -> its bases
    local_sessions: dict[str, frozenset[str]] = field(default_factory=dict)  # f.<locals>.s -> callee
    globals: list[GlobalQuery] = field(default_factory=list)
    memos: list[Memo] = field(default_factory=list)
    cached: list[CachedFunction] = field(default_factory=list)
    import_time_refs: set[str] = field(default_factory=set)  # names read while importing
    declared_global: set[str] = field(default_factory=set)  # `global X` in a function
    cache_clear: set[str] = field(default_factory=set)  # X in X.cache_clear()/cache_info()


def _named_constant(node: ast.AST) -> bool:
    """``True``, ``False`` or ``None``: names, with qualified names, to LibCST."""
    if not isinstance(node, ast.Constant):
        return False
    value = node.value
    return value is True or value is False or value is None


def _subscript_of(node: ast.AST | None, cache: str, key: str) -> bool:
    """``cache[key]``"""
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == cache
        and isinstance(node.slice, ast.Name)
        and node.slice.id == key
    )


def _on_own_line(positions: Positions, stmt: ast.stmt) -> bool:
    """Whether ``stmt`` starts its line (an indented block, not ``if x: y``)."""
    line = positions.lines[stmt.lineno - 1] if stmt.lineno <= len(positions.lines) else ""
    return not line[: positions.column(stmt.lineno, stmt.col_offset)].strip()


def _memo_shape(if_node: ast.If, following: ast.stmt | None, after: ast.stmt | None, qnames, positions):
    """(cache qnames, query node, return node) for the plain memo shape, else None.
    ``after`` is the statement after ``following`` (it must not share its line)."""
    test = if_node.test
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.NotIn)
        and isinstance(test.comparators[0], ast.Name)
        and isinstance(test.left, ast.Name)
    ):
        return None
    key, cache = test.left.id, test.comparators[0].id
    body = if_node.body
    if if_node.orelse or len(body) != 1 or not _on_own_line(positions, body[0]):
        return None
    store = body[0]
    if not (
        isinstance(store, ast.Assign)
        and len(store.targets) == 1
        and _subscript_of(store.targets[0], cache, key)
        and isinstance(store.value, ast.Call)
    ):
        return None
    if not (
        isinstance(following, ast.Return)
        and _subscript_of(following.value, cache, key)
        and (after is None or after.lineno != following.end_lineno)  # alone on its line
    ):
        return None
    return qnames(test.comparators[0]), store.value, following


class CacheCollector:
    """Collects `OrmFacts` and the nodes FS003 edits (``ast`` nodes: the `Assign` of a
    global, the memo's `If`, query `Call` and `Return`, the cached `FunctionDef`)."""

    def __init__(self, names: Names, positions: Positions, module_name: str) -> None:
        self.names = names
        self.positions = positions
        self.module_name = module_name
        self.facts = OrmFacts()
        self.functions: list[str] = []
        self.function_nodes: list[ast.AST] = []
        self.classes = 0
        self.class_names: list[str] = []  # qualified names of the enclosing classes
        self.loops: list[tuple[str, ast.expr]] = []  # (target, iterable) of enclosing `for`s
        self.global_statements: dict[str, ast.stmt] = {}
        self.memo_nodes: dict[Location, tuple] = {}
        self.cached_nodes: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}

    def qnames(self, node: ast.AST) -> frozenset[str]:
        return full_qnames(self.names, node)

    def location(self, node: ast.AST) -> Location:
        return self.positions.location(node)

    # -- the walk, in LibCST's order --------------------------------------------------------
    def run(self, tree: ast.Module) -> None:
        # The module's body is no indented block: no memo is looked for there.
        for stmt in tree.body:
            self.visit(stmt)

    def visit(self, node: ast.AST) -> None:
        special = _VISITS.get(type(node))
        if special is not None:
            special(self, node)
        elif self.functions or self.classes:  # `_visit_all`, written out: one frame a node
            for child in node._fs_children:  # see `walk.fill`
                if type(child) not in INERT:
                    self.visit(child)
        else:
            for child in node._fs_children:
                self.visit(child)

    # What `visit` does with each kind it does more with than enter its children (`_VISITS`).
    def _visit_constant(self, node: ast.Constant) -> None:
        if _named_constant(node) and not (self.functions or self.classes):
            self.facts.import_time_refs |= self.qnames(node)

    def _visit_attribute(self, node: ast.Attribute) -> None:
        self._attribute(node)
        self._visit_all(node._fs_children)

    def _visit_call(self, node: ast.Call) -> None:
        self._call(node)
        self.visit(node.func)
        self._visit_all(_call_arguments(node))

    def _visit_assign(self, node: ast.Assign) -> None:
        self._assign(node)
        self._visit_all(node._fs_children)

    def _visit_global(self, node: ast.Global) -> None:
        for name in node.names:
            self.facts.declared_global.add(f"{self.module_name}.{name}")

    def _visit_with_item(self, node: ast.withitem) -> None:
        self._with_item(node)
        self._visit_all(node._fs_children)

    def _visit_if(self, node: ast.If | ast.While) -> None:
        self.visit(node.test)
        self._block(node.body)
        self._block(node.orelse)

    def _visit_for(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.target)
        self.visit(node.iter)
        if isinstance(node.target, ast.Name):
            self.loops.append((node.target.id, node.iter))
            self._block(node.body)
            self.loops.pop()
        else:
            self._block(node.body)
        self._block(node.orelse)

    def _visit_with(self, node: ast.With | ast.AsyncWith) -> None:
        self._visit_all(node.items)
        self._block(node.body)

    def _visit_try(self, node: ast.Try) -> None:
        self._block(node.body)
        for handler in node.handlers:
            if handler.type is not None:
                self.visit(handler.type)
            self._block(handler.body)
        self._block(node.orelse)
        self._block(node.finalbody)

    def _visit_match(self, node: ast.Match) -> None:
        self.visit(node.subject)
        for case in node.cases:
            self.visit(case.pattern)
            if case.guard is not None:
                self.visit(case.guard)
            self._block(case.body)

    def _visit_dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values):
            if key is not None:
                self.visit(key)
            self.visit(value)

    def _visit_if_exp(self, node: ast.IfExp) -> None:
        self.visit(node.body)
        self.visit(node.test)
        self.visit(node.orelse)

    def _visit_lambda(self, node: ast.Lambda) -> None:
        self._visit_all(_parameters(node.args))
        self.visit(node.body)

    def _visit_all(self, nodes) -> None:
        if self.functions or self.classes:
            # Names and constants count only at import time: skipped here, one call each
            for node in nodes:
                if type(node) not in INERT:
                    self.visit(node)
        else:
            for node in nodes:
                self.visit(node)

    def _block(self, body: list[ast.stmt]) -> None:
        if body:
            self._memos(body)
            self._visit_all(body)

    # -- what LibCST's visit_* methods did --------------------------------------------------
    def _class(self, node: ast.ClassDef) -> None:
        qname = self.names.definition(node)
        if qname:
            bases = frozenset(
                q for base in node.bases
                for q in self.qnames(base.value if isinstance(base, ast.Starred) else base)
            )
            self.facts.classes[qname] = bases
            if bases & DECLARATIVE_CLASS:
                self.facts.declarative_bases.add(qname)
        self.classes += 1
        self.class_names.append(qname or "")
        self._visit_all(node.decorator_list)
        self._visit_all(node.bases)
        self._visit_all(node.keywords)
        self._block(node.body)
        self.class_names.pop()
        self.classes -= 1

    def _function(self, node) -> None:
        qname = self.names.definition(node) or node.name
        self.functions.append(qname)
        self.function_nodes.append(node)
        loops, self.loops = self.loops, []
        for expr in node.decorator_list:
            target = expr.func if isinstance(expr, ast.Call) else expr
            names = self.qnames(target)
            kind = None
            if names & LRU_CACHE:
                kind = "lru"
            elif names & CACHETOOLS:
                kind = "cachetools"
            elif isinstance(target, ast.Attribute) and target.attr in ("cached", "memoize"):
                kind, names = "flask-caching", self.qnames(target.value)
            if kind:
                queries = _queries_through_locals(node, self.qnames)
                self.facts.cached.append(
                    CachedFunction(
                        qname, names, kind, queries, self.positions.name_location(node),
                        returns_plain=_returns_plain(node),
                    )
                )
                self.cached_nodes[qname] = node
        self._visit_all(node.decorator_list)
        self._visit_all(_parameters(node.args))
        if node.returns is not None:
            self.visit(node.returns)
        self._block(node.body)
        self.loops = loops
        self.function_nodes.pop()
        self.functions.pop()

    def _memos(self, body: list[ast.stmt]) -> None:
        if not self.functions:
            return
        for index, stmt in enumerate(body):
            if not isinstance(stmt, ast.If):
                continue
            following = body[index + 1] if index + 1 < len(body) else None
            after = body[index + 2] if index + 2 < len(body) else None
            shape = _memo_shape(stmt, following, after, self.qnames, self.positions)
            if shape is None:
                continue
            cache, query_node, returns = shape
            query = summarise(query_node, self.qnames)
            if query is None:
                continue
            memo = Memo(self.functions[-1], cache, query, self.location(stmt), None)
            self.facts.memos.append(memo)
            self.memo_nodes[memo.location] = (stmt, query_node, returns)

    def _other_memo(self, container: ast.expr, value: ast.expr, node: ast.AST) -> None:
        """A module-level container filled with query results in a shape the fix does not
        rewrite as a memo (FS003 may still rewrite a loader run at start-up), or a container
        held on a class: reported."""
        if not self.functions:
            return
        if isinstance(container, ast.Attribute):
            self._class_cache(container, value, node)
            return
        if not isinstance(container, ast.Name):
            return
        names = self.qnames(container)
        if not any(q.count(".<locals>.") == 0 and "." in q for q in names):
            return
        query = self._filled_with(value)
        if query is None:
            return
        location = self.location(node)
        if any(memo.cache == names and memo.function == self.functions[-1] for memo in self.facts.memos):
            return  # the plain shape, recorded by _memos, or this container seen already
        self.facts.memos.append(Memo(self.functions[-1], names, query, location, "other"))

    def _class_cache(self, target: ast.Attribute, value: ast.expr, node: ast.AST) -> None:
        """``cls.X = <ORM objects>`` (or ``Class.X``, ``type(self).X``, ``self.__class__.X``,
        and ``cls.X[key] = ...``) inside a function: objects kept on a class, for as long as
        the process lives."""
        owner = self._class_of(target.value)
        if owner is None:
            return
        query = self._filled_with(value)
        if query is None:
            return
        names = frozenset({f"{owner}.{target.attr}"})
        if any(memo.cache == names for memo in self.facts.memos):
            return
        self.facts.memos.append(Memo(self.functions[-1], names, query, self.location(node), "class"))

    def _class_of(self, node: ast.expr) -> str | None:
        """The class ``node`` names inside a method: ``cls`` (the first parameter of a method
        of that class), ``type(self)``, ``self.__class__``, or a class of this module by name."""
        function = self.function_nodes[-1]
        params = function.args.posonlyargs + function.args.args
        here = self.class_names[-1] if self.class_names else ""
        if isinstance(node, ast.Name):
            if here and params and node.id == params[0].arg == "cls":
                return here
            known = {q for q in self.qnames(node) if q in self.facts.classes}
            return min(known) if known else None
        if here and (
            isinstance(node, ast.Attribute) and node.attr == "__class__" and isinstance(node.value, ast.Name)
            or isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Name)
        ):
            return here
        return None

    def _filled_with(self, value: ast.expr) -> QuerySummary | None:
        """The query whose objects ``value`` holds: the query itself, the target of an
        enclosing ``for item in <query>``, or a comprehension over a query keeping the objects
        (``{a.symbol: a for a in <query>}``; not ``{a.symbol: a.name ...}``)."""
        if isinstance(value, ast.Call):
            return summarise(value, self.qnames)
        if isinstance(value, ast.Name):
            for target, iterable in reversed(self.loops):
                if target == value.id:
                    return summarise(iterable, self.qnames)
            return None
        if isinstance(value, (ast.ListComp, ast.SetComp, ast.DictComp)) and len(value.generators) == 1:
            generator = value.generators[0]
            element = value.value if isinstance(value, ast.DictComp) else value.elt
            if isinstance(generator.target, ast.Name) and _holds(element, generator.target.id):
                return summarise(generator.iter, self.qnames)
        return None

    def _call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("setdefault", "append", "add", "update"):
            arguments = _call_arguments(node)
            if arguments:
                last = arguments[-1]
                self._other_memo(func.value, last.value if isinstance(last, (ast.Starred, ast.keyword)) else last, node)

    def _assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                self._other_memo(target.value, node.value, node)
            elif isinstance(target, ast.Attribute) and self.functions:
                self._class_cache(target, node.value, node)
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        target = node.targets[0]
        if not isinstance(node.value, ast.Call):
            return
        if self.functions:
            self.facts.local_sessions[min(self.qnames(target), default="")] = self.qnames(node.value.func)
            return
        if self.classes:
            return
        callee = self.qnames(node.value.func)
        qname = f"{self.module_name}.{target.id}"
        if callee & DECLARATIVE_BASE:
            self.facts.declarative_bases.add(qname)
        if callee & FLASK_SQLALCHEMY:
            self.facts.flask_sqlalchemy.add(qname)
        if callee & FLASK_CACHING:
            self.facts.flask_caches.add(qname)
        query = summarise(node.value, self.qnames)
        if query is not None and query.methods:
            self.facts.globals.append(GlobalQuery(qname, target.id, query, self.location(target)))
            self.global_statements[qname] = node

    def _with_item(self, node: ast.withitem) -> None:
        if self.functions and isinstance(node.optional_vars, ast.Name):
            item = node.context_expr
            if isinstance(item, ast.Call):
                name = min(self.qnames(node.optional_vars), default="")
                self.facts.local_sessions[name] = self.qnames(item.func)

    def _attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("cache_clear", "cache_info"):
            self.facts.cache_clear |= self.qnames(node.value)
        self._read(node)

    def _read(self, node) -> None:
        """Names read at import time: every name or attribute loaded outside functions and
        classes (decorators, defaults and bases included, as LibCST's visitor counted them
        inside)."""
        if self.functions or self.classes:
            return
        if isinstance(node.ctx, ast.Load):
            self.facts.import_time_refs |= self.qnames(node)


TRIES = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)

# Node kind -> what `CacheCollector.visit` does with it: one dictionary look-up per node, not
# a chain of comparisons (the other kinds: their children are entered, in order).
_VISITS = {
    ast.Name: CacheCollector._read,
    ast.Constant: CacheCollector._visit_constant,
    ast.FunctionDef: CacheCollector._function,
    ast.AsyncFunctionDef: CacheCollector._function,
    ast.ClassDef: CacheCollector._class,
    ast.Attribute: CacheCollector._visit_attribute,
    ast.Call: CacheCollector._visit_call,
    ast.Assign: CacheCollector._visit_assign,
    ast.Global: CacheCollector._visit_global,
    ast.withitem: CacheCollector._visit_with_item,
    ast.If: CacheCollector._visit_if,
    ast.For: CacheCollector._visit_for,
    ast.AsyncFor: CacheCollector._visit_for,
    ast.While: CacheCollector._visit_if,  # a test, a body, an `else:`
    ast.With: CacheCollector._visit_with,
    ast.AsyncWith: CacheCollector._visit_with,
    **{kind: CacheCollector._visit_try for kind in TRIES},
    ast.Match: CacheCollector._visit_match,
    ast.Dict: CacheCollector._visit_dict,
    ast.IfExp: CacheCollector._visit_if_exp,
    ast.Lambda: CacheCollector._visit_lambda,
}


def _holds(element: ast.expr, name: str) -> bool:
    """``element`` is the name ``name`` itself, or a tuple or list holding it."""
    if isinstance(element, ast.Name):
        return element.id == name
    if isinstance(element, (ast.Tuple, ast.List)):
        return any(_holds(e, name) for e in element.elts)
    return False


def _call_arguments(node: ast.Call) -> list[ast.AST]:
    """Positional and keyword arguments in source order (as LibCST keeps them)."""
    if not node.keywords:
        return list(node.args)
    return sorted([*node.args, *node.keywords], key=lambda a: (a.lineno, a.col_offset))


def _parameters(args: ast.arguments) -> list[ast.AST]:
    """A signature's annotations and defaults in source order."""
    found: list[ast.AST] = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults):
        found += [n for n in (arg.annotation, default) if n is not None]
    if args.vararg is not None and args.vararg.annotation is not None:
        found.append(args.vararg.annotation)
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        found += [n for n in (arg.annotation, default) if n is not None]
    if args.kwarg is not None and args.kwarg.annotation is not None:
        found.append(args.kwarg.annotation)
    return found


def _calls_in(body: list[ast.stmt]) -> list[ast.Call]:
    """Every call in a function's body, nested functions and classes included, in source
    order (LibCST's ``m.findall(node.body, m.Call())``)."""
    found: list[ast.Call] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            found.append(node)
        stack.extend(reversed(list(children(node))))
    return found


def _queries_through_locals(function, qnames) -> list[QuerySummary]:
    """The queries of a function's calls, a chain that starts at a local variable read as
    the query the variable was built from: in ``q = Post.query.order_by(...)``, ``if c: q =
    q.filter_by(...)``, ``return q.limit(n).all()``, the last chain is
    ``Post.query.order_by(...).limit(n).all()``."""
    assigned: dict[str, list[ast.expr]] = {}
    for stmt in ast.walk(function):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            assigned.setdefault(stmt.targets[0].id, []).append(stmt.value)

    def through(call: ast.expr, seen: frozenset[str]) -> list[QuerySummary]:
        query = summarise(call, qnames)
        root = _chain_root(call)
        if query is None or root is None or root.id not in assigned or root.id in seen:
            return [query] if query is not None else []
        built = [
            QuerySummary(
                seed.roots, seed.root_attr, seed.entities | query.entities,
                seed.methods + query.methods,
            )
            for value in assigned[root.id]
            for seed in through(value, seen | {root.id})
        ]
        return built or [query]

    return [q for call in _calls_in(function.body) for q in through(call, frozenset())]


def _chain_root(node: ast.expr) -> ast.Name | None:
    """The name a method-call chain starts from (``q`` in ``q.limit(n).all()``)."""
    while isinstance(node, (ast.Call, ast.Attribute)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node if isinstance(node, ast.Name) else None


def collect_orm(tree: ast.Module, names: Names, positions: Positions, module_name: str) -> CacheCollector:
    """The module's `OrmFacts` (``.facts``) and the nodes FS003 edits."""
    fill(tree)  # done already where `names` was made of this tree
    collector = CacheCollector(names, positions, module_name)
    collector.run(tree)
    return collector


SCALAR_CALLS = frozenset({"str", "int", "float", "bool", "len"})
CONTAINER_CALLS = frozenset({"tuple", "frozenset", "sorted", "list", "set"})


def _returns_plain(function) -> bool:
    """Whether every `return` of ``function`` (not of functions inside it) hands back plain
    values: constants, f-strings, attributes read off objects (``c.name``), and tuples, lists,
    dicts, sets and comprehensions of those, as ``{c.code: c.name for c in query.all()}``.
    Such a cache keeps no ORM object, whatever it queried."""
    returns = []
    todo = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Return):
            returns.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return bool(returns) and all(r.value is not None and _plain(r.value) for r in returns)


def _plain(node: ast.expr) -> bool:
    if isinstance(node, (ast.Constant, ast.JoinedStr)):
        return True
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name)  # a column read off a loop variable
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_plain(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(_plain(v) for v in node.values) and all(k is None or _plain(k) for k in node.keys)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return _plain(node.elt)
    if isinstance(node, ast.DictComp):
        return _plain(node.key) and _plain(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in SCALAR_CALLS:
            return True  # `len(...)`, `str(...)`: a plain value whatever it is given
        if node.func.id in CONTAINER_CALLS:
            return all(_plain(a) for a in node.args) and not node.keywords
    return False
