"""The pytest plugin (`pytest --fixsessions-guard`) on the example app's own test suite
(tests/guarded_suite.py): it fails the tests whose requests leak on examples/before, and
none on examples/after."""

import os
import shutil
import subprocess
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


def run_suite(tmp_path: Path, side: str, *args: str, ini: str = "") -> subprocess.CompletedProcess:
    """pytest on a copy of the suite and of one side of the example, in a folder of its own."""
    shutil.copytree(EXAMPLES / side, tmp_path / side)
    shutil.copy(HERE / "guarded_suite.py", tmp_path)
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}")
    env = {**os.environ, "FIXSESSIONS_EXAMPLE": str(tmp_path / side),
           "FIXSESSIONS_EXAMPLE_DB": str(tmp_path / f"{side}.db")}
    return subprocess.run(
        [sys.executable, "-B", "-m", "pytest", "-p", "no:cacheprovider", "guarded_suite.py", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_before_fails_the_tests_whose_requests_leak(tmp_path):
    result = run_suite(tmp_path, "before", "--fixsessions-guard")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "FAILED guarded_suite.py::test_show_transaction - Failed: fixsessions guard" in out
    assert "FAILED guarded_suite.py::test_unknown_transaction_is_404" in out
    assert (
        "GET /api/transactions/1 (endpoint api.show_transaction): scoped_session "
        "`cryptowallet.database.db_session` still holds this thread's session with its "
        "transaction open (used at before/cryptowallet/views.py:77 in show_transaction)"
    ) in out
    assert "Call `db_session.remove()` in a teardown_appcontext handler (fixsessions FS001)" in out
    assert "test_no_request_here" not in out.split("short test summary info")[1]


def test_after_passes_with_the_guard_on(tmp_path):
    result = run_suite(tmp_path, "after", "--fixsessions-guard")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout and "fixsessions guard" not in result.stdout


def test_the_plugin_is_off_unless_asked(tmp_path):
    result = run_suite(tmp_path, "before")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_ini_option_turns_it_on(tmp_path):
    result = run_suite(tmp_path, "before", ini="fixsessions_guard = true\n")
    assert result.returncode == 1
    assert "FAILED guarded_suite.py::test_show_transaction" in result.stdout


def test_it_is_found_through_its_entry_point():
    from importlib.metadata import entry_points

    [plugin] = [e for e in entry_points(group="pytest11") if e.name == "fixsessions"]
    assert plugin.value == "fixsessions.pytest_plugin"
