"""Sessions made by hand inside functions, and what a `with get_db_session()` block would do
to them. Shared by the index (which needs to know, project-wide, which sessionmakers need a
helper) and by FS005 (which rewrites).

A block of statements ``var = Factory(); ...; var.commit(); var.close()`` (or the
try/except/finally spelling, or no close at all) becomes ``with helper() as var: ...``. The
helper commits on success, rolls back on any exception and always closes, so the rewrite is
only *safe* when nothing that depended on the old order can notice: no return or loop exit from
inside the block (that path would now commit), no name bound inside used after it (it would
come back expired and detached), nothing stored outside, a single commit at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import libcst as cst
import libcst.matchers as m

from codemods.edits import has_comment
from codemods.location import Location

SESSIONMAKER = frozenset({"sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.session.sessionmaker"})
SESSION_CLASS = frozenset({"sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session"})
CONTEXTMANAGER = frozenset({"contextlib.contextmanager"})
INLINE_SESSIONMAKER = "sqlalchemy.orm.sessionmaker()"  # callee of `sessionmaker(...)()`
SESSION_METHODS = frozenset(
    {
        "add", "add_all", "begin", "close", "commit", "delete", "execute", "flush", "get",
        "merge", "query", "refresh", "rollback", "scalar", "scalars",
    }
)


@dataclass
class HandMade:
    """A hand-made session, as plain data for the index."""

    function: str
    var: str
    callee: frozenset[str]
    location: Location
    form: str  # "closed", "unclosed" or "try"
    applicability: str  # "safe", "unsafe" or "none"
    reason: str | None = None


@dataclass
class Plan:
    """The nodes a rewrite replaces; only valid for the tree it was read from."""

    summary: HandMade
    creation: cst.SimpleStatementLine
    extent: list[cst.BaseStatement]  # the statements after `creation` that the block replaces
    body: list[cst.BaseStatement]  # what goes inside the `with` block
    trailing: cst.TrailingWhitespace  # the creation line's own comment, kept on the header


def method_call(var: str, method: str) -> m.SimpleStatementLine:
    return m.SimpleStatementLine(
        body=[m.Expr(m.Call(func=m.Attribute(value=m.Name(var), attr=m.Name(method)), args=[]))]
    )


class _Uses(cst.CSTVisitor):
    """Names read or written, skipping attribute names and keyword argument names."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _visit_all(visitor, nodes):
    for node in nodes:
        node.visit(visitor)
    return visitor


def names_in(nodes) -> set[str]:
    return _visit_all(_Uses(), nodes).names


class _Bound(cst.CSTVisitor):
    """Names a block binds (not descending into nested functions or classes)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def _targets(self, node: cst.CSTNode) -> None:
        for name in m.findall(node, m.Name()):
            self.names.add(name.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, (cst.Name, cst.Tuple, cst.List)):
            self._targets(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_For(self, node: cst.For) -> None:
        self._targets(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._targets(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._targets(node.target)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.names.add(node.name.value)
        return False


def bound_in(nodes) -> set[str]:
    return _visit_all(_Bound(), nodes).names


class _Exits(cst.CSTVisitor):
    """What leaves a block other than by falling off its end or raising."""

    def __init__(self) -> None:
        self.returns = self.yields = self.loop_exits = self.scope_escapes = False
        self.loops = 0

    def visit_FunctionDef(self, node) -> bool:
        return False

    def visit_ClassDef(self, node) -> bool:
        return False

    def visit_Lambda(self, node) -> bool:
        return False

    def visit_Return(self, node) -> None:
        self.returns = True

    def visit_Yield(self, node) -> None:
        self.yields = True

    def visit_Global(self, node) -> None:
        self.scope_escapes = True

    def visit_Nonlocal(self, node) -> None:
        self.scope_escapes = True

    def visit_For(self, node) -> None:
        self.loops += 1

    def leave_For(self, node) -> None:
        self.loops -= 1

    def visit_While(self, node) -> None:
        self.loops += 1

    def leave_While(self, node) -> None:
        self.loops -= 1

    def visit_Break(self, node) -> None:
        self.loop_exits |= self.loops == 0

    def visit_Continue(self, node) -> None:
        self.loop_exits |= self.loops == 0


def _stores_outside(body, local: set[str]) -> str | None:
    """An object from the block kept somewhere that outlives it: `self.x = obj`, `cache[k] =
    obj`, `results.append(obj)`."""
    for stmt in body:
        for assign in m.findall(stmt, m.Assign() | m.AugAssign() | m.AnnAssign()):
            if assign.value is None or not names_in([assign.value]) & local:
                continue  # `item.state = "done"` keeps nothing from the block
            targets = [t.target for t in assign.targets] if isinstance(assign, cst.Assign) else [assign.target]
            for node in targets:
                root = node
                while isinstance(root, (cst.Attribute, cst.Subscript)):
                    root = root.value
                if node is not root and isinstance(root, cst.Name) and root.value not in local:
                    return f"it stores into `{root.value}`, which outlives the block"
        for call in m.findall(stmt, m.Call(func=m.Attribute(value=m.Name()))):
            owner = call.func.value.value
            method = call.func.attr.value
            if owner in local or method not in {"append", "add", "extend", "insert", "update", "setdefault"}:
                continue
            if names_in(call.args) & local:
                return f"it puts an object from the block into `{owner}`, which outlives it"
    return None


def analyse_block(
    block: cst.IndentedBlock,
    function: str,
    callee_of: Callable[[cst.Call], frozenset[str]],
    location_of: Callable[[cst.CSTNode], Location],
) -> list[Plan]:
    """Every hand-made session whose creation is a statement of ``block``."""
    plans = []
    body = list(block.body)
    for index, stmt in enumerate(body):
        if not m.matches(
            stmt,
            m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())], value=m.Call())]),
        ):
            continue
        assign = stmt.body[0]
        var = assign.targets[0].target.value
        callee = callee_of(assign.value)
        rest = body[index + 1 :]
        uses = [i for i, s in enumerate(rest) if var in names_in([s])]
        if not callee or not uses:
            continue
        if not any(
            m.findall(s, m.Call(func=m.Attribute(value=m.Name(var), attr=m.OneOf(*map(m.Name, SESSION_METHODS)))))
            for s in rest
        ):
            continue
        if _provides_session(rest, var):
            continue  # `return session` / `yield session`: a session factory, not a user
        plan = _plan(stmt, var, rest, uses[-1])
        summary = HandMade(function, var, callee, location_of(assign.value), *plan[:3])
        if assign.value.args:
            summary.applicability, summary.reason = "none", "the session is made with arguments"
        plans.append(Plan(summary, stmt, *plan[3:]))
    return plans


def _provides_session(rest, var: str) -> bool:
    for stmt in rest:
        for node in m.findall(stmt, m.Return(value=m.Name(var)) | m.Yield(value=m.Name(var))):
            return True
    return False


def _plan(creation, var: str, rest: list, last_use: int):
    """(form, applicability, reason, extent, body, trailing)."""
    trailing = creation.trailing_whitespace
    commit, close, rollback = (method_call(var, x) for x in ("commit", "close", "rollback"))
    first = rest[0]
    extent: list
    if isinstance(first, cst.Try) and _is_boilerplate_try(first, var):
        form = "try"
        extent = [first]
        inner = list(first.body.body)
        if first.finalbody is None and len(rest) > 1 and m.matches(rest[1], close):
            extent.append(rest[1])
        closed = first.finalbody is not None or len(extent) == 2
        committed = bool(inner) and m.matches(inner[-1], commit)
        body = inner[:-1] if committed else inner
        if not closed:
            form = "unclosed"
        dropped_comments = has_comment(
            first.with_changes(body=first.body.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])]))
        ) or any(has_comment(s) for s in extent[1:])
        if committed:
            dropped_comments |= has_comment(inner[-1])
    else:
        extent = rest[: last_use + 1]
        closed = m.matches(extent[-1], close)
        form = "closed" if closed else "unclosed"
        body = extent[:-1] if closed else list(extent)
        committed = bool(body) and m.matches(body[-1], commit)
        dropped = [extent[-1]] if closed else []
        if committed:
            dropped.append(body[-1])
            body = body[:-1]
        dropped_comments = any(has_comment(s) for s in dropped)
    after = rest[len(extent) :]

    def verdict(applicability, reason=None):
        return form, applicability, reason, extent, body, trailing

    if not body:
        return verdict("none", "nothing happens inside the session")
    if dropped_comments:
        return verdict("none", "a comment on the lines the rewrite removes would be lost")
    leftover = [
        call
        for s in body
        for call in m.findall(s, m.Call(func=m.Attribute(value=m.Name(var), attr=m.Name("close") | m.Name("rollback"))))
    ]
    if leftover:
        return verdict("none", f"`{var}` is closed or rolled back inside the block as well")
    if var in bound_in(body) or var in names_in(after):
        return verdict("none", f"`{var}` is reassigned or used after it is closed")
    if any(
        var in names_in([node])
        for s in body
        for node in m.findall(s, m.FunctionDef() | m.Lambda() | m.ClassDef())
    ):
        return verdict("none", f"a nested function uses `{var}`")

    exits = _visit_all(_Exits(), body)
    local = bound_in(body) | {var}
    escaped = sorted(bound_in(body) & names_in(after))
    if exits.returns or exits.yields:
        return verdict("unsafe", "it returns from inside the session: what it returns comes back "
                       "expired and detached, and that path would now commit")
    if exits.loop_exits:
        return verdict("unsafe", "a `break`/`continue` leaves the block, and would now commit")
    if exits.scope_escapes:
        return verdict("unsafe", "it assigns globals, which outlive the block")
    if escaped:
        names = ", ".join(f"`{n}`" for n in escaped)
        return verdict("unsafe", f"{names} is used after the block: it would come back expired "
                       "and detached")
    stored = _stores_outside(body, local)
    if stored:
        return verdict("unsafe", stored)
    if not committed:
        return verdict("unsafe", "it never commits, and the block would commit")
    if any(m.findall(s, m.Call(func=m.Attribute(value=m.Name(var), attr=m.Name("commit")))) for s in body):
        return verdict("unsafe", "it commits before the end as well: the block changes where "
                       "transactions end")
    return verdict("safe")


def _is_boilerplate_try(node: cst.Try, var: str) -> bool:
    """try: ... except: var.rollback(); raise ... finally: var.close() -- nothing else."""
    if node.orelse is not None:
        return False
    rollback_raise = m.IndentedBlock(
        body=[
            method_call(var, "rollback"),
            m.SimpleStatementLine(body=[m.Raise(exc=None)]),
        ]
    )
    if not all(m.matches(h.body, rollback_raise) for h in node.handlers):
        return False
    if node.finalbody is not None:
        return m.matches(node.finalbody.body, m.IndentedBlock(body=[method_call(var, "close")]))
    return bool(node.handlers)


def is_session_helper(node: cst.FunctionDef, qnames: Callable[[cst.CSTNode], frozenset[str]]):
    """The factory qualified names of a `@contextmanager` that makes a session, yields it,
    commits, rolls back and closes it (`get_db_session` or one of the user's own)."""
    if not any(qnames(d.decorator) & CONTEXTMANAGER for d in node.decorators):
        return frozenset()
    for assign in m.findall(node.body, m.Assign(targets=[m.AssignTarget(m.Name())], value=m.Call())):
        var = assign.targets[0].target.value
        calls = {
            call.func.attr.value
            for call in m.findall(node.body, m.Call(func=m.Attribute(value=m.Name(var))))
        }
        yielded = m.findall(node.body, m.Yield(value=m.Name(var)))
        if yielded and {"commit", "rollback", "close"} <= calls:
            return qnames(assign.value.func)
    return frozenset()


@dataclass
class SessionFacts:
    factories: list = field(default_factory=list)  # (qname, Location) of `X = sessionmaker()`
    handmade: list[HandMade] = field(default_factory=list)
    helpers: dict[str, frozenset[str]] = field(default_factory=dict)  # helper -> factories
