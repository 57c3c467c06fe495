"""FS003 removes ORM objects kept across requests: a module-level query result becomes a
function called per use, a dict memo gives way to the query, and ``functools.lru_cache`` /
``cache`` leave functions that query. FS004 reports Flask-Caching and cachetools decorators on
functions returning ORM objects, which cannot be rewritten without choosing what to cache.

Both decide on `ast` (the facts `collect_orm` gathered and the nodes it kept); the fixes edit
the matching LibCST nodes. A comment a fix would drop stops it: which comments go with which
statement follows LibCST, which kept the comment lines above a statement with it (less a
footer of the block before it, and the module's header).
"""

from __future__ import annotations

import ast
import os
import re
import tokenize
from typing import Iterator

from ..analysis.walk import children, walk
from ..lazy import libcst as cst

from ..analysis.names import absolute_module
from ..analysis.orm import FUNCTIONS, full_qnames
from .base import FileContext, Finding, Fix, Rule
from .edits import ensure_blank_lines, space_following

WHY_STALE = "its objects outlive the request and its session, and never see later commits"


def _where(index, qname: str, location) -> str:
    path = index.modules[qname.rpartition(".")[0]].path
    return f"{os.path.relpath(path)}:{location.line}"


class GlobalOrmCache(Rule):
    code = "FS003"
    name = "global-orm-cache"
    what = (
        "ORM objects kept across requests: a module-level name bound to a query result at "
        "import, a dict memo or a dict filled at start-up with query results, a cache held "
        "on a class, or `functools.lru_cache`/`cache` on a function that queries."
    )
    why = (
        "An object loaded once keeps the state it had then. Every request reads the same "
        "object: a row changed or added later never shows up, however the session is managed, "
        "and touching an unloaded attribute of a detached object raises "
        "DetachedInstanceError. `expire_all()` and `remove()` cannot reach it."
    )
    example = (
        "SUPPORTED_ASSETS = db_session.query(Asset).all()\n\n\n"
        "def is_supported(symbol):\n"
        "    return symbol in {a.symbol for a in SUPPORTED_ASSETS}\n"
    )
    use_instead = (
        "def supported_assets():\n"
        "    return db_session.query(Asset).all()\n\n\n"
        "def is_supported(symbol):\n"
        "    return symbol in {a.symbol for a in supported_assets()}\n"
    )
    fix_safety = (
        "Safe for the plain forms: each use now queries, inside the request's session, so it "
        "sees the current rows (at the cost of one query per use). A dict a loader fills at "
        "start-up goes: the loader returns a dict of its own, and each read calls it. A constant's name becomes the "
        "function's in snake case (`supported_assets`, as pep8-naming's N802 asks), with every "
        "import and use in the project renamed; it is kept where an edited module already "
        "uses the new name or the module lists `__all__`. Not rewritten, only reported: a name read while modules are "
        "imported or reassigned through `global`, memos of another shape, caches held on "
        "classes, and `lru_cache`d "
        "functions whose `cache_clear()` someone calls. Cache ids or primitives instead, or "
        "re-attach objects with `session.merge(obj, load=False)`."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        orm = facts.orm
        if not index.models:
            return False
        # `_memos` and `_lru_caches` report only caches that keep ORM objects.
        if any(index.returns_orm_objects(memo.query) for memo in orm.memos):
            return True
        if any(
            cached.kind == "lru" and not cached.returns_plain
            and any(index.returns_orm_objects(q) for q in cached.queries)
            for cached in orm.cached
        ):
            return True
        caches = index.global_caches
        if not caches:
            return False
        if any(g.qname in caches for g in orm.globals):
            return True
        homes = index.global_cache_modules  # a module using one imports its module
        return any(name.rpartition(".")[0] in homes or name in homes for name in facts.imported)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        yield from self._globals(ctx)
        yield from self._uses_elsewhere(ctx)
        yield from self._memos(ctx)
        yield from self._lru_caches(ctx)

    # -- NAME = <query> at import ---------------------------------------------------------------
    def _globals(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        if index.runs_apart(ctx.facts):
            return  # a one-shot command's globals serve no request
        for cached in ctx.facts.orm.globals:
            entry = index.global_caches.get(cached.qname)
            if entry is None:
                continue
            _, problem = entry
            message = f"`{cached.name}` holds ORM objects loaded once, at import: {WHY_STALE}"
            if problem:
                yield self.finding(ctx, cached.location, f"{message} (not fixed: {problem})")
                continue
            statement = ctx.collected.caches.global_statements[cached.qname]
            name = index.cache_function_names.get(cached.qname, cached.name)
            edits = [(statement, lambda node, tree, name=name: _as_function(node, name))]
            edits += space_following(ctx, statement, 2)
            edits += [(node, edit) for node, edit, _ in _calls_to(ctx, {cached.qname})]
            fix = Fix("safe", edits, group=f"FS003:{cached.qname}")
            yield self.finding(ctx, cached.location, message, fix)

    def _uses_elsewhere(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        fixable = {
            q for q, (_, problem) in index.global_caches.items()
            if problem is None and q.rpartition(".")[0] != ctx.facts.name
        }
        if not fixable:
            return
        calls = _calls_to(ctx, fixable) + _imports_renamed(ctx, fixable)
        for target in sorted({t for _, _, t in calls}):
            mine = [(n, edit) for n, edit, t in calls if t == target]
            first = min((ctx.location(n) for n, _ in mine), key=lambda loc: (loc.line, loc.column))
            cached, _ = index.global_caches[target]
            message = (
                f"uses `{cached.name}` ({_where(index, target, cached.location)}), ORM objects "
                f"loaded once at import: each use becomes a call that queries"
            )
            yield self.finding(ctx, first, message, Fix("safe", mine, group=f"FS003:{target}"))

    # -- dict memos -------------------------------------------------------------------------------
    def _memos(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for memo in ctx.facts.orm.memos:
            if not index.returns_orm_objects(memo.query):
                continue
            cache = min(memo.cache, default="the cache").rpartition(".")[2]
            message = f"`{cache}` memoizes ORM objects across requests: {WHY_STALE}"
            if memo.shape == "class":
                owner = min(memo.cache).rpartition(".")[0].rpartition(".")[2]
                yield self.finding(
                    ctx, memo.location,
                    f"`{owner}.{cache}` keeps ORM objects on a class, across requests: {WHY_STALE} "
                    f"(not fixed: a cache held on a class; query where it is read, or keep ids "
                    f"or plain values)",
                )
                continue
            if memo.shape is not None:
                startup = _startup_fill(ctx, memo)
                if startup is None:
                    yield self.finding(ctx, memo.location, f"{message} (not fixed: a memo of a shape fixsessions does not rewrite)")
                    continue
                loader, edits, problem = startup
                message = (
                    f"`{cache}` holds ORM objects loaded once, at start-up, by `{loader}()`: "
                    f"{WHY_STALE}"
                )
                if problem is not None:
                    yield self.finding(ctx, memo.location, f"{message} (not fixed: {problem})")
                else:
                    fix = Fix("safe", edits, group=f"FS003:{min(memo.cache)}")
                    yield self.finding(ctx, memo.location, f"{message}; `{loader}()` now returns them, and each use calls it", fix)
                continue
            if_node, _, returns = ctx.collected.caches.memo_nodes[memo.location]
            if _memo_has_comment(ctx, if_node, returns):
                yield self.finding(ctx, memo.location, f"{message} (not fixed: a comment on the memo's lines would be lost)")
                continue
            edits = [
                (if_node, lambda node, tree: _return_query(node)),
                (returns, lambda node, tree: cst.RemovalSentinel.REMOVE),
            ]
            edits += _drop_unused_dict(ctx, memo)
            yield self.finding(ctx, memo.location, message, Fix("safe", edits))

    # -- functools caches ---------------------------------------------------------------------------
    def _lru_caches(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for cached in ctx.facts.orm.cached:
            if cached.kind != "lru" or cached.returns_plain:
                continue  # `{c.code: c.name for c in ...}`: the cache keeps no ORM object
            if not any(index.returns_orm_objects(q) for q in cached.queries):
                continue
            short = cached.qname.rpartition(".")[2]
            message = f"`{short}` is cached with `functools` and returns ORM objects: {WHY_STALE}"
            if cached.qname in index.cache_cleared:
                yield self.finding(ctx, cached.location, f"{message} (not fixed: its `cache_clear()`/`cache_info()` is used)")
                continue
            node = ctx.collected.caches.cached_nodes[cached.qname]
            position = next(
                i for i, d in enumerate(node.decorator_list)
                if full_qnames(ctx.names, d.func if isinstance(d, ast.Call) else d) & cached.decorator
            )
            if _decorator_has_comment(ctx, node, position):
                yield self.finding(ctx, cached.location, f"{message} (not fixed: a comment on the decorator would be lost)")
                continue
            edits = [(node, lambda n, tree, i=position: _without_decorator(n, i))]
            decorator = node.decorator_list[position]
            yield self.finding(
                ctx, cached.location, message, Fix("safe", edits, [], _decorator_import(ctx, decorator))
            )


class MemoizedOrm(Rule):
    code = "FS004"
    facts_only = True
    name = "memoized-orm"
    what = (
        "Flask-Caching `@cache.cached`/`@cache.memoize`, or cachetools' `cached`/`ttl_cache`, "
        "on a function that returns ORM objects."
    )
    why = (
        "The cache hands the same objects (or pickled copies of them) to later requests: "
        "detached from any session, showing the state they had when cached, and raising "
        "DetachedInstanceError on any attribute that was not loaded then."
    )
    example = (
        "@cache.memoize(timeout=60)\n"
        "def top_wallets():\n"
        "    return Wallet.query.order_by(Wallet.balance.desc()).limit(10).all()\n"
    )
    use_instead = (
        "@cache.memoize(timeout=60)\n"
        "def top_wallet_ids():\n"
        "    return [w.id for w in Wallet.query.order_by(Wallet.balance.desc()).limit(10)]\n\n\n"
        "def top_wallets():\n"
        "    ids = top_wallet_ids()\n"
        "    return Wallet.query.filter(Wallet.id.in_(ids)).all()\n"
    )
    fix_safety = (
        "Report only: what to cache instead (ids, plain dicts, or objects re-attached with "
        "`session.merge(obj, load=False)`) and for how long is a design decision."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return bool(facts.orm.cached and index.models)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for cached in ctx.facts.orm.cached:
            by = index.caches_orm_objects(cached)
            if by is None:
                continue
            short = cached.qname.rpartition(".")[2]
            yield self.finding(
                ctx,
                cached.location,
                f"`{short}` is cached by {by} and returns ORM objects: later requests get "
                f"detached objects frozen at caching time; cache ids or primitives instead, or "
                f"re-attach with `session.merge(obj, load=False)`",
            )


# -- edits (on LibCST nodes) ---------------------------------------------------------------------


# A comment saying the value is loaded once is false of the function that replaces it.
LOADED_ONCE = re.compile(r"\bonce\b|start-?up|at import|import time|\bcach(e|ed|ing)\b", re.I)


def _as_function(statement: cst.SimpleStatementLine, name: str) -> cst.FunctionDef:
    assign = statement.body[0]
    function = cst.FunctionDef(
        name=cst.Name(name),
        params=cst.Parameters(),
        body=cst.IndentedBlock(
            [cst.SimpleStatementLine([cst.Return(assign.value)])],
            header=statement.trailing_whitespace,
        ),
        leading_lines=_without_loaded_once(statement.leading_lines),
    )
    return ensure_blank_lines(function, 2)


def _without_loaded_once(lines) -> list:
    """The leading lines, less the comment block right above the statement when a line of it
    says the value is loaded once (or cached, or at start-up)."""
    lines = list(lines)
    start = len(lines)
    while start and lines[start - 1].comment is not None:
        start -= 1
    block = lines[start:]
    if any(LOADED_ONCE.search(line.comment.value) for line in block):
        return lines[:start]
    return lines


def _return_query(if_node: cst.If) -> cst.SimpleStatementLine:
    """``return <query>`` in place of the memo's ``if`` (its query is the value stored)."""
    query = if_node.body.body[0].body[0].value
    return cst.SimpleStatementLine([cst.Return(query)], leading_lines=if_node.leading_lines)


def _without_decorator(node: cst.FunctionDef, position: int) -> cst.FunctionDef:
    decorators = [d for i, d in enumerate(node.decorators) if i != position]
    return node.with_changes(decorators=decorators)


# -- what the fixes touch (on `ast`) ---------------------------------------------------------------


def _calls_to(ctx: FileContext, targets: set[str]) -> list:
    """Edits turning every read of a name in ``targets`` into a call of it, each with the
    target it reads. Each name or attribute is judged by its own qualified names: in
    ``services.SUPPORTED_ASSETS`` the attribute is the read, not ``services``."""
    edits = []
    for node in walk(ctx.tree):
        if not isinstance(node, (ast.Name, ast.Attribute)) or not isinstance(node.ctx, ast.Load):
            continue
        names = full_qnames(ctx.names, node)
        if not names:
            continue
        hit = ctx.index.resolve_all(names) & targets
        if not hit:
            continue
        parent = ctx.parent(node)
        if isinstance(parent, ast.Call) and parent.func is node:
            continue  # already a call (a second round, or a second run)
        target = min(hit)
        old, new = target.rpartition(".")[2], ctx.index.cache_function_names.get(target)
        edits.append((node, lambda n, tree, old=old, new=new: cst.Call(func=_renamed(n, old, new)), target))
    return edits


def _renamed(node: cst.Name | cst.Attribute, old: str, new: str | None):
    """The read spelled with the function's name (an alias of another name is kept)."""
    if new is None:
        return node
    if isinstance(node, cst.Name) and node.value == old:
        return node.with_changes(value=new)
    if isinstance(node, cst.Attribute) and node.attr.value == old:
        return node.with_changes(attr=node.attr.with_changes(value=new))
    return node


def _imports_renamed(ctx: FileContext, targets: set[str]) -> list:
    """Edits renaming `from M import CACHE` to the function's new name, `as` kept."""
    edits = []
    for node in walk(ctx.tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = absolute_module(node.module, node.level, ctx.facts.package)
        for alias in node.names:
            target = ctx.index.resolve(f"{module}.{alias.name}")
            new = ctx.index.cache_function_names.get(target)
            if target in targets and new is not None:
                edits.append((node, lambda n, tree, old=alias.name, new=new: _import_renamed(n, old, new), target))
    return edits


def _import_renamed(statement: cst.SimpleStatementLine, old: str, new: str) -> cst.SimpleStatementLine:
    body = []
    for small in statement.body:
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            small = small.with_changes(names=[
                a.with_changes(name=cst.Name(new)) if isinstance(a.name, cst.Name) and a.name.value == old else a
                for a in small.names
            ])
        body.append(small)
    return statement.with_changes(body=body)


def _drop_unused_dict(ctx: FileContext, memo) -> list:
    """Remove ``CACHE = {}`` when the memo was its only use and nothing imports it."""
    index = ctx.index
    cache = next((q for q in memo.cache if q.rpartition(".")[0] == ctx.facts.name), None)
    if cache is None:
        return []
    name = cache.rpartition(".")[2]
    if any(index.resolve(t) == cache for f in index.modules.values() if f.name != ctx.facts.name for t in f.bindings.values()):
        return []
    body = ctx.tree.body
    definitions = [
        stmt for position, stmt in enumerate(body)
        if _empty_dict_definition(stmt, name) and _alone_on_its_lines(body, position)
    ]
    if len(definitions) != 1 or _has_comment(ctx, definitions[0]):
        return []
    if_node, _, returns = ctx.collected.caches.memo_nodes[memo.location]
    uses = _mentions(ctx.tree, name) - _mentions(if_node, name) - _mentions(returns, name)
    if uses != 1:  # the definition's own target
        return []
    return [(definitions[0], lambda node, tree: cst.RemovalSentinel.REMOVE)]


# -- a dict filled at start-up by a loader function ---------------------------------------------

MUTATORS = frozenset({"clear", "update", "setdefault", "pop", "popitem", "__setitem__", "__delitem__"})


def _startup_fill(ctx: FileContext, memo):
    """For a module-level dict that a function of the module fills with ORM objects, and that
    only start-up runs (``with app.app_context(): load_navigation()``): (the loader's name,
    the edits, None), or (name, None, why it is not rewritten). None for any other shape.

    The fix makes the loader fill and return a dict of its own, turns every read of the dict
    into a call of the loader, and removes the dict and the start-up calls."""
    module = ctx.facts.name
    cache = next((q for q in memo.cache if q.rpartition(".")[0] == module), None)
    if cache is None or memo.function.rpartition(".")[0] != module:
        return None
    name, loader_name = cache.rpartition(".")[2], memo.function.rpartition(".")[2]
    loader = ctx.collected.function_nodes.get(memo.function)
    if loader is None or not any(stmt is loader for stmt in ctx.tree.body):
        return None
    calls = _startup_calls(ctx, loader_name)
    if not calls or _mentions(ctx.tree, loader_name) != len(calls) + 1:
        return None  # not run at start-up only (a reload, or a loader passed around)

    def problem(why: str):
        return loader_name, None, why

    args = loader.args
    if args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg or loader.decorator_list:
        return problem(f"`{loader_name}()` takes arguments or is decorated")
    if not isinstance(loader.body[0], ast.stmt) or loader.body[0].lineno == loader.lineno:
        return problem(f"`{loader_name}()` is written on one line")
    if any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal)) for n in _own_nodes(loader)):
        return problem(f"`{loader_name}()` returns, yields or declares `global` names")
    index = ctx.index
    for facts in index.modules.values():
        if facts.name != module and {cache, memo.function} & {index.resolve(t) for t in facts.bindings.values()}:
            return problem(f"{os.path.relpath(facts.path)} imports `{name}` or `{loader_name}`")
    for path, text in index.unparsed:
        if name in text:
            return problem(f"{os.path.relpath(path)}, which could not be parsed, mentions `{name}`")
    body = ctx.tree.body
    definitions = [
        stmt for position, stmt in enumerate(body)
        if _empty_dict_definition(stmt, name) and _alone_on_its_lines(body, position)
    ]
    if len(definitions) != 1:
        return problem(f"`{name}` is not made once, as `{name} = {{}}`, at module level")
    definition = definitions[0]
    if _comments_other_than_loaded_once(ctx, definition):
        return problem(f"a comment on `{name} = {{}}` would be lost")
    readers = []
    names = [n for n in walk(ctx.tree) if isinstance(n, ast.Name) and n.id == name]
    if _mentions(ctx.tree, name) != len(names):
        return problem(f"`{name}` is also used as an attribute, keyword or parameter name")
    inside = {id(n) for n in _own_nodes(loader)}
    for node in names:
        if id(node) in inside or node is definition.targets[0]:
            continue
        function = _enclosing_function(ctx, node)
        if function is None:
            return problem(f"`{name}` is read while the module is imported (line {node.lineno})")
        if not isinstance(node.ctx, ast.Load) or _mutated(ctx, node):
            return problem(f"`{name}` is changed outside `{loader_name}()` (line {node.lineno})")
        readers.append(node)
    removals = []
    for call, block in calls:
        if _has_comment(ctx, call):
            return problem(f"a comment on the start-up call on line {call.lineno} would be lost")
        if block is not None and _has_comment(ctx, block):
            return problem(f"a comment in the block on line {block.lineno} would be lost")
        removals.append(block if block is not None else call)
    for stmt in {id(r): r for r in removals}.values():
        where = ctx.block_of(stmt)
        if where is None or len(where[0]) == sum(1 for s in removals if any(s is b for b in where[0])):
            return problem(f"removing the start-up call would leave the block on line {stmt.lineno} empty")
    local = name.lower()
    if local != name and _mentions(loader, local):
        local = name
    edits = [(definition, lambda node, tree: cst.RemovalSentinel.REMOVE)]
    edits += [(loader, lambda node, tree: _returning(node, name, local))]
    edits += [(n, lambda node, tree: cst.Call(func=cst.Name(loader_name))) for n in readers]
    edits += [
        (stmt, lambda node, tree: cst.RemovalSentinel.REMOVE)
        for stmt in {id(r): r for r in removals}.values()
    ]
    return loader_name, edits, None


def _startup_calls(ctx: FileContext, loader: str) -> list:
    """``loader()`` run as a statement at module level, in the body of a module-level app
    factory (a function making a `Flask` app), or in a ``with X.app_context():`` there:
    (statement, the `with` when every statement of its body is such a call, else None)."""
    found = []
    factories = {app.function.rpartition(".")[2] for app in ctx.facts.apps if app.function}

    def is_call(stmt) -> bool:
        return (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == loader
            and not stmt.value.args and not stmt.value.keywords
        )

    def scan(body: list[ast.stmt], nested: bool) -> None:
        for stmt in body:
            if is_call(stmt):
                found.append((stmt, None))
            elif isinstance(stmt, ast.With) and _app_context_with(stmt):
                calls = [s for s in stmt.body if is_call(s)]
                whole = len(calls) == len(stmt.body)
                found.extend((call, stmt if whole else None) for call in calls)
            elif isinstance(stmt, FUNCTIONS) and not nested and stmt.name in factories:
                scan(stmt.body, True)

    scan(ctx.tree.body, False)
    return found


def _app_context_with(stmt: ast.With) -> bool:
    return all(
        item.optional_vars is None and isinstance(item.context_expr, ast.Call)
        and isinstance(item.context_expr.func, ast.Attribute)
        and item.context_expr.func.attr == "app_context"
        for item in stmt.items
    )


def _own_nodes(function: ast.AST):
    """The nodes of ``function``'s body, not those of functions and classes inside it."""
    todo = list(function.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (*FUNCTIONS, ast.ClassDef, ast.Lambda)):
            todo.extend(children(node))


def _enclosing_function(ctx: FileContext, node: ast.AST):
    parent = ctx.parent(node)
    while parent is not None and not isinstance(parent, (*FUNCTIONS, ast.Lambda)):
        parent = ctx.parent(parent)
    return parent


def _mutated(ctx: FileContext, node: ast.Name) -> bool:
    """``node`` (a read of the dict) is changed where it is read: ``D[k] = v``, ``del D[k]``,
    ``D[k] += v``, ``D.update(...)``."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Subscript):
        return not isinstance(parent.ctx, ast.Load) or isinstance(ctx.parent(parent), ast.AugAssign)
    return isinstance(parent, ast.Attribute) and parent.attr in MUTATORS


def _comments_other_than_loaded_once(ctx: FileContext, stmt: ast.stmt) -> bool:
    """A comment on ``stmt``'s lines (or those LibCST keeps with it) that does not say the
    value is loaded once: removing the statement removes them."""
    first = _leading_start(ctx, stmt)
    for line in range(first, stmt.end_lineno + 1):
        if ctx.positions.has_comment(line, line):
            text = ctx.positions.lines[line - 1]
            if not LOADED_ONCE.search(text[text.index("#"):] if "#" in text else text):
                return True
    return False


def _returning(function: cst.FunctionDef, old: str, new: str) -> cst.FunctionDef:
    """The loader filling a dict of its own (``new = {}`` first, a leading ``new.clear()``
    dropped) and returning it."""
    statements = [s.visit(_renamer(old, new)) for s in function.body.body]
    start = 1 if function.get_docstring() is not None else 0
    if start < len(statements) and _is_clear(statements[start], new):
        del statements[start]
    made = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(new))], cst.Dict([]))])
    statements.insert(start, made)
    statements.append(cst.SimpleStatementLine([cst.Return(cst.Name(new))]))
    return function.with_changes(body=function.body.with_changes(body=statements))


def _renamer(old: str, new: str):
    """A transformer renaming the name ``old`` to ``new``; made when a fix needs it, so that a
    run without fixes does not import LibCST."""

    class Renamer(cst.CSTTransformer):
        def leave_Name(self, original, updated):
            return updated.with_changes(value=new) if updated.value == old else updated

    return Renamer()


def _is_clear(statement, name: str) -> bool:
    """``name.clear()`` alone on its line, with no comment."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    if any(line.comment for line in statement.leading_lines) or statement.trailing_whitespace.comment:
        return False
    expr = statement.body[0]
    return (
        isinstance(expr, cst.Expr) and isinstance(expr.value, cst.Call) and not expr.value.args
        and isinstance(expr.value.func, cst.Attribute) and expr.value.func.attr.value == "clear"
        and isinstance(expr.value.func.value, cst.Name) and expr.value.func.value.value == name
    )


def _empty_dict_definition(stmt: ast.stmt, name: str) -> bool:
    """``name = {}`` or ``name = dict()``."""
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == name
    ):
        return False
    value = stmt.value
    if isinstance(value, ast.Dict):
        return not value.keys
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "dict"
        and not value.args
        and not value.keywords
    )


def _alone_on_its_lines(body: list[ast.stmt], position: int) -> bool:
    """No other statement shares the statement's lines (``a = {}; b = 1``)."""
    stmt = body[position]
    if position and body[position - 1].end_lineno == stmt.lineno:
        return False
    return not (position + 1 < len(body) and body[position + 1].lineno == stmt.end_lineno)


def _mentions(root: ast.AST, name: str) -> int:
    """How many times ``name`` stands as a name in ``root``: every identifier LibCST held in
    a `Name` node (attributes, keywords, parameters, definitions, imports, `global`...)."""
    count = 0
    for node in walk(root):
        if isinstance(node, ast.Name):
            count += node.id == name
        elif isinstance(node, ast.Attribute):
            count += node.attr == name
        elif isinstance(node, ast.keyword):
            count += node.arg == name
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            count += node.name == name
        elif isinstance(node, ast.arg):
            count += node.arg == name
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            count += node.names.count(name)
        elif isinstance(node, ast.ExceptHandler):
            count += node.name == name
        elif isinstance(node, ast.alias):
            count += node.name.split(".").count(name) + (node.asname == name)
        elif isinstance(node, ast.ImportFrom):
            count += (node.module or "").split(".").count(name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)):
            count += node.name == name
        elif isinstance(node, ast.MatchMapping):
            count += node.rest == name
        elif isinstance(node, ast.MatchClass):
            count += node.kwd_attrs.count(name)
    return count


def _decorator_import(ctx: FileContext, decorator: ast.expr) -> list:
    expr = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(expr, ast.Name):
        target = ctx.facts.bindings.get(expr.id, "")
        module, _, name = target.rpartition(".")
        return [(module, name)] if module else []
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        return [(expr.value.id, None)]
    return []


# -- comments a fix would lose ------------------------------------------------------------------


def _memo_has_comment(ctx: FileContext, if_node: ast.If, returns: ast.Return) -> bool:
    """A comment on the memo's ``if`` (its leading lines, header and the block's footer) or on
    the ``return``: the store in the ``if``'s body, which the fix keeps, does not count."""
    positions = ctx.positions
    header = _logical_end(positions, if_node.lineno)
    return positions.has_comment(_leading_start(ctx, if_node), header) or positions.has_comment(
        if_node.body[-1].end_lineno + 1, returns.end_lineno
    )


def _decorator_has_comment(ctx: FileContext, function: ast.AST, position: int) -> bool:
    """A comment on the decorator's lines, or on the lines between it and the decorator
    before it (LibCST gave the comments above the first decorator to the function)."""
    decorators = function.decorator_list
    decorator = decorators[position]
    first = decorator.lineno
    if position:
        first = _logical_end(ctx.positions, decorators[position - 1].lineno) + 1
    return ctx.positions.has_comment(first, _logical_end(ctx.positions, decorator.lineno))


def _has_comment(ctx: FileContext, stmt: ast.stmt) -> bool:
    """A comment on a simple statement's lines or among the comment lines LibCST kept with
    it."""
    return ctx.positions.has_comment(_leading_start(ctx, stmt), stmt.end_lineno)


def _logical_end(positions, line: int) -> int:
    """The last line of the logical line that starts on ``line`` (a decorator, the header of a
    compound statement): where its NEWLINE token is."""
    rest = iter(positions.lines[line - 1:])
    try:
        for token in tokenize.generate_tokens(lambda: next(rest, "")):
            if token.type == tokenize.NEWLINE:
                return line + token.start[0] - 1
    except (tokenize.TokenError, SyntaxError):
        pass
    return line


def _blank_or_comment(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


def _leading_start(ctx: FileContext, stmt: ast.stmt) -> int:
    """The first line LibCST kept with ``stmt`` (its ``leading_lines``): the blank and comment
    lines right above it, less those a block just before it keeps as its footer (up to the
    last comment indented as deep as that block) and, for a module's first statement, all of
    them (the module's header)."""
    lines = ctx.positions.lines
    start = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
    top = start
    while top > 1 and _blank_or_comment(lines[top - 2]):
        top -= 1
    block = ctx.block_of(stmt)
    if block is None:
        return top
    body, position = block
    if not position:
        return start if body is ctx.tree.body else top
    threshold = _footer_indent(ctx, body[position - 1])
    if threshold is None:
        return top
    for line in range(start - 1, top - 1, -1):
        text = lines[line - 1]
        if text.strip().startswith("#") and len(text) - len(text.lstrip()) >= threshold:
            return line + 1
    return top


def _footer_indent(ctx: FileContext, stmt: ast.stmt) -> int | None:
    """The indentation of the last block of a compound statement (None for a simple one, or
    a block on its header's line)."""
    block = _last_block(ctx, stmt)
    if not block:
        return None
    first = block[0]
    line = ctx.positions.lines[first.lineno - 1]
    column = ctx.positions.column(first.lineno, first.col_offset)
    return column if not line[:column].strip() else None


def _last_block(ctx: FileContext, stmt: ast.stmt) -> list[ast.stmt] | None:
    if isinstance(stmt, ast.If):
        orelse = stmt.orelse
        if len(orelse) == 1 and isinstance(orelse[0], ast.If):
            line = ctx.positions.lines[orelse[0].lineno - 1]
            if line[ctx.positions.column(orelse[0].lineno, orelse[0].col_offset):].startswith("elif"):
                return _last_block(ctx, orelse[0])
        return orelse or stmt.body
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return stmt.orelse or stmt.body
    if isinstance(stmt, TRIES):
        return stmt.finalbody or stmt.orelse or (stmt.handlers[-1].body if stmt.handlers else stmt.body)
    if isinstance(stmt, ast.Match):
        return stmt.cases[-1].body if stmt.cases else None
    if isinstance(stmt, (ast.With, ast.AsyncWith, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return stmt.body
    return None


TRIES = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
