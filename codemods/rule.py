"""What a rule is, what it reports, and how it proposes a fix.

A rule is mostly data, as in Fixit and ruff: a code, a kebab-case name, the sections that
``fixsessions explain`` prints, and a `check` that yields `Finding`s. A finding's `Fix` is a
set of edits keyed by the original CST nodes; the engine applies every fix of a file in one
pass, re-parses the result, and runs the rules again until nothing is left to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterator

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import FullyQualifiedNameProvider, MetadataWrapper, PositionProvider

from codemods.facts import CollectedModule, Location
from codemods.index import ProjectIndex

Edit = Callable[[cst.CSTNode], cst.CSTNode | cst.FlattenSentinel | cst.RemovalSentinel]


@dataclass
class Fix:
    applicability: str  # "safe" or "unsafe"
    edits: list[tuple[cst.CSTNode, Edit]] = field(default_factory=list)
    imports: list[ImportItem] = field(default_factory=list)
    # (module, name) imports to drop if the edits leave them unused
    unused_imports: list[tuple[str, str]] = field(default_factory=list)
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
    text_edits: list | None = field(default=None, repr=False, compare=False)  # from a worker

    @property
    def applicability(self) -> str:
        return self.fix.applicability if self.fix else "none"


@dataclass
class FileContext:
    """One parsed file, its metadata (resolved once, shared by every rule) and the index."""

    path: Path
    module: cst.Module
    collected: CollectedModule
    index: ProjectIndex
    unsafe_fixes: bool = False

    @property
    def wrapper(self) -> MetadataWrapper:
        return self.collected.wrapper

    @property
    def facts(self):
        return self.collected.facts

    def qnames(self, node: cst.CSTNode) -> frozenset[str]:
        names = self.wrapper.resolve(FullyQualifiedNameProvider).get(node, ())
        return frozenset(q.name for q in names)

    def location(self, node: cst.CSTNode) -> Location:
        pos = self.wrapper.resolve(PositionProvider)[node]
        return Location(pos.start.line, pos.start.column, pos.end.line, pos.end.column)


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    # The sections of `fixsessions explain CODE` (ruff's rule documentation layout).
    what: ClassVar[str]
    why: ClassVar[str]
    example: ClassVar[str]
    use_instead: ClassVar[str]
    fix_safety: ClassVar[str]

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def may_apply(cls, facts, index) -> bool:
        """A cheap, conservative test on a module's facts: False only when `check` cannot
        find anything there, so that the file need not be parsed again to run it."""
        return True

    def finding(self, ctx: FileContext, location: Location, message: str, fix: Fix | None = None):
        return Finding(self.code, self.name, message, ctx.path, location, fix)
