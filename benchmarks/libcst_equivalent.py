"""The LibCST runner doing the analysis fixsessions does, file by file and without a
pre-filter: parse, resolve qualified names, scopes, positions and parents, and find
`scoped_session(...)` registries and `Flask(...)` apps. It changes nothing.

    python -m libcst.tool codemod --no-format -u 0 -x benchmarks.libcst_equivalent.FindSessions PATH
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand
from libcst.metadata import (
    ExpressionContextProvider,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    ScopeProvider,
)

WANTED = {
    "sqlalchemy.orm.scoped_session",
    "sqlalchemy.orm.scoping.scoped_session",
    "sqlalchemy.orm.sessionmaker",
    "flask.Flask",
}


class FindSessions(VisitorBasedCodemodCommand):
    DESCRIPTION = "Find scoped_session registries and Flask apps (benchmark baseline)."
    METADATA_DEPENDENCIES = (
        QualifiedNameProvider,
        ScopeProvider,
        PositionProvider,
        ParentNodeProvider,
        ExpressionContextProvider,
    )

    def visit_Call(self, node: cst.Call) -> None:
        names = {q.name for q in self.get_metadata(QualifiedNameProvider, node.func, set())}
        if names & WANTED:
            position = self.get_metadata(PositionProvider, node)
            self.context.scratch.setdefault("found", []).append((position.start.line, names))
