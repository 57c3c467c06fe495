"""Which files a run looks at: Python files under the given paths, minus what ruff skips by
default (VCS folders, virtualenvs, build output), what ``.gitignore`` files ignore, and
``--exclude`` globs. A file named explicitly on the command line is always included.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

# ruff's default `exclude`, plus __pycache__.
DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
        ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache",
        ".svn", ".tox", ".venv", ".vscode", "__pypackages__", "_build", "buck-out", "build",
        "dist", "node_modules", "site-packages", "venv", "__pycache__",
    }
)


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _is_virtualenv(directory: Path) -> bool:
    return (directory / "pyvenv.cfg").is_file()


def _git_root(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class _GitIgnores:
    """The .gitignore files that apply to a directory, nearest last (git's precedence). Paths
    are strings here: a Path made and taken apart for each file and each folder a walk meets
    cost privacyidea's checkout 70 ms of its 90 ms walk."""

    def __init__(self) -> None:
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        # (folder, git root) -> the specs that apply in it, root first, each with its folder
        # as a prefix (one walk's folder may be in two repositories: a submodule's, given
        # after its superproject's)
        self._chains: dict[tuple[str, str], list[tuple[str, pathspec.GitIgnoreSpec]]] = {}

    def _spec(self, directory: str) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._specs:
            path = os.path.join(directory, ".gitignore")
            spec = None
            if os.path.isfile(path):
                import pathspec  # only where a .gitignore is (15 ms of a small run's start-up)

                try:
                    with open(path, encoding="utf-8", errors="replace") as file:
                        lines = file.read().splitlines()
                    spec = pathspec.GitIgnoreSpec.from_lines(lines)
                except (OSError, ValueError):
                    spec = None
            self._specs[directory] = spec
        return self._specs[directory]

    def _chain(self, directory: str, root: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        chain = self._chains.get((directory, root))
        if chain is None:
            parent = os.path.dirname(directory)
            chain = [] if directory == root or parent == directory else self._chain(parent, root)
            spec = self._spec(directory)
            if spec is not None:
                chain = [*chain, (os.path.join(directory, ""), spec)]
            self._chains[directory, root] = chain
        return chain

    def ignored(self, path: str, root: str, is_dir: bool) -> bool:
        """Whether ``path`` (a file or folder under ``root``, both resolved) is ignored."""
        verdict = False
        for prefix, spec in self._chain(os.path.dirname(path), root):
            relative = path[len(prefix):]
            if os.sep != "/":
                relative = relative.replace(os.sep, "/")
            result = spec.check_file(relative + ("/" if is_dir else ""))
            if result.include is not None:
                verdict = result.include
        return verdict


def discover(paths: list[Path], exclude: list[str] = ()) -> Discovery:
    found = Discovery()
    seen: set[str] = set()
    ignores = _GitIgnores()
    cwd = Path.cwd()

    def excluded_by_glob(path: Path, base: Path) -> bool:
        """ruff's reading of --exclude: a glob on the path below the walked folder (or the
        working directory), or on the file or folder name alone."""
        if not exclude:
            return False
        candidates = {path.name, path.as_posix()}
        for anchor in (base, cwd):
            try:
                candidates.add(path.absolute().relative_to(anchor.absolute()).as_posix())
            except ValueError:
                pass
        return any(fnmatch.fnmatch(c, pattern) for c in candidates for pattern in exclude)

    def add(path: Path) -> None:
        key = os.path.abspath(path)  # walks follow no symlinks, so this names each file once
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    for given in paths:
        if given.is_symlink():
            # Named on the command line, a link is followed (as ruff does) to what it names,
            # so that a write replaces that file, not the link. Walks follow no links.
            target = Path(os.path.realpath(given))
            if not target.exists():
                found.skipped.append((given, "symlink to nothing (broken, or a loop)"))
                continue
            given = target
        if given.is_file():
            if not excluded_by_glob(given, given.parent):
                add(given)
            continue
        if not given.is_dir():
            found.skipped.append((given, "no such file or directory"))
            continue
        resolved_given = given.resolve()
        git_root = _git_root(resolved_given)
        root = str(git_root) if git_root else ""
        stack = [(given, str(resolved_given))]
        while stack:
            directory, resolved = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                found.skipped.append((directory, f"cannot list: {exc.strerror or exc}"))
                continue
            subdirs = []
            for entry in entries:
                name = entry.name
                if entry.is_symlink():
                    if name.endswith(".py"):
                        found.skipped.append((directory / name, "symlink (not followed)"))
                    continue
                if entry.is_dir():
                    path = directory / name
                    if name in DEFAULT_EXCLUDED_DIRS or name.endswith(".egg-info"):
                        continue
                    if _is_virtualenv(path) or excluded_by_glob(path, given):
                        continue
                    if root and ignores.ignored(os.path.join(resolved, name), root, is_dir=True):
                        continue
                    subdirs.append((path, os.path.join(resolved, name)))
                elif name.endswith(".py"):  # a Path only for what is kept: most entries are not
                    path = directory / name
                    if excluded_by_glob(path, given):
                        continue
                    if root and ignores.ignored(os.path.join(resolved, name), root, is_dir=False):
                        continue
                    add(path)
            stack.extend(reversed(subdirs))
    return found


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def project_root(path: Path, marked: dict | None = None) -> Path | None:
    """The nearest folder at or above ``path`` with a pyproject.toml, setup.py, setup.cfg or
    .git (as ruff and black find a project), or None. ``marked`` remembers, across calls of
    one run, which folders have a marker."""
    directory = Path(os.path.abspath(path))
    if not directory.is_dir():
        directory = directory.parent
    marked = {} if marked is None else marked
    for candidate in (directory, *directory.parents):
        found = marked.get(candidate)
        if found is None:
            found = marked[candidate] = any(
                os.path.exists(os.path.join(candidate, marker)) for marker in PROJECT_MARKERS
            )
        if found:
            return candidate
    return None


def context_folders(path: Path, import_root: Path, marked: dict | None = None) -> tuple[list[Path], list[Path]]:
    """Where the rest of a named file's project is: (folders to walk, folders whose own .py
    files count, not their subfolders). The file's import root, but never above its project
    root; outside any project, its top-level package, or else its own folder's files alone
    (a file in /tmp costs that folder's listing, not a walk of /tmp)."""
    path = Path(os.path.abspath(path))
    project = project_root(path.parent, marked)
    if project is not None:
        if _within(import_root, project):
            return [import_root], []
        return [project], []
    if path.parent != import_root:
        top = import_root / path.parent.relative_to(import_root).parts[0]
        return [top], []
    return [], [path.parent]


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def python_files_in(folder: Path, exclude: list[str] = ()) -> list[Path]:
    """The .py files directly in ``folder`` (no walk), regular files only."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    return [
        folder / e.name for e in entries
        if e.name.endswith(".py") and not e.is_symlink() and e.is_file()
        and not any(fnmatch.fnmatch(e.name, pattern) for pattern in exclude)
    ]
