"""FS005 rewrites sessions made by hand inside functions (``s = SessionLocal(); ...;
s.commit(); s.close()``, closed only on the happy path, or never closed) into
``with get_db_session() as s:``, generating that helper once next to the sessionmaker (or
reusing one, or the sessionmaker itself when its ``class_=`` commits on exit). A session
closed in the ``finally`` of the ``try`` that uses it is closed on every path: left alone.
The analysis (codemods.analysis.sessions) reads `ast`; the edits build the `with` block from
the LibCST nodes of the same lines, so comments and formatting inside it survive.
"""

from __future__ import annotations

import ast
import os
from typing import Iterator

from ..analysis.location import Location
from ..analysis.sessions import INLINE_SESSIONMAKER, SESSION_CLASS, Plan, statement_lines
from ..lazy import libcst as cst
from .base import FileContext, Finding, Fix, ImportItem, Rule
from .edits import insert_after, on_own_line, space_following
from .imports import reference

HELPER = '''\
@contextmanager
def {name}():
    """A session that commits on success, rolls back on any error and always closes."""
    session = {factory}()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
'''

PROBLEM = {
    "closed": "is closed by hand: an exception before `close()` leaves its transaction "
    "open, holding locks and a pooled connection",
    "unclosed": "is never closed: on a path that does not commit (an error, an early return) "
    "its transaction stays open until the object is garbage-collected, holding its connection "
    "and any locks",
    "try": "is rolled back on error but closed only on the happy path: the error path "
    "re-raises before `close()`",
    "finally_commit": "commits in `finally`: after an error the work done so far is "
    "committed, and `close()` is skipped when that commit raises",
}


class HandMadeSession(Rule):
    code = "FS005"
    name = "ad-hoc-session"
    what = (
        "A session made by hand inside a function from a `sessionmaker` (`SessionLocal()`, "
        "`sessionmaker(bind=e)()`) or `Session(engine)`, then committed and closed by hand, "
        "closed only on the happy path, or never closed."
    )
    why = (
        "When anything raises between the first query and `close()`, the session and its "
        "transaction stay open for as long as something refers to them (a traceback kept by an "
        "error reporter is enough): the connection stays checked out, its row or table locks "
        "stay held (SQLite answers other writers 'database is locked'), and on a snapshot "
        "database its reads stay in the past."
    )
    example = (
        "def update_label(tx_id, label):\n"
        "    session = SessionLocal()\n"
        "    tx = session.get(Transaction, tx_id)\n"
        "    tx.label = label\n"
        "    session.commit()\n"
        "    session.close()\n"
    )
    use_instead = (
        "def update_label(tx_id, label):\n"
        "    with get_db_session() as session:\n"
        "        tx = session.get(Transaction, tx_id)\n"
        "        tx.label = label\n"
    )
    fix_safety = (
        "Safe when nothing can tell the difference: the function commits once, at the end, "
        "and no ORM object leaves the block (not returned, yielded, stored outside, or used "
        "after it). Unsafe, and only applied with `--unsafe-fixes`, when an object escapes (it "
        "comes back expired and detached: DetachedInstanceError on the next attribute), when "
        "a return or loop exit inside the block would now commit, when it commits earlier as "
        "well, or when the function never committed. Never applied to a `scoped_session` "
        "registry call, which is the request's shared session. `get_db_session()` is generated "
        "once, next to the sessionmaker, unless a helper of that shape already exists or the "
        "sessionmaker's `class_=` commits on exit (then `with Session() as session:`). A session "
        "closed in the `finally` of the `try` that uses it is closed on every path: no finding. "
        "A `Session(engine)` made inline has no helper to use: its lines go into `try: ... "
        "finally: session.close()`, commits kept (safe unless an object leaves the block)."
    )

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        # What `check` finds, on the facts: a helper to generate here (with or without
        # unsafe fixes), or a hand-made session of a known source (one per plan) outside a
        # script. Alembic revisions and one-shot commands are not read again for it.
        if any(
            next(cls._to_generate(facts, index, unsafe), None) is not None for unsafe in (False, True)
        ):
            return True
        if index.runs_apart(facts) == "script":
            return False
        return any(index.session_source(h) is not None for h in facts.sessions.handmade)

    @staticmethod
    def _to_generate(facts, index, unsafe_fixes: bool) -> Iterator[tuple[str, str, object]]:
        """(sessionmaker, helper name, where) for each of this module's sessionmakers that
        gets a `get_db_session()` helper."""
        to_generate = index.helpers_to_generate(unsafe_fixes) if facts.sessions.factories else {}
        for factory, location in facts.sessions.factories:
            name = to_generate.get(factory)
            if name is not None and factory not in index.existing_helpers:
                yield factory, name, location

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        yield from self._helpers(ctx)
        if ctx.index.runs_apart(ctx.facts) == "script":
            return  # a one-shot command: its sessions end with its process
        for plan in ctx.collected.session_plans:
            finding = self._occurrence(ctx, plan)
            if finding is not None:
                yield finding

    def _occurrence(self, ctx: FileContext, plan: Plan) -> Finding | None:
        index, summary = ctx.index, plan.summary
        source = index.session_source(summary)
        if source is None:
            return None
        held = source in index.class_factories
        helper = index.made_by_helper(source)
        inline = source in SESSION_CLASS or source == INLINE_SESSIONMAKER or held or helper
        made_by = "`Session(...)`" if source in SESSION_CLASS else (
            "`sessionmaker(...)()`" if source == INLINE_SESSIONMAKER
            else f"`self.{source.rpartition('.')[2]}()`" if held
            else f"`{source.rpartition('.')[2]}`" if helper
            else f"`{source.rpartition('.')[2]}()`"
        )
        message = f"session `{summary.var}` from {made_by} {PROBLEM[summary.form]}"
        applicability, reason = summary.applicability, summary.reason
        fix = None
        if inline and summary.form in ("closed", "unclosed"):
            # No sessionmaker to wrap: `try: ... finally: session.close()` closes it on every
            # path and keeps the commits where the author wrote them.
            applicability, reason = summary.plain_applicability, summary.plain_reason
            if applicability != "none":
                fix = self._rewrite_plain(ctx, plan, applicability)
        elif source not in index.factories and summary.form != "finally_commit":
            applicability = "none"
            reason = "there is no module-level sessionmaker to wrap in `get_db_session()`"
        elif applicability != "none":
            # An unsafe fix is shown (json, --check) even when this run will not apply it.
            helper = index.helper_for(source, ctx.unsafe_fixes or applicability == "unsafe")
            fix, problem = self._rewrite(ctx, plan, helper, source, applicability)
            if problem:
                applicability, reason, fix = "none", problem, None
        if applicability == "unsafe":
            message += f" (unsafe fix: {reason})"
        elif reason:
            message += f" (not fixed: {reason})"
        return self.finding(ctx, summary.location, message, fix)

    def _rewrite(self, ctx, plan: Plan, helper: str, factory: str, applicability: str):
        expression, item = reference(ctx, helper)
        if expression is None:
            return None, item
        var, creation = plan.summary.var, plan.creation
        # A one-line `try: a; b` has no lines of its own: its statements become one.
        suite = plan.body and isinstance(plan.extent[0], ast.Try) and not on_own_line(ctx, plan.body[0])
        body = [group[0] for group in statement_lines(plan.body, ctx.positions)]

        def block(node, tree):
            original = tree.cst(creation)
            if suite:
                lines = [cst.SimpleStatementLine(body=list(tree.cst(plan.extent[0]).body.body))]
            else:
                lines = [tree.cst(stmt) for stmt in body]
            return cst.With(
                items=[cst.WithItem(cst.Call(func=cst.parse_expression(expression)), asname=cst.AsName(cst.Name(var)))],
                body=cst.IndentedBlock(body=lines, header=original.trailing_whitespace),
                leading_lines=original.leading_lines,
            )

        edits = [(creation, block)]
        edits += [
            (group[0], lambda node, tree: cst.RemovalSentinel.REMOVE)
            for group in statement_lines(plan.extent, ctx.positions)
        ]
        unused = []
        module, _, name = factory.rpartition(".")
        if module != ctx.facts.name:
            unused = [(module, name)] + [
                (target.rpartition(".")[0], local)
                for local, target in ctx.facts.bindings.items()
                if ctx.index.resolve(target) == factory and local == target.rpartition(".")[2]
            ]
        # A helper this run generates must land for its users to work.
        generated = factory not in ctx.index.existing_helpers
        group = f"FS005:{factory}" if generated else None
        return Fix(applicability, edits, [item] if item else [], unused, group), None

    @staticmethod
    def _rewrite_plain(ctx: FileContext, plan: Plan, applicability: str) -> Fix:
        """`s = Session(engine)` ... into `try: ... finally: s.close()` around the lines after
        the creation, commits kept where they were. Not `with Session(engine) as s:`: a Session
        is a context manager only from SQLAlchemy 1.4 on, and projects pin older ones
        (securedrop: 1.3.3, where `with` raises AttributeError)."""
        var = plan.summary.var
        lines = statement_lines(plan.extent, ctx.positions)
        kept = lines[:-1] if plan.summary.form == "closed" else lines
        close = lines[-1][0] if plan.summary.form == "closed" else None

        def wrapped(node, tree):
            body = [tree.cst(group[0]) for group in kept]
            first = body[0]
            body[0] = first.with_changes(leading_lines=())
            closing = (
                tree.cst(close).with_changes(leading_lines=())
                if close is not None
                else cst.parse_statement(f"{var}.close()", config=tree.module.config_for_parsing)
            )
            return cst.Try(
                body=cst.IndentedBlock(body=body),
                finalbody=cst.Finally(body=cst.IndentedBlock(body=[closing])),
                leading_lines=first.leading_lines,
            )

        edits = [(kept[0][0], wrapped)]
        edits += [
            (group[0], lambda node, tree: cst.RemovalSentinel.REMOVE)
            for group in lines if group is not kept[0]
        ]
        return Fix(applicability, edits)

    def _helpers(self, ctx: FileContext) -> Iterator[Finding]:
        """Generate `get_db_session()` next to this module's sessionmakers that need one."""
        index = ctx.index
        for factory, name, _location in self._to_generate(ctx.facts, index, ctx.unsafe_fixes):
            line = _line_of(ctx, ctx.collected.factory_statements[factory])
            location = _span(ctx, line)
            short = factory.rpartition(".")[2]
            users = sum(
                1
                for facts in index.modules.values()
                for handmade in facts.sessions.handmade
                if index.session_source(handmade) == factory
                and index.fixable(handmade, ctx.unsafe_fixes)
            )
            message = (
                f"sessionmaker `{short}` has no context-manager helper: generate `{name}()` "
                f"for the {users} hand-made session(s) rewritten to use it"
            )
            if name in ctx.facts.module_names or name in ctx.facts.bindings:
                message += f" (not fixed: `{name}` already names something else in {os.path.relpath(ctx.path)})"
                yield self.finding(ctx, location, message)
                continue
            fix = self._helper_fix(ctx, line, name, short)
            if fix is not None:
                fix.group = f"FS005:{factory}"
            yield self.finding(ctx, location, message, fix)

    def _helper_fix(self, ctx: FileContext, line: list[ast.stmt], name: str, factory: str) -> Fix | None:
        code = HELPER.format(name=name, factory=factory)
        edits = insert_after(ctx, line[0], code, blank_lines=2)
        if edits and len(line) > 1:  # `Session = sessionmaker(); x = 1`: space after the line
            edits = [edits[0], *space_following(ctx, line[-1], 2)]
        return Fix("safe", edits, [ImportItem("contextlib", "contextmanager")]) if edits else None


def _line_of(ctx: FileContext, stmt: ast.stmt) -> list[ast.stmt]:
    """The statements of the line ``stmt`` stands on (``a = 1; b = 2``), or the compound
    statement whose one-line body holds it (``if x: Session = sessionmaker()``)."""
    block = ctx.block_of(stmt)
    if block is None:
        return [stmt]
    body, _ = block
    if not on_own_line(ctx, body[0]):
        parent = ctx.parent(stmt)
        while parent is not None and not isinstance(parent, ast.stmt):
            parent = ctx.parent(parent)
        return [stmt] if parent is None else _line_of(ctx, parent)
    return next(group for group in statement_lines(body, ctx.positions) if any(s is stmt for s in group))


def _span(ctx: FileContext, line: list[ast.stmt]) -> Location:
    first, last = ctx.location(line[0]), ctx.location(line[-1])
    return Location(first.line, first.column, last.end_line, last.end_column)
