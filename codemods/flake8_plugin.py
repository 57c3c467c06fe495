"""The flake8 plugin: the same findings, reported through flake8 under the `FS` prefix, for
teams whose CI already runs flake8. It never writes.

flake8 hands a plugin one file at a time, but the rules need the whole project (the registry
may live in another module), so each import root is indexed once per process and its findings
are kept for the files flake8 asks about next, and in fixsessions' result cache for the next
run. It is off by default: `flake8 --enable-extensions FS` turns it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import __version__
from .engine import Settings, run
from .analysis.facts import module_name_for

_FINDINGS: dict[Path, dict[Path, list]] = {}


class Plugin:
    name = "fixsessions"
    version = __version__
    # Installing fixsessions must not slow every flake8 run of the environment down: the
    # plugin runs only when asked (`flake8 --enable-extensions FS`).
    off_by_default = True

    def __init__(self, tree, filename: str) -> None:
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        if self.filename in ("stdin", "-"):
            return
        path = Path(self.filename).resolve()
        root, _ = module_name_for(path)
        if root not in _FINDINGS:
            result = run([root], Settings(cache=True))  # the next flake8 run: near-free
            _FINDINGS[root] = {f.path.resolve(): f.found for f in result.files}
        for finding in _FINDINGS[root].get(path, []):
            loc = finding.location
            yield loc.line, loc.column, f"{finding.code} {finding.message}", type(self)
