"""Count the work fixsessions' file selection does on each corpus app, rather than time it:
the bytes it parses with `ast` and the bytes it indexes (`collect_facts`, whole or, for test
modules read partly, partly), while the pre-filter's rounds select files (`_select`), in one
`--jobs 1 --dry-run` run per tree. On a shared machine whose speed drifts (by 30% within an
hour in the tenth session, ruff's walls with it), a change of a few percent does not show in
wall times; counted work does not drift.

    python benchmarks/work.py [--dest DIR] [--out FILE.json] [--against OLD.json]

`--against` prints each tree's change from a record made with `--out` by another version
(run this script with that version first on PYTHONPATH). One unit of work is a byte parsed;
a byte indexed whole counts 1.7 (privacyidea's modules, one core: `ast.parse` 1.54 s, the
collectors 2.66 s, on the same 10.3 MB), a byte indexed partly 0.1. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEIGHTS = {"parsed": 1.0, "indexed": 1.7, "indexed_partly": 0.1}

# Run in a child per tree, in the tree: counts what `_select` parses and indexes.
CHILD = r"""
import json, sys
from fixsessions.codemods.engine import core
counts = {"parses": 0, "parsed": 0, "indexed": 0, "indexed_partly": 0}
selecting = []
real_tree, real_collect, real_select = core._tree, core.collect_facts, core._select

def tree(result, data=None):
    answer = real_tree(result, data)
    if selecting and answer is not None:
        counts["parses"] += 1
        counts["parsed"] += len(answer[0].text)
    return answer

def collect(tree, positions, path, where, partly=False):
    if selecting:
        counts["indexed_partly" if partly else "indexed"] += len(positions.text)
    return real_collect(tree, positions, path, where, partly)

def select(*args):
    selecting.append(True)
    try:
        return real_select(*args)
    finally:
        selecting.clear()

core._tree, core.collect_facts, core._select = tree, collect, select
from fixsessions.cli import main
sys.argv = ["fixsessions", "--dry-run", "--no-cache", "--jobs", "1", "--quiet", "."]
try:
    main()
except SystemExit:
    pass
sys.__stderr__.write("WORK " + json.dumps(counts) + "\n")
"""


def units(counts: dict) -> float:
    return sum(WEIGHTS[key] * counts.get(key, 0) for key in WEIGHTS)


def count(tree: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=tree, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stderr.splitlines() if line.startswith("WORK ")]
    if not lines:
        raise SystemExit(f"{tree}: no count (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1][5:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fixsessions-apps")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--against", type=Path)
    args = parser.parse_args()
    trees = sorted(p for p in args.dest.iterdir() if p.is_dir())
    if not trees:
        raise SystemExit(f"no app folders in {args.dest}: run benchmarks/corpus.py first")
    before = json.loads(args.against.read_text()) if args.against else {}
    record = {}
    print("| tree | parses | MB parsed | MB indexed | MB indexed partly | units (M) | change |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = [0.0, 0.0]
    for tree in trees:
        counts = record[tree.name] = count(tree)
        work = units(counts)
        old = units(before[tree.name]) if tree.name in before else None
        change = f"{100 * (work / old - 1):+.1f}%" if old else ""
        if old:
            total[0] += old
            total[1] += work
        print(f"| {tree.name} | {counts['parses']} | {counts['parsed'] / 1e6:.2f} | {counts['indexed'] / 1e6:.2f} | "
              f"{counts['indexed_partly'] / 1e6:.2f} | {work / 1e6:.2f} | {change} |", flush=True)
    if total[0]:
        print(f"\nIn all: {total[0] / 1e6:.1f} -> {total[1] / 1e6:.1f} M units ({100 * (total[1] / total[0] - 1):+.1f}%).")
    if args.out:
        args.out.write_text(json.dumps(record, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
