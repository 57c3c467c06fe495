"""What the command line asks of git: which files have uncommitted changes, and the
`--branch` workflow (a new branch with the fixes committed on it)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path


class GitError(Exception):
    pass


def _git(*args: str, cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def repo_root(start: Path) -> Path | None:
    directory = start.resolve()
    if not directory.is_dir():
        directory = directory.parent
    try:
        return Path(_git("rev-parse", "--show-toplevel", cwd=directory).strip())
    except GitError:
        return None


def uncommitted(paths: list[Path]) -> list[Path]:
    """Those of ``paths`` that differ from HEAD (staged, unstaged, or untracked)."""
    if not paths:
        return []
    root = repo_root(paths[0])
    if root is None:
        return []
    out = _git("status", "--porcelain", "-z", "--", *(str(p.resolve()) for p in paths), cwd=root)
    dirty = {(root / entry[3:]).resolve() for entry in out.split("\0") if entry}
    return [p for p in paths if p.resolve() in dirty]


def commit_message(applied, line=None, reasons=None) -> str:
    """The subject, the count per rule, then (with ``line``) every fixed finding as
    ``line(finding)`` and (with ``reasons``, code -> one line) why each rule matters."""
    counts = Counter((f.code, f.name) for f in applied)
    lines = [f"fixsessions: fix {sum(counts.values())} session-lifecycle finding(s)", ""]
    lines += [f"- {code} {name}: {n}" for (code, name), n in sorted(counts.items())]
    if line is not None:
        lines += ["", "Fixed:"]
        lines += [f"- {line(f)}" for f in applied]
    if reasons:
        lines += ["", "Why:"]
        lines += [f"- {code}: {reasons[code]}" for code, _ in sorted(counts) if code in reasons]
    return "\n".join(lines) + "\n"


def create_branch(name: str, cwd: Path) -> None:
    try:
        _git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}", cwd=cwd)
    except GitError:
        _git("switch", "-c", name, cwd=cwd)
        return
    raise GitError(f"branch {name!r} already exists")


def commit(paths: list[Path], message: str, cwd: Path) -> str:
    """Commit ``paths`` only: what else the user had staged stays staged, out of the commit."""
    names = [str(p.resolve()) for p in paths]
    _git("add", "--", *names, cwd=cwd)
    _git("commit", "--quiet", "--only", "-m", message, "--", *names, cwd=cwd)
    return _git("rev-parse", "--short", "HEAD", cwd=cwd).strip()
