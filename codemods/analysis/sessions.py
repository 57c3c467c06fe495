"""Sessions made by hand inside functions, and what a `with get_db_session()` block would do
to them, read on Python's `ast`. Shared by the index (which needs to know, project-wide, which
sessionmakers need a helper) and by FS005 (which rewrites).

A block of statements ``var = Factory(); ...; var.commit(); var.close()`` (or the
try/except/finally spelling, or no close at all) becomes ``with helper() as var: ...``. The
helper commits on success, rolls back on any exception and always closes, so the rewrite is
only *safe* when nothing that depended on the old order can notice: no return or loop exit from
inside the block (that path would now commit), no name bound inside used after it (it would
come back expired and detached), nothing stored outside, a single commit at the end.

The rewrite works on source lines as LibCST sees them: statements joined by ``;`` are one
line, and the comments a removed line takes with it are those LibCST would keep with it (its
own, the ones just above it, and, for a compound statement, its blocks' footers).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from .walk import children, walk
from .location import Location, Positions

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
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
TRY = (ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))
COMPOUND = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, *TRY,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match,
)


@dataclass
class HandMade:
    """A hand-made session, as plain data for the index."""

    function: str
    var: str
    callee: frozenset[str]
    location: Location
    form: str  # "closed", "unclosed", "try" or "finally_commit"
    applicability: str  # "safe", "unsafe" or "none"
    reason: str | None = None
    # The same for a plain `with <creation> as var:` that keeps the explicit commits and only
    # closes (a `Session(engine)` made inline has no helper to commit for it).
    plain_applicability: str = "none"
    plain_reason: str | None = None


@dataclass
class Plan:
    """The statements a rewrite replaces; only valid for the tree it was read from."""

    summary: HandMade
    creation: ast.Assign
    extent: list[ast.stmt]  # the statements after `creation` that the block replaces
    body: list[ast.stmt]  # what goes inside the `with` block


# -- walking -------------------------------------------------------------------------------------


def _start(node: ast.AST) -> tuple:
    if hasattr(node, "lineno"):
        return (node.lineno, node.col_offset)
    for child in children(node):
        return _start(child)
    return (float("inf"), 0)


def _preorder(node: ast.AST, skip: tuple = ()) -> Iterator[ast.AST]:
    """``node`` and everything inside it, in source order (as LibCST's ``findall`` meets
    them; `ast.walk` goes breadth first and keeps decorators after the body)."""
    yield node
    if isinstance(node, skip):
        return
    for child in sorted(children(node), key=_start):
        yield from _preorder(child, skip)


def _walk(node: ast.AST, skip: tuple) -> Iterator[ast.AST]:
    """Like `ast.walk`, not looking inside nodes of type ``skip`` (yielding them)."""
    todo = [node]
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, skip):
            todo.extend(children(node))


def _found(nodes: Iterable[ast.AST], kind, ordered: bool = False) -> Iterator:
    """The nodes of type ``kind`` in ``nodes``; ``ordered`` in source order, which costs more
    and only matters where the first one found decides."""
    walker = _preorder if ordered else walk
    for node in nodes:
        for found in walker(node):
            if isinstance(found, kind):
                yield found


def _is_name(node: ast.AST | None, var: str) -> bool:
    return isinstance(node, ast.Name) and node.id == var


def _calls_on(nodes: Iterable[ast.AST], var: str, methods=None) -> Iterator[ast.Call]:
    """``var.method(...)`` calls (any method when ``methods`` is None)."""
    for call in _found(nodes, ast.Call):
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and _is_name(func.value, var)
            and (methods is None or func.attr in methods)
        ):
            yield call


def _session_method_owners(nodes: Iterable[ast.AST]) -> set[str]:
    """Names whose session methods are called: ``s`` in ``s.commit()``."""
    return {
        call.func.value.id
        for call in _found(nodes, ast.Call)
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)
        and call.func.attr in SESSION_METHODS
    }


def _is_method_call(group: list[ast.stmt], var: str, method: str) -> bool:
    """A line that is exactly ``var.method()``."""
    if len(group) != 1 or not isinstance(group[0], ast.Expr):
        return False
    call = group[0].value
    return (
        isinstance(call, ast.Call)
        and not call.args
        and not call.keywords
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == method
        and _is_name(call.func.value, var)
    )


def _identifiers(node: ast.AST, into: set[str], every: bool) -> None:
    """The identifiers LibCST holds as `Name` nodes: names, and the names of definitions,
    parameters, imports, `as` targets, `global`/`nonlocal` and match captures; with
    ``every`` also attribute names and keyword argument names."""
    for child in walk(node):
        if isinstance(child, ast.Name):
            into.add(child.id)
        elif isinstance(child, ast.Attribute):
            if every:
                into.add(child.attr)
        elif isinstance(child, ast.keyword):
            if every and child.arg:
                into.add(child.arg)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            into.add(child.name)
        elif isinstance(child, ast.arg):
            into.add(child.arg)
        elif isinstance(child, ast.alias):
            into.add(child.name.split(".")[0])
            if child.asname:
                into.add(child.asname)
        elif isinstance(child, ast.ImportFrom):
            if child.module:
                into.add(child.module.split(".")[0])
        elif isinstance(child, (ast.Global, ast.Nonlocal)):
            into.update(child.names)
        elif isinstance(child, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            if child.name:
                into.add(child.name)
        elif isinstance(child, ast.MatchMapping):
            if child.rest:
                into.add(child.rest)
        elif isinstance(child, ast.MatchClass):
            into.update(child.kwd_attrs)
        elif type(child).__name__ in ("TypeVar", "ParamSpec", "TypeVarTuple"):
            into.add(child.name)


def names_in(nodes: Iterable[ast.AST]) -> set[str]:
    """Names read or written, skipping attribute names and keyword argument names."""
    names: set[str] = set()
    for node in nodes:
        _identifiers(node, names, every=False)
    return names


def _targets(node: ast.AST | None, into: set[str]) -> None:
    if node is not None:
        _identifiers(node, into, every=True)


def bound_in(nodes: Iterable[ast.AST]) -> set[str]:
    """Names a block binds (not descending into nested functions or classes)."""
    names: set[str] = set()
    skip = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for top in nodes:
        for node in _walk(top, skip):
            if isinstance(node, skip):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, (ast.Name, ast.Tuple, ast.List)):
                        _targets(target, names)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                if isinstance(node.target, ast.Name):
                    names.add(node.target.id)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                _targets(node.target, names)
            elif isinstance(node, ast.withitem):
                _targets(node.optional_vars, names)
            elif isinstance(node, ast.ExceptHandler):
                if node.name:
                    names.add(node.name)
            elif isinstance(node, ast.alias):
                if node.asname:
                    names.add(node.asname)
            elif isinstance(node, ast.NamedExpr):
                _targets(node.target, names)
    return names


class _Asked:
    """What one block's analysis asks of each statement more than once, read once: the names
    it binds (`bound_in`), the names it reads or writes (`names_in`), and the names whose
    session methods it calls. Each question walks the statement; the candidates of one block,
    and the two verdicts of each, ask about the same statements (Flexget: four walks of each
    statement a session). Asked about a list, the answer is the union of its statements'."""

    __slots__ = ("bound", "named", "owners")

    def __init__(self) -> None:
        self.bound: dict[int, set[str]] = {}
        self.named: dict[int, set[str]] = {}
        self.owners: dict[int, set[str]] = {}

    def bound_in(self, nodes: Iterable[ast.AST]) -> set[str]:
        return _union(self.bound, bound_in, nodes)

    def names_in(self, nodes: Iterable[ast.AST]) -> set[str]:
        return _union(self.named, names_in, nodes)

    def session_method_owners(self, nodes: Iterable[ast.AST]) -> set[str]:
        return _union(self.owners, _session_method_owners, nodes)


def _union(known: dict[int, set[str]], question, nodes: Iterable[ast.AST]) -> set[str]:
    """The union of ``question([node])`` over ``nodes``, each answer kept in ``known`` by the
    node's id (the tree, and so each node, outlives the block's analysis)."""
    out: set[str] = set()
    for node in nodes:
        answer = known.get(id(node))
        if answer is None:
            answer = known[id(node)] = question([node])
        out |= answer
    return out


@dataclass
class _Exits:
    """What leaves a block other than by falling off its end or raising."""

    returns: bool = False
    returns_value: bool = False  # a `return` of something other than a constant
    yields: bool = False
    loop_exits: bool = False
    scope_escapes: bool = False

    def visit(self, node: ast.AST, loops: int = 0) -> None:
        if isinstance(node, SCOPES):
            return
        if isinstance(node, ast.Return):
            self.returns = True
            self.returns_value |= node.value is not None and not isinstance(node.value, ast.Constant)
        elif isinstance(node, (ast.Yield, ast.YieldFrom)):
            self.yields = True
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            self.scope_escapes = True
        elif isinstance(node, (ast.Break, ast.Continue)):
            self.loop_exits |= loops == 0
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            loops += 1  # its `else:` too, as the LibCST visitor counted it
        for child in children(node):
            self.visit(child, loops)


def _exits(nodes: Iterable[ast.AST]) -> _Exits:
    exits = _Exits()
    for node in nodes:
        exits.visit(node)
    return exits


def _stores_outside(body: list[ast.stmt], local: set[str]) -> str | None:
    """An object from the block kept somewhere that outlives it: `self.x = obj`, `cache[k] =
    obj`, `results.append(obj)`."""
    for stmt in body:
        for assign in _found([stmt], (ast.Assign, ast.AugAssign, ast.AnnAssign), ordered=True):
            if assign.value is None or not names_in([assign.value]) & local:
                continue  # `item.state = "done"` keeps nothing from the block
            targets = assign.targets if isinstance(assign, ast.Assign) else [assign.target]
            for node in targets:
                root = node
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if node is not root and isinstance(root, ast.Name) and root.id not in local:
                    return f"it stores into `{root.id}`, which outlives the block"
        for call in _found([stmt], ast.Call, ordered=True):
            if not isinstance(call.func, ast.Attribute) or not isinstance(call.func.value, ast.Name):
                continue
            owner = call.func.value.id
            method = call.func.attr
            if owner in local or method not in {"append", "add", "extend", "insert", "update", "setdefault"}:
                continue
            if names_in([*call.args, *(k.value for k in call.keywords)]) & local:
                return f"it puts an object from the block into `{owner}`, which outlives it"
    return None


# -- lines and comments, as LibCST groups them ---------------------------------------------------


def _on_own_line(stmt: ast.stmt, positions: Positions) -> bool:
    """Whether ``stmt`` starts its line: the first statement of an indented block, not of a
    one-line body (``if x: s = Session()``)."""
    line = positions.lines[stmt.lineno - 1] if stmt.lineno <= len(positions.lines) else ""
    return not line[: positions.column(stmt.lineno, stmt.col_offset)].strip()


def _continues(text: str) -> bool:
    text = text.rstrip("\r\n")
    return text.endswith("\\") and "#" not in text


def statement_lines(body: list[ast.stmt], positions: Positions) -> list[list[ast.stmt]]:
    """The statements of a block grouped by line (``a = 1; b = 2`` is one line, LibCST's
    `SimpleStatementLine`); a compound statement is a line of its own."""
    groups: list[list[ast.stmt]] = []
    for stmt in body:
        if groups and _same_line(groups[-1][-1], stmt, positions):
            groups[-1].append(stmt)
        else:
            groups.append([stmt])
    return groups


def _same_line(before: ast.stmt, stmt: ast.stmt, positions: Positions) -> bool:
    if isinstance(before, COMPOUND) or isinstance(stmt, COMPOUND):
        return False
    if stmt.lineno == before.end_lineno:
        return True
    lines = positions.lines
    end = positions.column(before.end_lineno, before.end_col_offset)
    if not _continues(lines[before.end_lineno - 1][end:]):
        return False
    return all(_continues(lines[n - 1]) for n in range(before.end_lineno + 1, stmt.lineno))


def _flat(groups: list[list[ast.stmt]]) -> list[ast.stmt]:
    return [stmt for group in groups for stmt in group]


def _last_block(stmt: ast.stmt, positions: Positions) -> list[ast.stmt] | None:
    """The statement list a compound statement ends with."""
    if isinstance(stmt, ast.If):
        if len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If):
            inner = stmt.orelse[0]
            line = positions.lines[inner.lineno - 1]
            if line.startswith("elif", positions.column(inner.lineno, inner.col_offset)):
                return _last_block(inner, positions)
        return stmt.orelse or stmt.body
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return stmt.orelse or stmt.body
    if isinstance(stmt, TRY):
        return stmt.finalbody or stmt.orelse or stmt.handlers[-1].body
    if isinstance(stmt, ast.Match):
        return stmt.cases[-1].body
    if isinstance(stmt, COMPOUND):
        return stmt.body
    return None


def _blank_or_comment(line: str) -> bool:
    text = line.strip()
    return not text or text.startswith("#")


def _claimed_end(stmt: ast.stmt, positions: Positions) -> int:
    """The last line ``stmt`` owns: for a compound statement the lines after it that LibCST
    keeps in its blocks' footers (up to the last one indented at least as its last block)."""
    end = stmt.end_lineno
    block = _last_block(stmt, positions)
    if not block or not _on_own_line(block[0], positions):
        return end
    lines = positions.lines
    indent = lines[block[0].lineno - 1][: positions.column(block[0].lineno, block[0].col_offset)]
    line = end + 1
    while line <= len(lines) and _blank_or_comment(lines[line - 1]):
        if lines[line - 1].startswith(indent):
            end = line
        line += 1
    return end


def _comment_between(positions: Positions, first: int, last: int) -> bool:
    return first <= last and positions.has_comment(first, last)


def _group_comment(group: list[ast.stmt], previous_end: int, positions: Positions) -> bool:
    """LibCST's ``has_comment`` of a line: its own comments and those just above it."""
    return _comment_between(positions, previous_end + 1, group[-1].end_lineno)


def _previous_end(groups: list[list[ast.stmt]], index: int, header: int, positions: Positions) -> int:
    return _claimed_end(groups[index - 1][-1], positions) if index else header


# -- the analysis ---------------------------------------------------------------------------------


def analyse_block(
    body: list[ast.stmt],
    function: str,
    callee_of: Callable[[ast.Call], frozenset[str]],
    positions: Positions,
    method_owners: set[str] | frozenset[str] | None = None,
    skip: Callable[[ast.Call], bool] | None = None,
) -> list[Plan]:
    """Every hand-made session whose creation is a statement of ``body``. ``method_owners``,
    when given, holds at least every name a session method is called on in ``body``;
    creations ``skip`` accepts are no hand-made sessions."""
    if not body or not _on_own_line(body[0], positions):
        return []  # a one-line body (`if x: s = Session()`) has no room for a block
    plans = []
    groups = line_of = names_of = owners = None
    asked = _Asked()
    for stmt in body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Call)
        ):
            continue
        if method_owners is not None and stmt.targets[0].id not in method_owners:
            continue
        callee = callee_of(stmt.value)
        if not callee or (skip is not None and skip(stmt.value)):
            continue
        if owners is None:  # no session method called on it anywhere in the block: no session
            owners = asked.session_method_owners(body)
        if stmt.targets[0].id not in owners:
            continue
        if groups is None:
            groups = statement_lines(body, positions)
            line_of = {id(s): i for i, group in enumerate(groups) for s in group}
            names_of = {}  # each line's names, read once per block
        index = line_of[id(stmt)]
        if len(groups[index]) != 1:
            continue  # `s = Session(); s.add(x)`
        var = stmt.targets[0].id
        rest = groups[index + 1 :]
        uses = []
        calls_methods = False
        for i in range(index + 1, len(groups)):
            if i not in names_of:
                names_of[i] = (asked.names_in(groups[i]), asked.session_method_owners(groups[i]))
            names, owners = names_of[i]
            if var in names:
                uses.append(i - index - 1)
            calls_methods = calls_methods or var in owners
        if not uses or not calls_methods:
            continue
        if _provides_session(_flat(rest), var):
            continue  # `return session` / `yield session`: a session factory, not a user
        closing = _closing_try(rest, uses[0], var)
        if closing is not None and any(_is_method_call([s], var, "commit") for s in closing.finalbody):
            # Not a rewrite: which work the author meant to keep after an error is theirs.
            summary = HandMade(
                function, var, callee, positions.location(stmt.value), "finally_commit", "none",
                "what to keep after an error is the author's decision",
            )
            plans.append(Plan(summary, stmt, [], []))
            continue
        if closing is not None:
            # Closed on every path (`close()` rolls back what an error left), and untouched
            # before the `try` (autobegin: an unused session holds no connection). Rewriting
            # it into a with-block would change nothing a reviewer could see but the spelling.
            continue
        plan = _plan(stmt, var, rest, uses[-1], positions, asked)
        summary = HandMade(function, var, callee, positions.location(stmt.value), *plan[:3], *plan[5])
        if stmt.value.args or stmt.value.keywords:
            summary.applicability, summary.reason = "none", "the session is made with arguments"
        plans.append(Plan(summary, stmt, *plan[3:5]))
    return plans


def _closing_try(rest: list[list[ast.stmt]], first_use: int, var: str) -> ast.Try | None:
    """The first line using the session, when it is a `try` whose `finally` closes it."""
    group = rest[first_use]
    if len(group) != 1 or not isinstance(group[0], TRY):
        return None
    if not any(_is_method_call([stmt], var, "close") for stmt in group[0].finalbody):
        return None
    return group[0]


def _provides_session(rest: list[ast.stmt], var: str) -> bool:
    return any(_is_name(node.value, var) for node in _found(rest, (ast.Return, ast.Yield)))


def _plan(
    creation: ast.Assign, var: str, rest: list[list[ast.stmt]], last_use: int, positions: Positions,
    asked: _Asked,
):
    """(form, applicability, reason, extent, body)."""
    first = rest[0][0]
    if isinstance(first, ast.Try) and _is_boilerplate_try(first, var, positions):
        form = "try"
        extent = [rest[0]]
        suite = not _on_own_line(first.body[0], positions)
        inner = [[s] for s in first.body] if suite else statement_lines(first.body, positions)
        if not first.finalbody and not first.orelse and len(rest) > 1 and _is_method_call(rest[1], var, "close"):
            extent.append(rest[1])
        closed = bool(first.finalbody) or bool(first.orelse) or len(extent) == 2
        # One-line `try: ...`: LibCST's lines there are bare statements, never a commit line.
        committed = bool(inner) and not suite and _is_method_call(inner[-1], var, "commit")
        body = inner[:-1] if committed else inner
        if not closed:
            form = "unclosed"
        # The try statement with its body emptied: its header, handlers, finally, and the
        # comments LibCST keeps around them.
        try_end = _claimed_end(first, positions)
        body_end = first.lineno if suite else _claimed_end(first.body[-1], positions)
        dropped_comments = (
            _comment_between(positions, creation.end_lineno + 1, first.lineno)
            or _comment_between(positions, body_end + 1, try_end)
            or any(_group_comment(group, try_end, positions) for group in extent[1:])
        )
        if committed:
            dropped_comments |= _group_comment(
                inner[-1], _previous_end(inner, len(inner) - 1, first.lineno, positions), positions
            )
    else:
        extent = rest[: last_use + 1]
        closed = _is_method_call(extent[-1], var, "close")
        form = "closed" if closed else "unclosed"
        body = extent[:-1] if closed else list(extent)
        committed = bool(body) and _is_method_call(body[-1], var, "commit")
        dropped = [len(extent) - 1] if closed else []
        if committed:
            dropped.append(len(body) - 1)
            body = body[:-1]
        lines = [[creation], *rest]  # the creation is the line before rest[0]
        dropped_comments = any(
            _group_comment(lines[i + 1], _claimed_end(lines[i][-1], positions), positions)
            for i in dropped
        )
    after = _flat(rest[len(extent) :])
    extent, body = _flat(extent), _flat(body)

    plain = _plain_verdict(form, var, extent, after, dropped_comments, asked)

    def verdict(applicability, reason=None):
        return form, applicability, reason, extent, body, plain

    if not body:
        return verdict("none", "nothing happens inside the session")
    if dropped_comments:
        return verdict("none", "a comment on the lines the rewrite removes would be lost")
    if any(_calls_on(body, var, ("close", "rollback"))):
        return verdict("none", f"`{var}` is closed or rolled back inside the block as well")
    if var in asked.bound_in(body) or var in asked.names_in(after):
        return verdict("none", f"`{var}` is reassigned or used after it is closed")
    if any(var in asked.names_in([node]) for node in _found(body, SCOPES)):
        return verdict("none", f"a nested function uses `{var}`")

    exits = _exits(body)
    local = asked.bound_in(body) | {var}
    escaped = sorted(asked.bound_in(body) & asked.names_in(after))
    settled = None if committed else _settled_after_commit(body, var)
    if settled is not None:  # expunged after the last commit: the block's commit cannot expire them
        escaped = [] if "*" in settled else [n for n in escaped if n not in settled]
    if exits.yields:
        return verdict("unsafe", "it yields inside the session: the block would commit only when "
                       "the caller finishes iterating, and roll back if it stops early")
    if exits.returns_value:
        return verdict("unsafe", "it returns from inside the session: what it returns comes back "
                       "expired and detached, and that path would now commit")
    if exits.returns:
        return verdict("unsafe", "an early `return` inside the block would now commit what was "
                       "done before it")
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
    if settled is not None:
        if len(list(_calls_on(body, var, ("commit",)))) > 1:
            return verdict("unsafe", "it commits before the end as well: the block changes where "
                           "transactions end")
        return verdict("safe")
    if not committed:
        commits = sorted(call.lineno for call in _calls_on(body, var, ("commit",)))
        if commits:
            return verdict("unsafe", f"it commits on line {commits[-1]}, before its last statements: "
                           "the block would commit once more at its end, after them")
        return verdict("unsafe", "it never commits, and the block would commit")
    if any(_calls_on(body, var, ("commit",))):
        return verdict("unsafe", "it commits before the end as well: the block changes where "
                       "transactions end")
    return verdict("safe")


def _plain_verdict(form, var, extent, after, dropped_comments, asked: _Asked) -> tuple[str, str | None]:
    """(applicability, reason) of `with <creation> as var:` around the statements, the
    explicit commits kept and the final `close()` dropped: only closing moves, so only what
    outlives the close matters."""
    if form not in ("closed", "unclosed"):
        return "none", "the try statement stays as written"
    body = extent[:-1] if form == "closed" else list(extent)
    if not body:
        return "none", "nothing happens inside the session"
    if dropped_comments:
        return "none", "a comment on the lines the rewrite removes would be lost"
    if any(_calls_on(body, var, ("close",))):
        return "none", f"`{var}` is closed inside the block as well"
    if var in asked.bound_in(body) or var in asked.names_in(after):
        return "none", f"`{var}` is reassigned or used after it is closed"
    if any(var in asked.names_in([node]) for node in _found(body, SCOPES)):
        return "none", f"a nested function uses `{var}`"
    exits = _exits(body)
    if exits.yields:
        return "unsafe", "it yields inside the session: the block would close it only when the caller finishes"
    if exits.returns_value:
        return "unsafe", "it returns from inside the session: what it returns would come back detached"
    if exits.scope_escapes:
        return "unsafe", "it assigns globals, which outlive the block"
    escaped = sorted(asked.bound_in(body) & asked.names_in(after))
    if escaped:
        names = ", ".join(f"`{n}`" for n in escaped)
        return "unsafe", f"{names} is used after the block: it would come back detached"
    stored = _stores_outside(body, asked.bound_in(body) | {var})
    if stored:
        return "unsafe", stored
    return "safe", None


def _indented_lines(body: list[ast.stmt], positions: Positions) -> list[list[ast.stmt]] | None:
    """The lines of an indented block; None for a one-line body."""
    if not body or not _on_own_line(body[0], positions):
        return None
    return statement_lines(body, positions)


def _is_boilerplate_try(node: ast.Try, var: str, positions: Positions) -> bool:
    """try: ... except: var.rollback(); raise ... finally: var.close() (or else: var.close())
    -- nothing else."""
    if node.orelse and (node.finalbody or not _closes_in_else(node, var, positions)):
        return False
    for handler in node.handlers:
        lines = _indented_lines(handler.body, positions)
        if not (
            lines is not None
            and len(lines) == 2
            and _is_method_call(lines[0], var, "rollback")
            and len(lines[1]) == 1
            and isinstance(lines[1][0], ast.Raise)
            and lines[1][0].exc is None
        ):
            return False
    if node.finalbody:
        lines = _indented_lines(node.finalbody, positions)
        return lines is not None and len(lines) == 1 and _is_method_call(lines[0], var, "close")
    return bool(node.handlers)


def _closes_in_else(node: ast.Try, var: str, positions: Positions) -> bool:
    """``else: var.close()``, alone: closed when the try body did not raise."""
    lines = _indented_lines(node.orelse, positions)
    return lines is not None and len(lines) == 1 and _is_method_call(lines[0], var, "close")


SETTLING = ("refresh", "expunge", "expunge_all")


def _settled_after_commit(body: list[ast.stmt], var: str) -> set[str] | None:
    """When the statements after the block's last commit only refresh or expunge objects
    (``commit(); refresh(obj); expunge(obj)``, to hand back a loaded, detached object): the
    names expunged ("*" for ``expunge_all()``). The block's own commit at its end then finds
    nothing to do, and touches no expunged object. None for any other ending."""
    commits = [i for i, stmt in enumerate(body) if _is_method_call([stmt], var, "commit")]
    if not commits or commits[-1] == len(body) - 1:
        return None
    expunged: set[str] = set()
    for stmt in body[commits[-1] + 1:]:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and _is_name(call.func.value, var) and call.func.attr in SETTLING
        ):
            return None
        if call.func.attr == "expunge_all":
            expunged.add("*")
        elif call.func.attr == "expunge" and len(call.args) == 1 and isinstance(call.args[0], ast.Name):
            expunged.add(call.args[0].id)
    return expunged


def is_session_helper(
    node: ast.FunctionDef | ast.AsyncFunctionDef, qnames: Callable[[ast.AST], frozenset[str]]
) -> frozenset[str]:
    """The factory qualified names of a `@contextmanager` that makes a session, yields it,
    commits, rolls back and closes it (`get_db_session` or one of the user's own)."""
    if not any(qnames(d) & CONTEXTMANAGER for d in node.decorator_list):
        return frozenset()
    for assign in _found(node.body, ast.Assign, ordered=True):
        if not (
            len(assign.targets) == 1
            and isinstance(assign.targets[0], ast.Name)
            and isinstance(assign.value, ast.Call)
        ):
            continue
        var = assign.targets[0].id
        calls = {call.func.attr for call in _calls_on(node.body, var)}
        yielded = any(
            isinstance(y, ast.Yield) and _is_name(y.value, var) for y in _found(node.body, ast.Yield)
        )
        if yielded and {"commit", "rollback", "close"} <= calls:
            return qnames(assign.value.func)
    return frozenset()


@dataclass
class SessionFacts:
    factories: list = field(default_factory=list)  # (qname, Location) of `X = sessionmaker()`
    handmade: list[HandMade] = field(default_factory=list)
    helpers: dict[str, frozenset[str]] = field(default_factory=dict)  # helper -> factories
    # `X = sessionmaker(class_=C)`: X -> what C names
    factory_classes: dict[str, frozenset[str]] = field(default_factory=dict)
    # `self.X = sessionmaker(...)` in a method: "Class.X"
    class_factories: set[str] = field(default_factory=set)
    # classes whose `__exit__` commits (`with Session() as s:` is then a helper already)
    committing_exits: set[str] = field(default_factory=set)
