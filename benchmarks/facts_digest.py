"""Record a digest of what the analysis collects from every .py file under some folders, or
compare two such records: the proof that a change to the collectors changes no fact.

    python benchmarks/facts_digest.py --out FILE FOLDER [FOLDER ...]
    python benchmarks/facts_digest.py --compare OLD.json NEW.json

The first form runs `collect_facts` of the fixsessions it imports on each file Python can parse
and writes {path: sha1} of its whole result (the module's facts, the hand-made-session plans, the
nodes kept for rewrites), dumped canonically: sets and dicts sorted, `ast` nodes as their kind and
position. Run it with the same PYTHONHASHSEED for both records (the order of a set's first
insertion can differ between processes otherwise). The second form prints each file whose digest
differs or that one record lacks, and exits 1 if any does. The rule checks and the rewrites are
not covered: `findings.py` and a comparison of whole `--dry-run` outputs are.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path


def canonical(value):
    """``value`` as JSON-ready data that does not depend on set or dict order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, *([f.name, canonical(getattr(value, f.name))] for f in dataclasses.fields(value))]
    if isinstance(value, (set, frozenset)):
        return sorted((canonical(item) for item in value), key=repr)
    if isinstance(value, dict):
        return sorted(([canonical(k), canonical(v)] for k, v in value.items()), key=repr)
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, ast.AST):
        return [type(value).__name__, getattr(value, "lineno", None), getattr(value, "col_offset", None),
                getattr(value, "end_lineno", None)]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "__dict__"):  # a collector: its own state, not the shared Names/Positions
        return [type(value).__name__,
                *([k, canonical(v)] for k, v in sorted(vars(value).items()) if k not in ("names", "positions"))]
    return repr(value)


def digest(path: Path) -> str | None:
    """The digest of what `collect_facts` makes of ``path``; None where Python cannot parse it."""
    from fixsessions.codemods.analysis.facts import collect_facts, module_name_for
    from fixsessions.codemods.analysis.location import Positions
    from fixsessions.codemods.engine.source import SourceText, read_bytes

    try:
        text = SourceText.decode(read_bytes(path)).text
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError) as exc:
        return None if not isinstance(exc, OSError) else f"unreadable: {exc}"
    except Exception as exc:  # the source reader's own errors (encoding)
        return f"unreadable: {type(exc).__name__}"
    try:
        c = collect_facts(tree, Positions(text), path, module_name_for(path)[1])
    except Exception as exc:  # recorded, so that a change in what raises shows too
        return f"raised {type(exc).__name__}"
    data = canonical([c.facts, c.app_statements, c.function_nodes, c.factory_statements, c.session_plans,
                      c.caches, c.class_registry_statements, c.worker_statements])
    return hashlib.sha1(json.dumps(data, default=repr).encode()).hexdigest()


def record(folders: list[Path]) -> dict[str, str]:
    sys.setrecursionlimit(10_000)
    out = {}
    for folder in folders:
        for directory, subfolders, files in os.walk(folder):
            subfolders.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = Path(directory, name)
                    found = digest(path)
                    if found is not None:
                        out[str(path)] = found
    return out


def compare(old: dict[str, str], new: dict[str, str]) -> int:
    differ = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
    for path in differ:
        print(f"{path}: {old.get(path, 'missing')} -> {new.get(path, 'missing')}")
    print(f"{len(differ)} of {len(old.keys() | new.keys())} file(s) differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = parser.parse_args()
    if args.compare:
        old, new = (json.loads(p.read_text()) for p in args.compare)
        return compare(old, new)
    if not args.out or not args.folders:
        parser.error("give --out FILE and at least one folder, or --compare OLD NEW")
    found = record(args.folders)
    args.out.write_text(json.dumps(found, indent=0, sort_keys=True))
    print(f"wrote {args.out}: {len(found)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
