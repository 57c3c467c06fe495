"""Materialise the real-app benchmark set: every app of benchmarks/apps.json, at its pinned
commit, in one folder per app (`owner+name`), from the bare git mirrors that the search tool's
`fetch` leaves under /work/.mirror/owner+name.

    python benchmarks/corpus.py [--dest DIR] [--mirrors DIR]

DIR defaults to $XDG_CACHE_HOME/fixsessions-bench (or ~/.cache/fixsessions-bench). An app whose
folder is already there at the right commit is kept as it is; a missing mirror is reported (it
must be fetched first) and the other apps are still built. Exits 1 if any app is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps.json"
MARKER = ".fixsessions-bench-commit"
MIRRORS = Path("/work/.mirror")


def default_dest() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "fixsessions-bench"


def load_apps() -> list[dict]:
    return json.loads(APPS.read_text())


def folder_name(repo: str) -> str:
    return repo.replace("/", "+")


def git_dir(mirror: Path) -> Path | None:
    """The git directory of a mirror: fetch leaves it at repo/, repo/.git or the folder itself."""
    for candidate in (mirror / "repo" / ".git", mirror / "repo", mirror):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def absent_blobs(gitdir: Path, commit: str) -> list[str]:
    """Paths at ``commit`` whose content the mirror lacks: fetch leaves out files of 4 MiB and
    more (and Git LFS content), and `git archive` stops at the first one it cannot read."""
    listing = subprocess.run(["git", f"--git-dir={gitdir}", "ls-tree", "-r", "-z", commit],
                             capture_output=True, check=True).stdout.split(b"\0")
    blobs = []
    for entry in filter(None, listing):
        meta, path = entry.split(b"\t", 1)
        if meta.split()[1] == b"blob":
            blobs.append((meta.split()[2], path.decode("utf-8", "surrogateescape")))
    query = b"".join(sha + b"\n" for sha, _ in blobs)
    answers = subprocess.run(["git", f"--git-dir={gitdir}", "cat-file", "--batch-check"],
                             input=query, capture_output=True, check=True).stdout.splitlines()
    return [path for (_, path), answer in zip(blobs, answers) if answer.endswith(b" missing")]


def checkout_without(gitdir: Path, commit: str, absent: list[str], dest: Path) -> bool:
    """Write ``commit``'s files into ``dest`` less the ``absent`` ones (`git archive` cannot leave
    them out), through a throw-away index: the mirror itself is not written to."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git = ["git", f"--git-dir={gitdir}", f"--work-tree={dest}"]
        steps = [
            (git + ["read-tree", commit], None),
            (git + ["update-index", "--force-remove", "-z", "--stdin"], "\0".join(absent).encode() + b"\0"),
            (git + ["checkout-index", "--all", "--force"], None),
        ]
        return all(subprocess.run(command, env=env, input=data).returncode == 0 for command, data in steps)


def is_current(tree: Path, commit: str) -> bool:
    marker = tree / MARKER
    return marker.is_file() and marker.read_text().strip() == commit


def materialise(app: dict, dest: Path, mirrors: Path) -> str:
    """Build one app's folder; returns what was done ("kept", "built", or why it was not)."""
    tree = dest / folder_name(app["repo"])
    if is_current(tree, app["commit"]):
        return "kept"
    gitdir = git_dir(mirrors / folder_name(app["repo"]))
    if gitdir is None:
        return "missing mirror"
    partial = dest / (folder_name(app["repo"]) + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        absent = absent_blobs(gitdir, app["commit"])
    except subprocess.CalledProcessError:
        shutil.rmtree(partial, ignore_errors=True)
        return f"commit {app['commit']} is not in the mirror {gitdir}"
    if absent:
        ok = checkout_without(gitdir, app["commit"], absent, partial)
    else:
        archive = subprocess.Popen(["git", f"--git-dir={gitdir}", "archive", app["commit"]],
                                   stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", str(partial)], stdin=archive.stdout)
        archive.stdout.close()
        ok = archive.wait() == 0 and untar.returncode == 0
    if not ok:
        shutil.rmtree(partial, ignore_errors=True)
        return f"could not extract {app['commit']} from {gitdir}"
    (partial / MARKER).write_text(app["commit"] + "\n")
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    if absent:
        python = [path for path in absent if path.endswith(".py")]
        return (f"built, without {len(absent)} file(s) the mirror lacks (4 MiB or more)"
                + (f", {len(python)} of them .py: {', '.join(python)}" if python else ""))
    return "built"


def app_trees(dest: Path, only: str | None = None) -> list[tuple[dict, Path]]:
    """(app, folder) for every app of apps.json that is materialised at its commit in ``dest``."""
    found = []
    for app in load_apps():
        if only and only.lower() not in app["repo"].lower():
            continue
        tree = dest / folder_name(app["repo"])
        if is_current(tree, app["commit"]):
            found.append((app, tree))
        else:
            print(f"warning: {app['repo']} is not in {dest} at {app['commit'][:12]}: "
                  f"run benchmarks/corpus.py --dest {dest}", file=sys.stderr)
    return found


def count_py(tree: Path) -> int:
    return sum(name.endswith(".py") for _, _, names in os.walk(tree) for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=default_dest(), help="where the app folders go")
    parser.add_argument("--mirrors", type=Path, default=MIRRORS, help="where the bare mirrors are")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    missing = []
    for app in load_apps():
        status = materialise(app, args.dest, args.mirrors)
        print(f"{app['repo']}: {status}", file=sys.stderr)
        if not status.startswith(("kept", "built")):
            missing.append(app["repo"])
    if missing:
        print(f"\n{len(missing)} app(s) not built. Their mirrors must be fetched first "
              f"(the search tool's fetch, github:owner/name) into {args.mirrors}:", file=sys.stderr)
        for repo in missing:
            print(f"  {repo}", file=sys.stderr)
        return 1
    print(f"{len(load_apps())} apps in {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
