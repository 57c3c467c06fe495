"""How much of issue 9's time budget (20x ruff's wall on each tree) is left for the analysis
once fixsessions has done what it cannot avoid: start Python, import click (and LibCST, on a
tree where a file gets a fix), and parse with `ast` the files it parses, spread over the
same number of processes.

    python benchmarks/floor.py [--dest DIR] [--jobs N] [--repeat N] [--only NAME]

For each app folder built by benchmarks/corpus.py, each timed as its own command, median of
--repeat runs (of at least 7 for ruff):

- ruff: `ruff check --no-cache --select E9 --exit-zero .`, which parses every file;
- fixsessions: `--dry-run --no-cache --jobs N .`;
- imports: `python -c "import click"`, with `import libcst` added where the dry run shows a
  diff (fixsessions imports LibCST only for a file that gets a fix);
- floor: one command that does those imports, then reads, decodes and `ast.parse`s every file
  that fixsessions parses (recorded from one run of it in a child process, each file once),
  in one process and over N forked processes handed the files largest first, as fixsessions'
  pool is, whichever is faster (fixsessions reads a small round in one process, where a pool
  costs more than it saves). The cycle collector is off, as in fixsessions while it parses.

The floor does none of the analysis: no facts, no index, no rule, no fix, no output. So
``budget - floor`` is the most the analysis may take for fixsessions to stay within 20x of
ruff on that tree, to set beside what it takes now (``fixsessions - floor``). Prints a
Markdown table on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.apps_bench import (  # noqa: E402
    RUFF_ARGS,
    RUFF_REPEAT,
    find_ruff,
    tree_options,
    version,
)
from benchmarks.corpus import app_trees, count_py  # noqa: E402
from benchmarks.run import byte_compile, measure  # noqa: E402

TARGET = 20  # issue 9: wall within 20x ruff's on every tree

# Run in a child, in the tree: the files fixsessions parses (each once), as a JSON list, with
# the settings the CLI would read from the tree's pyproject.toml.
RECORD = """\
import json, sys
from pathlib import Path
from fixsessions.cli import _settings
from fixsessions.codemods.engine import core
seen = {}
parse = core.parse_ast
def recording(text, path):
    seen.setdefault(str(path), None)
    return parse(text, path)
core.parse_ast = recording
core.run([Path(".")], _settings([Path(".")], None, None, (), None, jobs=1, cache=False))
with open(sys.argv[1], "w") as out:
    json.dump(list(seen), out)
"""

# The floor: the imports the CLI cannot do without, then read + decode + parse, nothing else.
# `SourceText.decode` is left out on purpose: it is fixsessions' own code, and the floor is
# what any `ast`-based tool pays; UTF-8 with a fallback stands for it.
PARSE = """\
import sys
{imports}
import ast, gc, json, os, warnings
from multiprocessing import get_context

gc.disable()  # as fixsessions does while it parses (`core._no_cycle_collection`)

def parse(path):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(text, path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return None

def parse_all(paths):
    for path in paths:
        parse(path)

with open(sys.argv[1]) as listing:
    files = json.load(listing)
jobs = int(sys.argv[2])
sizes = {{path: os.stat(path).st_size + 1000 for path in files}}
files.sort(key=lambda p: -sizes[p])
if jobs == 1 or len(files) < 2:
    for path in files:
        parse(path)
else:
    # Chunked as fixsessions' pool chunks them (`core._chunks`): about an equal share of the
    # bytes each, largest files first, at most 64 files.
    share = sum(sizes.values()) / (jobs * 8)
    chunks, chunk, weight = [], [], 0
    for path in files:
        chunk.append(path)
        weight += sizes[path]
        if weight >= share or len(chunk) == 64:
            chunks.append(chunk)
            chunk, weight = [], 0
    chunks += [chunk] if chunk else []
    with get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap(parse_all, chunks, 1):
            pass
"""


class Failed(Exception):
    pass


def median_wall(command: list[str], cwd: Path, repeat: int, timeout: float, ok=(0,)) -> float:
    """The median wall of ``repeat`` runs; `Failed` if any run exits otherwise than ``ok`` or
    is killed at the time-out (its time would be no floor, or no run of fixsessions)."""
    runs = [measure(command, cwd, timeout=timeout, sample=False) for _ in range(repeat)]
    for run in runs:
        if run[2] is None:
            raise Failed(f"{Path(command[0]).name} killed after {timeout:g} s")
        if run[2] not in ok:
            raise Failed(f"{Path(command[0]).name} exited {run[2]}")
    return statistics.median(run[0] for run in runs)


def makes_a_fix(fixsessions: str, tree: Path, jobs: int, timeout: float) -> bool:
    done = subprocess.run([fixsessions, "--dry-run", "--no-cache", "--jobs", str(jobs), "."],
                          cwd=tree, capture_output=True, text=True, timeout=timeout, check=False)
    return any(line.startswith("+++ ") for line in done.stdout.splitlines())


def parsed_files(python: str, tree: Path, out: Path, timeout: float) -> list[str]:
    done = subprocess.run([python, "-P", "-c", RECORD, str(out)], cwd=tree, check=False,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise Failed(f"recording the parsed files: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.read_text())


def main() -> int:
    args = tree_options(__doc__, "only apps whose owner/name contains NAME").parse_args()
    ruff = find_ruff(args.fixsessions, args.ruff)
    python = str(Path(args.fixsessions).with_name("python"))
    if not Path(args.fixsessions).is_file() or not Path(python).is_file() or ruff is None:
        print(f"need fixsessions ({args.fixsessions}), the python beside it, and ruff", file=sys.stderr)
        return 2
    byte_compile(args.fixsessions)
    print(f"\n{version(args.fixsessions)}; {version(ruff)}; {os.cpu_count()} cores; "
          f"--jobs {args.jobs}; median of {args.repeat} run(s); "
          f"load average {os.getloadavg()[0]:.1f} at the start.\n")
    print(f"| tree | .py files | parsed | ruff (s) | budget {TARGET}x (s) | fix? | imports (s) | "
          "floor (s) | floor / ruff | fixsessions (s) | fixsessions / ruff | analysis now (s) | "
          "analysis budget (s) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="fixsessions-floor-") as scratch:
        for app, tree in app_trees(args.dest, args.only):
            label = app["repo"]
            print(f"{label} ...", file=sys.stderr, flush=True)
            listing = Path(scratch) / "parsed.json"
            try:
                files = parsed_files(python, tree, listing, args.timeout)
                fix = makes_a_fix(args.fixsessions, tree, args.jobs, args.timeout)
                imports = "import click, libcst" if fix else "import click"
                r_wall = median_wall([ruff, *RUFF_ARGS], tree, max(args.repeat, RUFF_REPEAT), args.timeout)
                ours = median_wall([args.fixsessions, "--dry-run", "--no-cache", "--jobs", str(args.jobs), "."],
                                   tree, args.repeat, args.timeout, ok=(0, 1))
                start = median_wall([python, "-P", "-c", imports], tree, args.repeat, args.timeout)
                # In one process or in a pool, whichever is faster: fixsessions reads a small
                # round in one process, where a pool would cost more than it saves.
                floor = min(
                    median_wall([python, "-P", "-c", PARSE.format(imports=imports), str(listing), str(jobs)],
                                tree, args.repeat, args.timeout)
                    for jobs in {1, args.jobs}
                )
            except (Failed, subprocess.TimeoutExpired) as exc:
                print(f"| {label} | {count_py(tree)} | error: {exc} |", flush=True)
                failed += 1
                continue
            budget = TARGET * r_wall
            print(f"| {label} | {count_py(tree)} | {len(files)} | {r_wall:.3f} | {budget:.2f} | "
                  f"{'yes' if fix else 'no'} | {start:.2f} | {floor:.2f} | {floor / r_wall:.1f}x | "
                  f"{ours:.2f} | {ours / r_wall:.1f}x | {ours - floor:.2f} | {budget - floor:.2f} |",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
