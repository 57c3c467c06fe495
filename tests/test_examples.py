"""examples/after is exactly what fixsessions makes of examples/before, by every route."""

import shutil
import subprocess
from pathlib import Path

import pytest

from test_cli import fixsessions, snapshot

REPO = Path(__file__).resolve().parent.parent
BEFORE = REPO / "examples" / "before"
AFTER = REPO / "examples" / "after"


def test_write_mode_turns_before_into_after_byte_for_byte(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(BEFORE, tree)
    result = fixsessions(".", cwd=tree)
    assert result.returncode in (0, 1), result.stderr
    assert snapshot(tree) == snapshot(AFTER)


def test_dry_run_diff_applies_to_after(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "work"
    shutil.copytree(BEFORE, work / "examples" / "before")
    dry = fixsessions("--dry-run", "examples/before", cwd=work)
    assert dry.returncode == 1
    assert b"+++ b/examples/before/cryptowallet/app.py" in dry.stdout
    (tmp_path / "fix.patch").write_bytes(dry.stdout)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    subprocess.run(["git", "apply", str(tmp_path / "fix.patch")], cwd=work, check=True)
    assert snapshot(work / "examples" / "before") == snapshot(AFTER)


def test_second_run_on_after_proposes_nothing(tmp_path):
    result = fixsessions("--dry-run", str(AFTER), cwd=tmp_path)
    assert result.stdout == b""
    assert b"Would fix" not in result.stderr
