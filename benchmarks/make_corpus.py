"""Copy a Python installation's standard library and site-packages into one folder, as a
stand-in for a monorepo: only .py files, and every folder whose name fixsessions or ruff would
skip by default (site-packages, build, dist, .venv, ...) renamed, so that nothing is excluded.

    python benchmarks/make_corpus.py DEST [--python PYTHON] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fixsessions.codemods.engine.discovery import DEFAULT_EXCLUDED_DIRS  # noqa: E402


def neutral(part: str) -> str:
    if part in DEFAULT_EXCLUDED_DIRS or part.startswith(".") or part.endswith(".egg-info"):
        return "x_" + part.lstrip(".")
    return part


def library_dirs(python: str) -> list[Path]:
    code = "import json, sysconfig; print(json.dumps([sysconfig.get_path('stdlib'), sysconfig.get_path('purelib')]))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return [Path(p) for p in json.loads(out)]


def copy(dest: Path, python: str, limit: int | None = None, skip: frozenset[str] = frozenset()) -> int:
    """Copy the .py files; ``skip`` names packages (folder names) left out wherever they are."""
    stdlib, purelib = library_dirs(python)
    count = 0
    for name, source in (("stdlib", stdlib), ("packages", purelib)):
        for dirpath, dirnames, filenames in os.walk(source):
            here = Path(dirpath)
            if name == "stdlib" and here == stdlib:
                dirnames[:] = [d for d in dirnames if here / d != purelib]
            dirnames[:] = [d for d in dirnames if d not in skip]
            for filename in sorted(filenames):
                if not filename.endswith(".py"):
                    continue
                relative = (here / filename).relative_to(source)
                target = dest / name / Path(*map(neutral, relative.parts))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(here / filename, target)
                count += 1
                if limit and count >= limit:
                    return count
    return count


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--skip", action="append", default=[], help="a package (folder) to leave out")
    args = parser.parse_args()
    if args.dest.exists():
        shutil.rmtree(args.dest)
    print(copy(args.dest, args.python, args.limit, frozenset(args.skip)), "files copied to", args.dest)
