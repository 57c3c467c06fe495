"""Judge fixsessions against the judged locations of the real-app set (benchmarks/judged.json):
precision per rule, safe fixes where a fix is wrong, rewrites judged risky or wrong that are
still made, the judged locations it misses, and the findings nobody has judged yet.

    python benchmarks/precision.py [--fixsessions PATH] [--dest DIR] [--only NAME] [--jobs N]

It runs `FIXSESSIONS --check --format json .` in every app folder built by benchmarks/corpus.py
(the same trees as apps_bench.py and findings.py). A finding is right where judged.json expects
`fix` or `report` at its file, line and rule, and wrong where it expects `none`; precision is
right / (right + wrong). A safe fix (applied by default) is wrong wherever the expectation is not
`fix`. Unjudged findings are listed, to be judged and added: until they are, the figures say
nothing about them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import app_trees, default_dest  # noqa: E402
from findings import run_json  # noqa: E402

NEAR = 3  # lines: a judged rewrite matches a fix whose edits start this close to it


def load(path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))
    expected = {}
    for loc in data["locations"]:
        expected[(loc["repo"], loc["file"], loc["line"], loc["rule"])] = loc
    return expected, data["hunks"]


def judge(expected: dict, hunks: list, results: dict) -> dict:
    """``results``: repo -> list of JSON findings. What the report prints, as data."""
    per_rule = defaultdict(lambda: {"right": 0, "wrong": 0, "unjudged": 0})
    wrong_fixes, unjudged, bad_hunks, seen = [], [], [], set()
    fixes_by_file = defaultdict(list)  # (repo, file) -> first lines of the edits of safe fixes
    for repo, found in results.items():
        for f in found:
            path = f["path"].replace("\\", "/").removeprefix("./")
            key = (repo, path, f["line"], f["code"])
            seen.add(key)
            loc = expected.get(key)
            applicability = f["fix"]["applicability"]
            if applicability == "safe":
                fixes_by_file[(repo, path)] += [e["location"]["line"] for e in f["fix"].get("edits", [])] or [f["line"]]
            if loc is None:
                per_rule[f["code"]]["unjudged"] += 1
                unjudged.append((key, f["message"]))
                continue
            right = loc["expected"] in ("fix", "report")
            per_rule[f["code"]]["right" if right else "wrong"] += 1
            if applicability == "safe" and loc["expected"] != "fix":
                wrong_fixes.append((key, loc))
    for hunk in hunks:
        if hunk["judgement"] == "correct":
            continue
        lines = fixes_by_file.get((hunk["repo"], hunk["file"]), [])
        if any(abs(line - hunk["line"]) <= NEAR for line in lines):
            bad_hunks.append(hunk)
    misses = [
        loc for key, loc in sorted(expected.items())
        if loc["expected"] in ("fix", "report") and key not in seen and loc["repo"] in results
    ]
    return {"per_rule": dict(per_rule), "wrong_fixes": wrong_fixes, "bad_hunks": bad_hunks,
            "misses": misses, "unjudged": unjudged}


def report(verdict: dict) -> str:
    out = ["| rule | findings | right | wrong | unjudged | precision |", "|---|---:|---:|---:|---:|---:|"]
    for rule, n in sorted(verdict["per_rule"].items()):
        judged = n["right"] + n["wrong"]
        precision = f"{100 * n['right'] / judged:.0f}%" if judged else "-"
        out.append(f"| {rule} | {judged + n['unjudged']} | {n['right']} | {n['wrong']} | {n['unjudged']} | {precision} |")
    out.append("")
    out.append(f"Safe fixes where judged.json expects no fix: {len(verdict['wrong_fixes'])}")
    for (repo, path, line, rule), loc in verdict["wrong_fixes"]:
        out.append(f"  {repo} {path}:{line} {rule} (expected {loc['expected']}): {loc['why']}")
    out.append(f"Rewrites judged risky or wrong that are still made: {len(verdict['bad_hunks'])}")
    for h in verdict["bad_hunks"]:
        out.append(f"  {h['repo']} {h['file']}:{h['line']} {h['rule']} ({h['judgement']}): {h['why']}")
    out.append(f"Judged locations missed: {len(verdict['misses'])}")
    for loc in verdict["misses"]:
        out.append(f"  {loc['repo']} {loc['file']}:{loc['line']} {loc['rule']} (expected {loc['expected']}): {loc['why']}")
    out.append(f"Findings not judged yet: {len(verdict['unjudged'])}")
    for (repo, path, line, rule), message in verdict["unjudged"]:
        out.append(f"  {repo} {path}:{line} {rule}: {message}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixsessions", default=str(Path(sys.executable).with_name("fixsessions")))
    parser.add_argument("--dest", type=Path, default=default_dest())
    parser.add_argument("--judged", type=Path, default=HERE / "judged.json")
    parser.add_argument("--only")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    expected, hunks = load(args.judged)
    results, failed = {}, []
    for app, tree in app_trees(args.dest, args.only):
        print(f"{app['repo']} ...", file=sys.stderr)
        data, code, err = run_json(args.fixsessions, tree, ["--check"], args.jobs, args.timeout)
        if data is None:
            failed.append(app["repo"])
            print(f"{app['repo']}: no JSON (exit {code}): {err.strip()[-300:]}", file=sys.stderr)
            continue
        results[app["repo"]] = data
    if not results:
        print("no app could be run: build them with benchmarks/corpus.py", file=sys.stderr)
        return 2
    print(report(judge(expected, hunks, results)))
    if failed:
        print(f"\nNot run (no JSON): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
