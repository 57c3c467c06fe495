"""The report rules, FS006-FS012: causes of stale or lost data that a person has to resolve.
They read the report facts of `ast` (`analysis.reports`) and the project index. FS010 alone
has a fix, unsafe: moving a late cleanup into ``teardown_appcontext``.
"""

from __future__ import annotations

import ast
import os
from typing import Iterator

from ..lazy import libcst as cst

from ..analysis.location import Positions
from ..analysis.sessions import SESSION_CLASS
from .base import FileContext, Finding, Fix, Rule

WRITES = frozenset({"add", "add_all", "delete", "merge", "bulk_save_objects"})
BAND_AIDS = frozenset({"expire_all", "expunge_all", "refresh", "remove"})
LEGACY_SCOPEFUNC = ("__ident_func__",)
THREAD_SCOPEFUNC = frozenset({"greenlet.getcurrent", "threading.get_ident", "_thread.get_ident"})


def _makes_session(index, callee) -> bool:
    """A call that hands back a concrete Session (not a registry)."""
    names = index.resolve_all(callee)
    return bool(
        names & (index.factories.keys() | SESSION_CLASS | index.registries.keys())
        or {f"{q}.session" for q in index.flask_sqlalchemy} & names
        or any(n.endswith("sessionmaker()") for n in names)
    )


class SharedSession(Rule):
    code = "FS006"
    facts_only = True
    name = "shared-session"
    what = (
        "One concrete Session shared across requests: `session = Session()` or "
        "`db_session()` at module level, or `self.session = Session()` on an object created at "
        "import."
    )
    why = (
        "A Session is not thread-safe and holds one transaction and one identity map. Shared "
        "by every request and thread it serves objects loaded by other requests, keeps one "
        "transaction (and its snapshot) open for ever, and one request's failed flush leaves "
        "it unusable for all the others until a rollback."
    )
    example = "session = SessionLocal()\n\n\ndef list_wallets():\n    return session.query(Wallet).all()\n"
    use_instead = (
        "db_session = scoped_session(SessionLocal)  # plus the FS001 teardown\n\n\n"
        "def list_wallets():\n    return db_session.query(Wallet).all()\n"
    )
    fix_safety = "Report only: the session's users have to move to a registry or a per-call session."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        reports = facts.reports
        return any(
            _makes_session(index, c) for _, c, _ in reports.module_sessions + reports.self_sessions
        ) or any(_makes_session(index, c) for _, c, _, _ in reports.global_sessions)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        apart = index.runs_apart(ctx.facts)  # no request ever shares its module's session
        # Say what is true of this code: a web app imports it, or only workers and scripts do.
        web = ctx.facts.name in index.web_modules
        users = "every request and thread" if web else "every thread and job of the process"
        for qname, callee, location in ctx.facts.reports.module_sessions:
            if not apart and _makes_session(index, callee):
                name = qname.rpartition(".")[2]
                yield self.finding(
                    ctx, location,
                    f"`{name}` is one Session created at import and shared by {users}: it keeps "
                    f"one transaction and identity map for the process",
                )
        for qname, callee, location, function in ctx.facts.reports.global_sessions:
            if not apart and _makes_session(index, callee):
                name = qname.rpartition(".")[2]
                yield self.finding(
                    ctx, location,
                    f"`{name}` is one Session made in `{function.rpartition('.')[2]}()` and bound "
                    f"to the module through `global`: {users} share it, with one transaction "
                    f"and identity map for the process",
                )
        imported = index.resolve_all(index.instantiated_at_import)
        for cls, callee, location in ctx.facts.reports.self_sessions:
            if cls in imported and _makes_session(index, callee):
                yield self.finding(
                    ctx, location,
                    f"`{cls.rpartition('.')[2]}` is created at import and keeps a Session on "
                    f"`self`: {users} share it",
                )


class UncommittedWrite(Rule):
    code = "FS007"
    facts_only = True
    name = "uncommitted-write"
    what = "A request handler that adds, deletes or merges objects and never commits or rolls back."
    why = (
        "The change sits in the session's transaction. The response says it worked; the "
        "teardown's `remove()` rolls it back, or, without a teardown, the next request on that "
        "thread commits it along with its own work, or it is never saved at all."
    )
    example = (
        "@bp.post('/contacts')\n"
        "def add_contact():\n"
        "    db_session.add(Contact(name=request.json['name']))\n"
        "    return '', 201\n"
    )
    use_instead = (
        "@bp.post('/contacts')\n"
        "def add_contact():\n"
        "    db_session.add(Contact(name=request.json['name']))\n"
        "    db_session.commit()\n"
        "    return '', 201\n"
    )
    fix_safety = "Report only: where the transaction should end is the author's decision."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return bool(facts.reports.views) and any(c.method in WRITES for c in facts.reports.session_calls)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        if index.teardown_commits:
            return  # the app commits at teardown: handlers are not expected to
        for function, owners in ctx.facts.reports.views.items():
            if not index.is_view(owners) or index.commits(function) or index.commits_around(function):
                continue  # it commits, or a helper it calls or a decorator of it does
            writes = [
                call for call in ctx.facts.reports.session_calls
                if call.function == function and call.method in WRITES and index.is_session(call.owner)
            ]
            if writes:
                short = function.rpartition(".")[2]
                yield self.finding(
                    ctx, writes[0].location,
                    f"`{short}` writes with `{writes[0].method}()` but never commits or rolls "
                    f"back: the change is lost at teardown or committed by a later request",
                )


class LongTransaction(Rule):
    code = "FS008"
    facts_only = True
    name = "long-transaction"
    what = (
        "Slow work inside an open session scope: HTTP calls, `time.sleep`, subprocesses, "
        "other network calls inside `with get_db_session()` / `with Session(...)` blocks."
    )
    why = (
        "The transaction stays open while the call waits: its locks block writers, its "
        "connection is out of the pool, and on a snapshot database everything it reads "
        "afterwards is as old as its first query."
    )
    example = (
        "with get_db_session() as session:\n"
        "    wallet = session.get(Wallet, wallet_id)\n"
        "    wallet.balance = requests.get(RATES_URL).json()['balance']\n"
    )
    use_instead = (
        "balance = requests.get(RATES_URL).json()['balance']\n"
        "with get_db_session() as session:\n"
        "    session.get(Wallet, wallet_id).balance = balance\n"
    )
    fix_safety = "Report only: moving the call changes when the data it uses was read."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return any(scope.slow for scope in facts.reports.scopes)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for scope in ctx.facts.reports.scopes:
            if not index.is_session_scope(scope.callee):
                continue
            for name, location in scope.slow:
                yield self.finding(
                    ctx, location,
                    f"`{name}` runs inside an open session scope: the transaction, its locks "
                    f"and its connection stay held while it waits",
                )


class BandAidRefresh(Rule):
    code = "FS009"
    facts_only = True
    name = "band-aid-refresh"
    what = "`expire_all()`, `expunge_all()`, `refresh()` or `remove()` on the request's session inside a view."
    why = (
        "They mask the cause. `expire_all()` re-reads inside the same transaction, so on a "
        "snapshot database it reads the same old rows; `remove()` mid-request detaches every "
        "object the request already holds (current_user and co.) and the next attribute access "
        "raises DetachedInstanceError."
    )
    example = (
        "@bp.get('/transactions/<int:tx_id>')\n"
        "def show(tx_id):\n"
        "    db_session.expire_all()\n"
        "    return jsonify(db_session.get(Transaction, tx_id).to_dict())\n"
    )
    use_instead = (
        "# The FS001 teardown (db_session.remove() at the end of every request)\n"
        "@bp.get('/transactions/<int:tx_id>')\n"
        "def show(tx_id):\n"
        "    return jsonify(db_session.get(Transaction, tx_id).to_dict())\n"
    )
    fix_safety = "Report only: remove the call once the real cause (FS001, FS003) is fixed."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return bool(facts.reports.views) and any(c.method in BAND_AIDS for c in facts.reports.session_calls)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for call in ctx.facts.reports.session_calls:
            if call.method not in BAND_AIDS or call.function is None:
                continue
            owners = ctx.facts.reports.views.get(call.function)
            if owners is None or not index.is_view(owners):
                continue
            if not index.resolve_all(call.owner) & index.session_roots:
                continue
            yield self.finding(
                ctx, call.location,
                f"`{call.method}()` in a view masks stale data instead of fixing it: end the "
                f"session in a teardown (FS001) and drop cached objects (FS003)",
            )


class LateCleanup(Rule):
    code = "FS010"
    name = "late-cleanup"
    what = (
        "`REGISTRY.remove()` only in an `after_request` handler (skipped when a view raises) "
        "or only in `teardown_request` (never run for CLI commands and bare app contexts)."
    )
    why = (
        "Whenever the handler is skipped the thread keeps its session and open transaction "
        "into the next request: after every error, and in every CLI command or background job "
        "that pushes an app context."
    )
    example = (
        "@app.after_request\n"
        "def cleanup(response):\n"
        "    db_session.remove()\n"
        "    return response\n"
    )
    use_instead = (
        "@app.teardown_appcontext\n"
        "def cleanup(exception=None):\n"
        "    db_session.remove()\n"
    )
    fix_safety = (
        "Unsafe: the handler then also runs after errors and outside requests, and an "
        "`after_request` handler's other work on the response would be lost, so only a handler "
        "that does nothing but `remove()` (and return the response) is rewritten."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        # `check` reports this module's handlers only; the `remove()` may be in a helper
        # another module defines.
        if not index.registries:
            return False
        functions = facts.functions
        return any(h in functions for reg in index.late_cleanups() for h in index.resolve_all(reg.handler))

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        for reg in index.late_cleanups():
            for handler in index.resolve_all(reg.handler):
                node = ctx.collected.function_nodes.get(handler)
                if node is None or ctx.facts.functions.get(handler) is None:
                    continue
                fix = _move_to_appcontext(node, reg.kind, ctx.positions)
                yield self.finding(ctx, ctx.positions.name_location(node), _late(index, reg.kind), fix)


def _late(index, kind: str) -> str:
    """What skipping the handler means in this project."""
    advice = "register it with `teardown_appcontext`"
    if kind == "after_request":
        return (
            "`remove()` runs only in after_request, which Flask skips when a view raises: after "
            f"each error the thread keeps its session and open transaction; {advice}"
        )
    found = index.requestless_contexts
    if not found:
        return (
            "`remove()` runs only in teardown_request, which app contexts without a request "
            "never run (CLI commands, `flask shell`, jobs); fixsessions found none pushed in "
            f"this project, so this matters once one is added; {advice}"
        )
    commands = sum(what == "command" for what, _, _ in found)
    counts = " and ".join(
        f"{n} {one if n == 1 else many}" for n, one, many in (
            (commands, "CLI command", "CLI commands"),
            (len(found) - commands, "app context pushed outside a request", "app contexts pushed outside requests"),
        ) if n
    )
    examples = ", ".join(f"{os.path.relpath(path)}:{where.line}" for _, path, where in found[:3])
    more = ", ..." if len(found) > 3 else ""
    keep = "keeps" if len(found) == 1 else "keep"
    return (
        f"`remove()` runs only in teardown_request, which app contexts without a request never "
        f"run: here {counts} ({examples}{more}) {keep} the thread's session and transaction; "
        f"{advice}"
    )


def _move_to_appcontext(node: ast.FunctionDef, kind: str, positions: Positions) -> Fix | None:
    position = next(
        (i for i, d in enumerate(node.decorator_list) if isinstance(d, ast.Attribute) and d.attr == kind),
        None,
    )
    if position is None:
        return None  # registered by a call elsewhere: say so, do not guess
    body = node.body
    if kind == "after_request":
        params = node.args.args
        if not (
            len(params) == 1 and _own_lines(body, positions)
            and _returns(body[-1], params[0].arg)
            and all(_removes(stmt) for stmt in body[:-1])
        ):
            return None

    def edit(function: cst.FunctionDef, tree) -> cst.FunctionDef:
        decorators = list(function.decorators)
        old = decorators[position]
        decorators[position] = old.with_changes(
            decorator=old.decorator.with_changes(attr=cst.Name("teardown_appcontext"))
        )
        changes = {"decorators": decorators}
        if kind == "after_request":
            changes["params"] = cst.Parameters(
                [cst.Param(cst.Name("exception"), default=cst.Name("None"), equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))]
            )
            changes["body"] = function.body.with_changes(body=list(function.body.body)[:-1])
        return function.with_changes(**changes)

    return Fix("unsafe", [(node, edit)])


def _own_lines(body: list[ast.stmt], positions: Positions) -> bool:
    """Whether each statement of a function body has a line of its own: not
    ``def f(r): return r`` nor ``a(); return r`` (LibCST would not see one statement a line)."""
    first = body[0]
    line = positions.lines[first.lineno - 1] if first.lineno <= len(positions.lines) else ""
    if line[: positions.column(first.lineno, first.col_offset)].strip():
        return False
    return all(before.end_lineno < after.lineno for before, after in zip(body, body[1:]))


def _returns(stmt: ast.stmt, name: str) -> bool:
    return isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Name) and stmt.value.id == name


def _removes(stmt: ast.stmt) -> bool:
    """``X.remove()`` as a statement of its own."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    return (
        isinstance(call, ast.Call) and not call.args and not call.keywords
        and isinstance(call.func, ast.Attribute) and call.func.attr == "remove"
    )


class PushedAppContext(Rule):
    code = "FS011"
    facts_only = True
    name = "pushed-app-context"
    what = "`app.app_context().push()` at module level."
    why = (
        "The context is never popped, so its teardown, and the `remove()` in it, never runs "
        "for the code that uses it, and every later context nests inside it: the session and "
        "transaction it holds live as long as the process."
    )
    example = "app = create_app()\napp.app_context().push()\n"
    use_instead = "app = create_app()\n\nwith app.app_context():\n    run()\n"
    fix_safety = "Report only: what should run inside the context is the author's decision."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return bool(facts.reports.pushes)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if ctx.index.runs_apart(ctx.facts):
            return  # a one-shot command: the context ends with its process
        for location in ctx.facts.reports.pushes:
            yield self.finding(
                ctx, location,
                "an app context pushed at import is never popped: its teardown (and `remove()`) "
                "never runs, and its session lives as long as the process",
            )


class LegacyScopefunc(Rule):
    code = "FS012"
    facts_only = True
    name = "legacy-scopefunc"
    what = (
        "`scoped_session(..., scopefunc=_app_ctx_stack.__ident_func__)` (removed in Flask 3), "
        "or a thread or greenlet scopefunc under gevent without monkey-patching."
    )
    why = (
        "Flask 2.3 removed `__ident_func__`; older code keeps working only on old Flask. Under "
        "gevent without `monkey.patch_all()`, thread-local scopes are shared by every greenlet "
        "of a thread: concurrent requests share one session, and one request's teardown "
        "detaches the others' objects."
    )
    example = "db_session = scoped_session(SessionLocal, scopefunc=_app_ctx_stack.__ident_func__)\n"
    use_instead = "db_session = scoped_session(SessionLocal)  # plus the FS001 teardown\n"
    fix_safety = "Report only: the right scope depends on the server and its workers."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return bool(facts.reports.scopefuncs or facts.registries)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index = ctx.index
        if index.unpatched_gevent and index.gevent_serves:
            scoped = {location.line for _, _, location in ctx.facts.reports.scopefuncs}
            for registry in ctx.facts.registries:
                if registry.location.line not in scoped:  # the default, thread-local scope
                    yield self.finding(
                        ctx, registry.location,
                        f"`{registry.name}` is scoped per thread, and gevent serves requests "
                        f"without `monkey.patch_all()`: concurrent requests on one thread's "
                        f"greenlets share one session",
                    )
        for _, names, location in ctx.facts.reports.scopefuncs:
            if any(marker in name for name in names for marker in LEGACY_SCOPEFUNC):
                yield self.finding(
                    ctx, location,
                    "`__ident_func__` scopefunc was removed in Flask 2.3: use the default "
                    "thread-local scope and a `teardown_appcontext` that calls `remove()`",
                )
            elif index.resolve_all(names) & THREAD_SCOPEFUNC and index.unpatched_gevent:
                yield self.finding(
                    ctx, location,
                    "a thread or greenlet scopefunc under gevent without monkey-patching: "
                    "greenlets share one session",
                )


class EnginePerRequest(Rule):
    code = "FS014"
    facts_only = True
    name = "engine-per-request"
    what = (
        "`create_engine()` called in a view or a `before_request` hook, so that every request "
        "builds a new engine (and, with it, a new registry or sessionmaker)."
    )
    why = (
        "An engine owns a connection pool. One made per request opens new connections that no "
        "later request reuses and that stay open until the engine is garbage-collected, so the "
        "database runs out of connections under load; a registry or sessionmaker made on it is a "
        "new one each time, and whatever the app stores it on is replaced mid-request for every "
        "other thread."
    )
    example = (
        "@app.before_request\n"
        "def open_db():\n"
        "    app.session = scoped_session(sessionmaker(bind=create_engine(DATABASE_URL)))\n"
    )
    use_instead = (
        "engine = create_engine(DATABASE_URL)\n"
        "db_session = scoped_session(sessionmaker(bind=engine))  # plus the FS001 teardown\n"
    )
    fix_safety = "Report only: where the engine is made once (start-up, the app factory) is the author's decision."

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        return bool(facts.reports.engines)

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        index, reports = ctx.index, ctx.facts.reports
        for function, location in reports.engines:
            if function in reports.views and index.is_view(reports.views[function]):
                kind = "a view"
            elif function in reports.before_request and index.is_view(reports.before_request[function]):
                kind = "a before_request hook"
            else:
                continue
            yield self.finding(ctx, location, (
                f"`create_engine()` in `{function.rpartition('.')[2]}()`, {kind}: every request "
                f"builds a new engine and connection pool, whose connections no later request "
                f"reuses; make the engine once, at start-up"
            ))

