"""The tools teams already use, for real: pre-commit, flake8, and the git branch workflow."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_project
from test_cli import APP, fixsessions

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(*args, cwd):
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


def repository(tmp_path: Path, files: dict) -> Path:
    root = make_project(tmp_path / "repo", files)
    git("init", "-q", "-b", "main", cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-q", "-m", "initial", cwd=root)
    return root


# -- pre-commit -----------------------------------------------------------------------------------


@needs_git
def test_pre_commit_hooks(tmp_path):
    root = repository(tmp_path, {"app.py": APP})
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PATH": f"{BIN}:{os.environ['PATH']}"}

    def try_repo(hook):
        return subprocess.run(
            [str(BIN / "pre-commit"), "try-repo", str(REPO), hook, "--all-files"],
            cwd=root, env=env, capture_output=True, text=True, timeout=900,
        )

    check = try_repo("fixsessions-check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "app.py:5:7: FS001 Flask app `app` uses scoped_session" in check.stdout
    assert "remove()" not in (root / "app.py").read_text()

    fixing = try_repo("fixsessions")
    assert fixing.returncode == 1  # pre-commit fails a hook that changed files
    assert "files were modified by this hook" in fixing.stdout
    assert "def shutdown_session(exception=None):\n    db_session.remove()" in (root / "app.py").read_text()
    assert try_repo("fixsessions-check").returncode == 0


# -- flake8 ---------------------------------------------------------------------------------------


def test_flake8_plugin_reports_the_same_findings(tmp_path):
    root = make_project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": "from sqlalchemy.orm import scoped_session\n\ndb_session = scoped_session(maker)\n",
        "pkg/app.py": "from flask import Flask\n\nfrom . import database\n\napp = Flask(__name__)\n",
    })
    result = subprocess.run(
        [str(BIN / "flake8"), "--enable-extensions", "FS", "--select", "FS", "pkg"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "pkg/app.py:5:7: FS001 Flask app `app` uses scoped_session `db_session` (pkg/database.py:3) "
        "but no teardown calls `remove()`: worker threads keep one session and its transaction "
        "across requests"
    ]
    assert "remove()" not in (root / "pkg" / "app.py").read_text()  # flake8 never writes
    # Off unless asked (issue 12): installed, it must not run in every flake8 run.
    plain = subprocess.run([str(BIN / "flake8"), "pkg"], cwd=root, capture_output=True, text=True, timeout=120)
    assert "FS001" not in plain.stdout


# -- the branch workflow --------------------------------------------------------------------------


@needs_git
def test_branch_commits_the_fixes_with_rules_and_counts(tmp_path):
    root = repository(tmp_path, {"app.py": APP, "admin.py": APP.replace("app =", "admin =").replace("@app", "@admin")})
    result = fixsessions("--branch", "fix-sessions", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert b"to branch fix-sessions" in result.stderr
    assert git("branch", "--show-current", cwd=root).strip() == "fix-sessions"
    assert git("log", "-1", "--format=%B", cwd=root).strip() == (
        "fixsessions: fix 2 session-lifecycle finding(s)\n\n- FS001 missing-teardown: 2\n\n"
        "Fixed:\n"
        "- admin.py:5:9: FS001 Flask app `admin` uses scoped_session `db_session` (admin.py:4) but no "
        "teardown calls `remove()`: worker threads keep one session and its transaction across requests\n"
        "- app.py:5:7: FS001 Flask app `app` uses scoped_session `db_session` (app.py:4) but no "
        "teardown calls `remove()`: worker threads keep one session and its transaction across requests\n\n"
        "Why:\n- FS001: `scoped_session` gives one session per thread, not per request."
    )
    assert git("status", "--porcelain", cwd=root) == ""
    assert git("show", "main:app.py", cwd=root) == APP  # main is untouched
    assert "db_session.remove()" in (root / "app.py").read_text()


@needs_git
def test_branch_commits_only_what_fixsessions_wrote(tmp_path):
    # Issue 12: the fix commit took the user's staged work along.
    root = repository(tmp_path, {"app.py": APP, "notes.txt": "one\n"})
    (root / "notes.txt").write_text("two\n")
    git("add", "notes.txt", cwd=root)
    result = fixsessions("--branch", "fix-sessions", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert git("show", "--name-only", "--format=", "HEAD", cwd=root).split() == ["app.py"]
    assert git("diff", "--cached", "--name-only", cwd=root).split() == ["notes.txt"]
    assert (root / "notes.txt").read_text() == "two\n"
    git("switch", "main", cwd=root)  # and the way back is open
    assert git("diff", "--cached", "--name-only", cwd=root).split() == ["notes.txt"]


@needs_git
def test_branch_that_exists_is_refused(tmp_path):
    root = repository(tmp_path, {"app.py": APP})
    git("branch", "taken", cwd=root)
    result = fixsessions("--branch", "taken", ".", cwd=root)
    assert result.returncode == 2
    assert b"branch 'taken' already exists" in result.stderr
    assert (root / "app.py").read_text() == APP


@needs_git
def test_write_mode_refuses_files_with_uncommitted_changes(tmp_path):
    root = repository(tmp_path, {"app.py": APP, "other.py": "x = 1\n"})
    edited = APP + "# work in progress\n"
    (root / "app.py").write_text(edited)
    (root / "other.py").write_text("x = 2\n")  # dirty, but nothing to fix there
    refused = fixsessions(".", cwd=root)
    assert refused.returncode == 2
    assert refused.stderr.decode().splitlines()[:2] == [
        "error: these files have uncommitted changes; commit or stash them, or pass --allow-dirty:",
        "  app.py",
    ]
    assert (root / "app.py").read_text() == edited
    allowed = fixsessions("--allow-dirty", ".", cwd=root)
    assert allowed.returncode == 0
    assert "db_session.remove()" in (root / "app.py").read_text()


def test_branch_outside_a_git_repository(tmp_path):
    root = make_project(tmp_path, {"app.py": APP})
    result = fixsessions("--branch", "x", ".", cwd=root)
    assert result.returncode == 2 and b"--branch needs a git repository" in result.stderr
    assert (root / "app.py").read_text() == APP
