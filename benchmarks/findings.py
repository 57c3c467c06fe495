"""Record every finding fixsessions reports on the real-app set, or compare two such records:
the proof that a rewrite changes no finding.

    python benchmarks/findings.py --out FILE [--fixsessions PATH] [--dest DIR] [--only NAME] [--resume]
    python benchmarks/findings.py --compare OLD.json NEW.json

The first form runs `FIXSESSIONS --check --format json .` in every app folder built by
benchmarks/corpus.py (falling back to `--dry-run --format json` on a version whose --check has no
JSON) and writes {app: sorted list of [path, line, column, code, message, applicability]}. An
app whose run printed no JSON (a crash, a time-out) is written as null and reported. FILE is
rewritten after each app; --resume keeps the apps it already holds and runs the others. The second
form prints, per app, every finding that is in one file and not the other, and exits 1 if any
differ.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import app_trees, default_dest  # noqa: E402

MODES = (["--check"], ["--dry-run"])


def run_json(fixsessions: str, tree: Path, mode: list[str], jobs: int, timeout: float | None):
    """(parsed JSON or None, exit code or None on time-out, stderr)."""
    command = [fixsessions, *mode, "--format", "json", "--jobs", str(jobs), "."]
    process = subprocess.Popen(command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return None, None, err.decode("utf-8", "replace")
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    return (data if isinstance(data, list) else None), process.returncode, err.decode("utf-8", "replace")


def rows(findings: list[dict]) -> list[list]:
    out = []
    for f in findings:
        path = f["path"].replace("\\", "/").removeprefix("./")
        out.append([path, f["line"], f["column"], f["code"], f["message"], f["fix"]["applicability"]])
    return sorted(out)


def dumps(result: dict) -> str:
    """JSON with one finding a line, so that two files diff well."""
    apps = []
    for app, found in result.items():
        if found is None:
            apps.append(f" {json.dumps(app)}: null")
        else:
            lines = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in found)
            apps.append(f" {json.dumps(app)}: [\n{lines}\n ]" if found else f" {json.dumps(app)}: []")
    return "{\n" + ",\n".join(apps) + "\n}\n"


def save(out: Path, result: dict) -> None:
    """Written after every app, so that a long run stopped half-way keeps what it found."""
    partial = out.with_name(out.name + ".partial")
    partial.write_text(dumps(result))
    partial.replace(out)


def record(args) -> int:
    if not Path(args.fixsessions).is_file():
        print(f"no fixsessions at {args.fixsessions}: pass --fixsessions PATH", file=sys.stderr)
        return 2
    trees = app_trees(args.dest, args.only)
    if not trees:
        print(f"no app in {args.dest}: run benchmarks/corpus.py first", file=sys.stderr)
        return 2
    result: dict[str, list | None] = {}
    if args.resume and args.out.is_file():
        result = {app: found for app, found in json.loads(args.out.read_text()).items() if found is not None}
        print(f"resuming: {len(result)} app(s) already in {args.out}", file=sys.stderr)
    mode = MODES[0]
    failed = 0
    for app, tree in trees:
        if app["repo"] in result:
            continue
        data, code, err = run_json(args.fixsessions, tree, mode, args.jobs, args.timeout)
        if data is None and code not in (None, 0, 1) and mode == MODES[0]:
            # Older versions may not print JSON with --check: try --dry-run once, keep what works.
            retry = run_json(args.fixsessions, tree, MODES[1], args.jobs, args.timeout)
            if retry[0] is not None:
                print(f"note: --check --format json failed (exit {code}); using --dry-run from now on "
                      "(it leaves out findings whose fix it would apply)", file=sys.stderr)
                mode = MODES[1]
                data, code, err = retry
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        if data is None:
            failed += 1
            why = f"timed out after {args.timeout} s" if code is None else f"exit {code}, no JSON"
            print(f"{app['repo']}: FAILED ({why})", file=sys.stderr)
            for line in (errors or err.strip().splitlines())[-5:]:
                print(f"    {line}", file=sys.stderr)
            result[app["repo"]] = None
            save(args.out, result)
            continue
        result[app["repo"]] = rows(data)
        counts = Counter(row[3] for row in result[app["repo"]])
        summary = ", ".join(f"{c} {n}" for c, n in sorted(counts.items())) or "none"
        note = f" (exit {code}: {len(errors)} error line(s))" if code not in (0, 1) or errors else ""
        print(f"{app['repo']}: {sum(counts.values())} finding(s): {summary}{note}", file=sys.stderr)
        for line in errors[:5]:
            print(f"    {line}", file=sys.stderr)
        save(args.out, result)
    save(args.out, result)
    total = Counter(row[3] for found in result.values() if found for row in found)
    print(f"wrote {args.out}: {sum(total.values())} finding(s) in {len(result)} app(s): "
          + ", ".join(f"{c} {n}" for c, n in sorted(total.items())), file=sys.stderr)
    return 1 if failed else 0


def compare(old_file: Path, new_file: Path) -> int:
    old, new = json.loads(old_file.read_text()), json.loads(new_file.read_text())
    differ = False
    for app in sorted(set(old) | set(new)):
        if app not in old or app not in new:
            print(f"{app}: only in {old_file if app in old else new_file}")
            differ = True
            continue
        if old[app] is None or new[app] is None:
            if old[app] != new[app]:
                print(f"{app}: no result in {old_file if old[app] is None else new_file}")
                differ = True
            continue
        before = Counter(tuple(row) for row in old[app])
        after = Counter(tuple(row) for row in new[app])
        gone, added = before - after, after - before
        if gone or added:
            differ = True
            print(f"{app}: {sum(gone.values())} only in {old_file}, {sum(added.values())} only in {new_file}")
            for sign, rows_ in (("-", gone), ("+", added)):
                for row in sorted(rows_.elements()):
                    path, line, column, code, message, applicability = row
                    print(f"  {sign} {path}:{line}:{column}: {code} [{applicability}] {message}")
    if not differ:
        print(f"no difference: {sum(len(v or []) for v in new.values())} finding(s) in {len(new)} app(s)")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"),
                        help="compare two files written by --out")
    parser.add_argument("--out", type=Path, help="where to write the findings (JSON)")
    parser.add_argument("--fixsessions", default=str(Path(sys.executable).parent / "fixsessions"))
    parser.add_argument("--dest", type=Path, default=default_dest(), help="where corpus.py built the apps")
    parser.add_argument("--only", metavar="NAME", help="only apps whose owner/name contains NAME")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per app (default: none)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the apps already recorded in --out (not null) and run only the others")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        parser.error("--out FILE or --compare OLD NEW is required")
    return record(args)


if __name__ == "__main__":
    sys.exit(main())
