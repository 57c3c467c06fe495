"""What a rule is, what it reports, and how it proposes a fix.

A rule is mostly data, as in Fixit and ruff: a code, a kebab-case name, the sections that
``fixsessions explain`` prints, and a `check` that reads one module's `ast` (with the facts
and the project index) and yields `Finding`s. A finding's `Fix` names the `ast` nodes it
changes and, for each, an edit of the matching LibCST node: only files that get a fix are
ever parsed by LibCST, where the engine finds each node by its position, applies every fix
of the file in one pass, re-parses the result, and runs the rules again until nothing is
left to fix.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

from ..analysis.walk import children, walk
from ..analysis.location import Location, Positions

if TYPE_CHECKING:
    from ..analysis.facts import CollectedModule
    from ..analysis.index import ProjectIndex

# edit(cst_node, tree) -> the new node, a libcst FlattenSentinel or RemovalSentinel;
# ``tree.cst(ast_node)`` finds any other node of the file (see codemods.engine.fixer.CstTree).
Edit = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class ImportItem:
    """``from module import name`` (``relative`` dots), as LibCST's AddImportsVisitor takes it."""

    module: str
    name: str | None = None
    relative: int = 0


@dataclass
class Fix:
    applicability: str  # "safe" or "unsafe"
    # (ast node, edit): a simple statement stands for its whole line (LibCST's
    # SimpleStatementLine); a compound statement, a name, an attribute or a call for itself.
    edits: list[tuple[ast.AST, Edit]] = field(default_factory=list)
    imports: list[ImportItem] = field(default_factory=list)
    # (module, name) imports to drop if the edits leave them unused
    unused_imports: list[tuple[str, str | None]] = field(default_factory=list)
    # Fixes that only make sense together, across files (a name becoming a function and its
    # uses becoming calls): if one cannot be made, none is.
    group: str | None = None


@dataclass
class Finding:
    code: str
    name: str
    message: str
    path: Path
    location: Location
    fix: Fix | None = None
    # Set by the engine: the text the finding was made on, and that text with this fix alone.
    source: str = field(default="", repr=False, compare=False)
    preview: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    text_edits: list | None = field(default=None, repr=False, compare=False)

    @property
    def applicability(self) -> str:
        return self.fix.applicability if self.fix else "none"


@dataclass
class FileContext:
    """One module's tree and facts (read once, shared by every rule) and the index."""

    path: Path
    positions: Positions
    tree: ast.Module
    collected: "CollectedModule"
    index: "ProjectIndex"
    unsafe_fixes: bool = False

    @property
    def facts(self):
        return self.collected.facts

    @property
    def names(self):
        return self.collected.names

    @property
    def text(self) -> str:
        return self.positions.text

    def qnames(self, node: ast.AST) -> frozenset[str]:
        return self.collected.names.qnames(node)

    def location(self, node: ast.AST) -> Location:
        return self.positions.location(node)

    @cached_property
    def parents(self) -> dict[int, ast.AST]:
        found = {}
        for node in walk(self.tree):
            for child in children(node):
                found[id(child)] = node
        return found

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def block_of(self, stmt: ast.stmt) -> tuple[list[ast.stmt], int] | None:
        """The statement list ``stmt`` stands in and its position there."""
        parent = self.parent(stmt) or self.tree
        for name in ("body", "orelse", "finalbody", "handlers"):
            body = getattr(parent, name, None)
            if isinstance(body, list):
                for position, item in enumerate(body):
                    if item is stmt:
                        return body, position
        if isinstance(parent, ast.match_case):
            for position, item in enumerate(parent.body):
                if item is stmt:
                    return parent.body, position
        return None

    def has_comment(self, stmt: ast.AST, leading: bool = True) -> bool:
        """Whether removing ``stmt`` would lose a comment: one on its lines or, with
        ``leading``, on the lines between it and the statement before it (LibCST keeps those
        with the statement)."""
        first = stmt.lineno
        if leading:
            first = self.leading_start(stmt)
        return self.positions.has_comment(first, getattr(stmt, "end_lineno", stmt.lineno))

    def leading_start(self, stmt: ast.AST) -> int:
        """The first line after the previous statement (or the block's header)."""
        first = getattr(stmt, "decorator_list", None)
        start = min([stmt.lineno, *(d.lineno for d in first or ())])
        block = self.block_of(stmt) if isinstance(stmt, ast.stmt) else None
        if block is None:
            return start
        body, position = block
        if position:
            return body[position - 1].end_lineno + 1
        parent = self.parent(stmt)
        return (parent.lineno + 1) if parent is not None and hasattr(parent, "lineno") else 1


@dataclass
class FactsContext:
    """What the `check` of a `facts_only` rule reads: the module's facts and the index, with
    no tree. Anything else it asks for raises AttributeError, and the engine then reads the
    file again to run the rule on its tree."""

    facts: object
    index: "ProjectIndex"

    @property
    def path(self) -> Path:
        return self.facts.path


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    # The sections of `fixsessions explain CODE` (ruff's rule documentation layout).
    what: ClassVar[str]
    why: ClassVar[str]
    example: ClassVar[str]
    use_instead: ClassVar[str]
    fix_safety: ClassVar[str]

    @classmethod
    def fix_kind(cls) -> str:
        """"safe", "unsafe", "safe/unsafe", "safe/report" or "report", from `fix_safety`."""
        text = cls.fix_safety.lower()
        if text.startswith("report"):
            return "report"
        if text.startswith("unsafe"):
            return "unsafe"
        if "unsafe" in text:
            return "safe/unsafe"
        return "safe/report" if "reported" in text else "safe"

    @classmethod
    def summary(cls) -> str:
        """The first sentence of `what`."""
        text = " ".join(cls.what.split())
        end = text.find(". ")
        return text if end < 0 else text[: end + 1]

    @classmethod
    def reason(cls) -> str:
        """The first sentence of `why`: the rule's one-line reason."""
        text = " ".join(cls.why.split())
        end = text.find(". ")
        return text if end < 0 else text[: end + 1]

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        raise NotImplementedError

    # A rule whose `check` reads only `ctx.facts` and `ctx.index` (a report with no fix): the
    # engine runs it on the facts, and reads the file again only where it finds something.
    facts_only: ClassVar[bool] = False

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        """A cheap, conservative test on a module's facts: False only when `check` cannot
        find anything there, so that the file need not be read again to run it."""
        return True

    def finds_in(self, facts, index) -> bool:
        """Whether `check` finds anything in the module: for a `facts_only` rule, `check`
        run on its facts; for any other, `may_apply`."""
        if not self.may_apply(facts, index):
            return False
        if not self.facts_only:
            return True
        return next(iter(self.check(FactsContext(facts, index))), None) is not None

    def finding(self, ctx: FileContext, location: Location, message: str, fix: Fix | None = None):
        return Finding(self.code, self.name, message, ctx.path, location, fix)
