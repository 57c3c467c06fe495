"""Time `fixsessions --dry-run` against the LibCST codemod runner doing equivalent work and
against ruff (which parses every file), side by side, with peak memory of each process tree.

    python benchmarks/run.py [--corpus DIR] [--jobs N] [--repeat N] [--skip-libcst]

Prints a Markdown table. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# fixsessions --dry-run exits 1 when it proposes changes; that is a successful run.
OK_EXIT = {"fixsessions": (0, 1), "ruff": (0,), "libcst": (0,)}
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent


def _tree_memory_kib(root_pid: int, pss: bool = True) -> tuple[int, int]:
    """Resident memory of a process and all its descendants, from /proc: (summed RSS, summed
    PSS). RSS counts a page each forked worker shares with its parent once per process; PSS
    (proportional set size) divides shared pages among the processes sharing them, so its sum
    is the memory the tree really holds."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/status") as handle:
                kib = next((int(line.split()[1]) for line in handle if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = kib
    total, proportional, todo = 0, 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        proportional += _pss_kib(pid) if pss else 0
        todo.extend(children.get(pid, []))
    return total, proportional


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            return next((int(line.split()[1]) for line in handle if line.startswith("Pss:")), 0)
    except (OSError, ValueError, IndexError):
        return 0


def measure(command: list[str], cwd: Path, env=None, timeout: float | None = None,
            sample: bool = True) -> tuple[float, int, int | None, int, float]:
    """(wall seconds, peak summed RSS of the process tree in MiB, exit code, peak summed PSS
    in MiB, CPU seconds of the process tree). Past ``timeout`` the process group is killed and
    the exit code is None: the times are then lower bounds. With ``sample`` false, memory is
    not sampled (0): the sampler reads /proc every 20 ms and takes CPU from the run it
    measures. The CPU time (user + system, the command and every process it waited for)
    depends less than the wall time on what else the machine runs.

    The end is taken when `os.wait4` returns, the moment the child is reaped. Not with
    `Popen.wait(timeout=...)`: that polls, sleeping 1, 2, 4 ... 32 ms, then 50 ms at a time,
    so every wall time it gave was rounded up to 0.031, 0.063, 0.113, 0.163 s and so on (a
    ruff run of 0.07 s showed as 0.113 s)."""
    peak = peak_pss = 0
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    done = threading.Event()

    def watch():
        nonlocal peak, peak_pss
        count = 0
        while not done.is_set():
            # PSS asks the kernel to walk every page table: every fifth sample, so that the
            # sampler does not take a core's time from the run it measures.
            rss, pss = _tree_memory_kib(process.pid, pss=count % 5 == 0)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            count += 1
            done.wait(0.02)

    killed = threading.Event()

    def kill():
        killed.set()
        _kill_group(process.pid)

    killer = threading.Timer(timeout, kill) if timeout is not None else None
    sampler = threading.Thread(target=watch, daemon=True) if sample else None
    try:
        for thread in (killer, sampler):
            if thread is not None:
                thread.start()
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:  # Ctrl-C: nothing left running, no timer left to wait for
        _kill_group(process.pid)
        process.wait()
        raise
    finally:
        if killer is not None:
            killer.cancel()
        done.set()
    wall = time.perf_counter() - start
    process.returncode = code = os.waitstatus_to_exitcode(status)
    if killed.is_set() and code == -9:  # not a run that ended as the timer fired
        _kill_group(process.pid)  # what the command left running in its group
        code = None
    if sampler is not None:
        sampler.join()
    return wall, peak // 1024, code, peak_pss // 1024, usage.ru_utime + usage.ru_stime


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, 9)
    except ProcessLookupError:
        pass


def byte_compile(fixsessions: str) -> None:
    """Write the tool's bytecode once, as an install or a first run does. Some containers set
    PYTHONDONTWRITEBYTECODE, and an editable install then compiles its own sources on every
    timed run (about 0.07 s a run on this machine)."""
    python = Path(fixsessions).with_name("python")
    code = (
        "import importlib, pkgutil, fixsessions.codemods as c\n"
        "import fixsessions.cli\n"
        "for m in pkgutil.walk_packages(c.__path__, 'fixsessions.codemods.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(python), "-c", code], env=env, check=False, capture_output=True)


def tools(jobs: int, skip_libcst: bool):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    found = [
        ("fixsessions --dry-run", [str(BIN / "fixsessions"), "--dry-run", "--no-cache", "--jobs", str(jobs), "."], None),
        ("ruff check --no-cache --select E9", [str(BIN / "ruff"), "check", "--no-cache", "--select", "E9", "--exit-zero", "."], None),
    ]
    if not skip_libcst:
        found.append((
            "libcst codemod --no-format (equivalent)",
            [sys.executable, "-m", "libcst.tool", "codemod", "--no-format", "--unified-diff=3",
             "--hide-progress", f"--jobs={jobs}", "-x", "benchmarks.libcst_equivalent.FindSessions", "."],
            env,
        ))
    return found


def count_py(tree: Path) -> int:
    return sum(1 for _ in tree.rglob("*.py"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "fixsessions-corpus")
    parser.add_argument("--python", default=shutil.which("python3") or sys.executable,
                        help="the installation whose stdlib and site-packages make the corpus")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast tools (median shown)")
    parser.add_argument("--skip-libcst", action="store_true", help="skip the slow LibCST runner")
    parser.add_argument("--libcst-timeout", type=float, default=None,
                        help="stop the LibCST runner after this many seconds; its time is then a lower bound")
    args = parser.parse_args()
    if shutil.which(str(BIN / "ruff")) is None:
        print("ruff is not installed: pip install -r benchmarks/requirements.txt", file=sys.stderr)
        return 2

    byte_compile(str(BIN / "fixsessions"))
    example = Path(tempfile.mkdtemp()) / "example"
    shutil.copytree(REPO / "examples" / "before", example)
    if not args.corpus.exists():
        print(f"building the corpus in {args.corpus} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(args.corpus), "--python", args.python], check=True)
    trees = [("example app", example), ("stdlib + site-packages", args.corpus)]

    rows = []
    for label, tree in trees:
        results = {}
        for name, command, env in tools(args.jobs, args.skip_libcst):
            slow = name.startswith("libcst")
            repeat = 1 if slow else args.repeat
            runs = [measure(command, tree, env, args.libcst_timeout if slow else None) for _ in range(repeat)]
            failed = [r[2] for r in runs if r[2] is not None and r[2] not in OK_EXIT.get(name.split()[0], (0,))]
            if failed:
                print(f"{label}: {name} failed (exit {failed[0]}): {' '.join(command)}", file=sys.stderr)
                return 1
            results[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2])
            print(f"{label}: {name}: {results[name][0]:.2f} s, {results[name][1]} MiB", file=sys.stderr)
        rows.append((label, count_py(tree), results))

    print(f"\nMachine: {os.cpu_count()} cores; --jobs {args.jobs}; median of {args.repeat} runs "
          f"(LibCST: 1 run); peak memory is the whole process tree.\n")
    print("| tree | .py files | tool | wall (s) | peak RSS (MiB) | fixsessions is |")
    print("|---|---:|---|---:|---:|---|")
    for label, files, results in rows:
        ours = results["fixsessions --dry-run"][0]
        for name, (wall, peak, code) in results.items():
            bound = "> " if code is None else ""  # stopped at --libcst-timeout
            if name.startswith("fixsessions"):
                ratio = ""
            elif name.startswith("ruff"):
                ratio = f"{ours / wall:.1f}x ruff's time"
            elif wall >= ours:
                ratio = f"{bound}{wall / ours:.0f}x faster"
            else:
                ratio = f"{ours / wall:.1f}x slower"
            print(f"| {label} | {files} | {name} | {bound}{wall:.2f} | {peak} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
