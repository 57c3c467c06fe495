"""Test helpers in django-upgrade's style, for rules that look at a whole project.

`check_noop(tmp_path, files)` asserts that nothing changes; `check_transformed(tmp_path,
files, expected)` asserts the exact new text of the changed files, that the expected text
parses, and that a second run on the result changes nothing (idempotency).
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import libcst as cst

from fixsessions.codemods.engine import RunResult, Settings, run, write


def make_project(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(dedent(content).encode("utf-8"))
        else:
            path.write_bytes(content)
    return root


def _changes(result: RunResult, root: Path) -> dict[str, bytes]:
    return {f.path.relative_to(root).as_posix(): f.fixed for f in result.changed}


def check_noop(tmp_path: Path, files, settings: Settings = Settings()) -> RunResult:
    root = make_project(tmp_path / "project", files)
    result = run([root], settings)
    assert not result.errors, [f.error for f in result.errors]
    assert _changes(result, root) == {}
    return result


def check_transformed(
    tmp_path: Path, files, expected: dict[str, str | bytes], settings: Settings = Settings()
) -> RunResult:
    root = make_project(tmp_path / "project", files)
    result = run([root], settings)
    assert not result.errors, [f.error for f in result.errors]
    want = {
        name: dedent(text).encode("utf-8") if isinstance(text, str) else text
        for name, text in expected.items()
    }
    for name, data in want.items():
        cst.parse_module(data)  # the expected output itself must parse
        compile(data, name, "exec")
    got = _changes(result, root)
    assert got == want
    for file in result.changed:
        cst.parse_module(file.fixed)

    write(result)
    again = run([root], settings)
    assert _changes(again, root) == {}, "a second run changed the output again"
    return result


def findings(result: RunResult, code: str | None = None) -> list:
    return [f for f in result.findings if code is None or f.code == code]
