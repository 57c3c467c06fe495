"""Proof by execution: the example app serves stale data before the fix and fresh data after.

Each run is a separate process (both copies of the app are the package `cryptowallet`) on a
fresh SQLite database in WAL mode with SQLAlchemy emitting BEGIN, so that a transaction reads
one snapshot, as MySQL/InnoDB and PostgreSQL REPEATABLE READ do.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


def read_twice(app_dir: Path, db: Path, mode: str) -> dict:
    result = subprocess.run(
        # -B: no __pycache__ inside examples/, which must stay exactly what the tool makes.
        [sys.executable, "-B", str(HERE / "stale_read_scenario.py"), str(app_dir), str(db), mode],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["client", "server"])
def test_before_serves_the_stale_label(tmp_path, mode):
    reads = read_twice(EXAMPLES / "before", tmp_path / "wallet.db", mode)
    assert reads == {"first": "old", "second": "old"}


@pytest.mark.parametrize("mode", ["client", "server"])
def test_after_serves_the_committed_label(tmp_path, mode):
    reads = read_twice(EXAMPLES / "after", tmp_path / "wallet.db", mode)
    assert reads == {"first": "old", "second": "new"}
