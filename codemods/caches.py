"""FS003 removes ORM objects kept across requests: a module-level query result becomes a
function called per use, a dict memo gives way to the query, and ``functools.lru_cache`` /
``cache`` leave functions that query. FS004 reports Flask-Caching and cachetools decorators on
functions returning ORM objects, which cannot be rewritten without choosing what to cache.
"""

from __future__ import annotations

import os
from typing import Iterator

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    ExpressionContext,
    ExpressionContextProvider,
    FullyQualifiedNameProvider,
    ParentNodeProvider,
)

from codemods.edits import ensure_blank_lines, has_comment, space_following
from codemods.rule import FileContext, Finding, Fix, Rule

WHY_STALE = "its objects outlive the request and its session, and never see later commits"


def _where(index, qname: str, location) -> str:
    path = index.modules[qname.rpartition(".")[0]].path
    return f"{os.path.relpath(path)}:{location.line}"


class GlobalOrmCache(Rule):
    code = "FS003"
    name = "global-orm-cache"
    what = (
        "ORM objects kept across requests: a module-level name bound to a query result at "
        "import, a dict memo filled with query results, or `functools.lru_cache`/`cache` on a "
        "function that queries."
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
        "def SUPPORTED_ASSETS():\n"
        "    return db_session.query(Asset).all()\n\n\n"
        "def is_supported(symbol):\n"
        "    return symbol in {a.symbol for a in SUPPORTED_ASSETS()}\n"
    )
    fix_safety = (
        "Safe for the plain forms: each use now queries, inside the request's session, so it "
        "sees the current rows (at the cost of one query per use). The name stays the same, so "
        "imports keep working. Not rewritten, only reported: a name read while modules are "
        "imported or reassigned through `global`, memos of another shape, and `lru_cache`d "
        "functions whose `cache_clear()` someone calls. Cache ids or primitives instead, or "
        "re-attach objects with `session.merge(obj, load=False)`."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        orm = facts.orm
        return bool(index.models) and bool(orm.globals or orm.memos or orm.cached or index.global_caches)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        yield from self._globals(ctx)
        yield from self._uses_elsewhere(ctx)
        yield from self._memos(ctx)
        yield from self._lru_caches(ctx)

    # -- NAME = <query> at import ---------------------------------------------------------------
    def _globals(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
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
            edits = [(statement, lambda node, s=statement: _as_function(s))]
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
        calls = _calls_to(ctx, fixable)
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
            if memo.shape is not None:
                yield self.finding(ctx, memo.location, f"{message} (not fixed: a memo of a shape fixsessions does not rewrite)")
                continue
            if_node, query, returns = ctx.collected.caches.memo_nodes[memo.location]
            if has_comment(if_node.with_changes(body=if_node.body.with_changes(body=[]))) or has_comment(returns):
                yield self.finding(ctx, memo.location, f"{message} (not fixed: a comment on the memo's lines would be lost)")
                continue
            replacement = cst.SimpleStatementLine(
                [cst.Return(query)], leading_lines=if_node.leading_lines
            )
            edits = [
                (if_node, lambda node, r=replacement: r),
                (returns, lambda node: cst.RemovalSentinel.REMOVE),
            ]
            edits += _drop_unused_dict(ctx, memo)
            yield self.finding(ctx, memo.location, message, Fix("safe", edits))

    # -- functools caches ---------------------------------------------------------------------------
    def _lru_caches(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for cached in ctx.facts.orm.cached:
            if cached.kind != "lru" or not any(index.returns_orm_objects(q) for q in cached.queries):
                continue
            short = cached.qname.rpartition(".")[2]
            message = f"`{short}` is cached with `functools` and returns ORM objects: {WHY_STALE}"
            if cached.qname in index.cache_cleared:
                yield self.finding(ctx, cached.location, f"{message} (not fixed: its `cache_clear()`/`cache_info()` is used)")
                continue
            node = ctx.collected.caches.cached_nodes[cached.qname]
            position = next(
                i for i, d in enumerate(node.decorators)
                if ctx.qnames(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                & cached.decorator
            )
            decorator = node.decorators[position]
            if has_comment(decorator):
                yield self.finding(ctx, cached.location, f"{message} (not fixed: a comment on the decorator would be lost)")
                continue
            edits = [(node, lambda n, i=position: _without_decorator(n, i))]
            yield self.finding(
                ctx, cached.location, message, Fix("safe", edits, [], _decorator_import(ctx, decorator))
            )


class MemoizedOrm(Rule):
    code = "FS004"
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
            if cached.kind == "flask-caching":
                if not index.resolve_all(cached.decorator) & index.flask_caches:
                    continue
                by = "Flask-Caching"
            elif cached.kind == "cachetools":
                by = "cachetools"
            else:
                continue
            if not any(index.returns_orm_objects(q) for q in cached.queries):
                continue
            short = cached.qname.rpartition(".")[2]
            yield self.finding(
                ctx,
                cached.location,
                f"`{short}` is cached by {by} and returns ORM objects: later requests get "
                f"detached objects frozen at caching time; cache ids or primitives instead, or "
                f"re-attach with `session.merge(obj, load=False)`",
            )


# -- edits ------------------------------------------------------------------------------------------


def _as_function(statement: cst.SimpleStatementLine) -> cst.FunctionDef:
    assign = statement.body[0]
    name = assign.targets[0].target.value
    function = cst.FunctionDef(
        name=cst.Name(name),
        params=cst.Parameters(),
        body=cst.IndentedBlock(
            [cst.SimpleStatementLine([cst.Return(assign.value)])],
            header=statement.trailing_whitespace,
        ),
        leading_lines=statement.leading_lines,
    )
    return ensure_blank_lines(function, 2)


def _calls_to(ctx: FileContext, targets: set[str]) -> list:
    """Edits turning every read of a name in ``targets`` into a call of it, each with the
    target it reads."""
    contexts = ctx.wrapper.resolve(ExpressionContextProvider)
    parents = ctx.wrapper.resolve(ParentNodeProvider)
    edits = []
    for node, names in ctx.wrapper.resolve(FullyQualifiedNameProvider).items():
        if not isinstance(node, (cst.Name, cst.Attribute)):
            continue
        if contexts.get(node) != ExpressionContext.LOAD:
            continue
        hit = ctx.index.resolve_all(q.name for q in names) & targets
        if not hit:
            continue
        parent = parents.get(node)
        if isinstance(parent, cst.Call) and parent.func is node:
            continue  # already a call (a second round, or a second run)
        edits.append((node, lambda n: cst.Call(func=n), min(hit)))
    return edits


def _drop_unused_dict(ctx: FileContext, memo) -> list:
    """Remove ``CACHE = {}`` when the memo was its only use and nothing imports it."""
    index = ctx.index
    cache = next((q for q in memo.cache if q.rpartition(".")[0] == ctx.facts.name), None)
    if cache is None:
        return []
    name = cache.rpartition(".")[2]
    if any(index.resolve(t) == cache for f in index.modules.values() if f.name != ctx.facts.name for t in f.bindings.values()):
        return []
    definitions = [
        stmt for stmt in ctx.module.body
        if m.matches(stmt, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name(name))], value=m.Dict(elements=[]) | m.Call(func=m.Name("dict"), args=[]))]))
    ]
    if len(definitions) != 1 or has_comment(definitions[0]):
        return []
    if_node, _, returns = ctx.collected.caches.memo_nodes[memo.location]
    inside = {id(n) for n in m.findall(if_node, m.Name(name))} | {id(n) for n in m.findall(returns, m.Name(name))}
    uses = [n for n in m.findall(ctx.module, m.Name(name)) if id(n) not in inside]
    if len(uses) != 1:  # the definition's own target
        return []
    return [(definitions[0], lambda node: cst.RemovalSentinel.REMOVE)]


def _without_decorator(node: cst.FunctionDef, position: int) -> cst.FunctionDef:
    decorators = [d for i, d in enumerate(node.decorators) if i != position]
    return node.with_changes(decorators=decorators)


def _decorator_import(ctx: FileContext, decorator: cst.Decorator) -> list:
    expr = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
    if isinstance(expr, cst.Name):
        target = ctx.facts.bindings.get(expr.value, "")
        module, _, name = target.rpartition(".")
        return [(module, name)] if module else []
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        return [(expr.value.value, None)]
    return []
