"""Robustness on real code and write safety.

`test_real_code` runs over this interpreter's standard library and the test environment's
site-packages (Flask, Werkzeug, LibCST, pytest, ... and the system site-packages), copied into
one folder under neutral names so that nothing is excluded by default. It is marked slow and CI
runs it. One package is left out: SQLAlchemy's own source, where nearly every module really does
use sessions, so that the pre-filter rightly selects some 2,000 files and LibCST needs minutes.
"""

import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import libcst as cst
import pytest

from benchmarks.make_corpus import copy as copy_corpus
from fixsessions.cli import Progress
from fixsessions.codemods.engine import core as engine
from fixsessions.codemods.engine.discovery import discover
from fixsessions.codemods.engine import Settings, run, run_source, write
from fixsessions.codemods.engine.source import SourceError, SourceText
from helpers import make_project
from test_cli import APP, FIXSESSIONS

PATTERNS = (b"sqlalchemy", b"flask", b"Flask", b"session", b"Session", b"query", b"teardown", b"app_context")


@pytest.mark.slow
def test_real_code(tmp_path):
    corpus = tmp_path / "corpus"
    files = copy_corpus(corpus, sys.executable, skip=frozenset({"sqlalchemy"}))
    assert files > 1000
    jobs = os.cpu_count() or 1
    result = run([corpus], Settings(jobs=jobs))
    assert len(result.files) == files
    crashed = [(f.path, f.error) for f in result.files if f.internal_error]
    assert crashed == []
    for file in result.changed:
        assert any(p in file.original for p in PATTERNS), f"{file.path} changed without the patterns"
        text = SourceText.decode(file.fixed).text
        cst.parse_module(text)
        compile(text, str(file.path), "exec")
    write(result)
    again = run([corpus], Settings(jobs=jobs))
    assert [f.path for f in again.changed] == []
    assert [(f.path, f.error) for f in again.files if f.internal_error] == []


def test_killed_mid_write_leaves_each_file_old_or_new(tmp_path):
    old = APP.encode()
    new = run_source(old, Path("app.py")).fixed
    root = make_project(tmp_path / "tree", {f"app{i:02d}.py": APP for i in range(40)})
    slow_writes = (
        "import os, sys, time\n"
        "real = os.fsync\n"
        "os.fsync = lambda fd: (time.sleep(0.05), real(fd))[1]\n"
        f"sys.argv = [{FIXSESSIONS!r}, '--jobs', '1', '.']\n"
        "from fixsessions import cli\n"
        "cli.main()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", slow_writes], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = sorted(root.glob("app*.py"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sum(p.read_bytes() == new for p in paths) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    states = [p.read_bytes() for p in paths]
    assert all(state in (old, new) for state in states)
    assert old in states and new in states, "the kill must land in the middle of the writes"
    assert not [p for p in root.iterdir() if p.suffix == ".py" and p not in paths]
    # What the kill left behind is finished by the next run.
    subprocess.run([FIXSESSIONS, "."], cwd=root, check=True, capture_output=True)
    assert all(p.read_bytes() == new for p in paths)


def test_unreadable_files_are_named_and_skipped(tmp_path, monkeypatch):
    root = make_project(tmp_path, {"locked.py": APP, "app.py": APP})
    real = engine.read_bytes

    def read(path):
        if path.name == "locked.py":
            raise SourceError("cannot read: Permission denied")
        return real(path)

    monkeypatch.setattr(engine, "read_bytes", read)
    result = run([root])
    assert {f.path.name: f.error for f in result.errors} == {"locked.py": "cannot read: Permission denied"}
    assert [f.path.name for f in result.changed] == ["app.py"]


def test_symlinks_named_on_the_command_line_are_followed(tmp_path):
    # As ruff does (issue 12); the write replaces the file the link names, and the link stays.
    outside = make_project(tmp_path / "outside", {"app.py": APP})
    link = tmp_path / "link.py"
    link.symlink_to(outside / "app.py")
    found = discover([link])
    assert found.files == [outside / "app.py"] and found.skipped == []
    result = subprocess.run([FIXSESSIONS, "--no-cache", str(link)], cwd=tmp_path, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert "db_session.remove()" in (outside / "app.py").read_text() and link.is_symlink()


@pytest.mark.parametrize("kind", ["missing", "loop", "broken-link"])
def test_a_path_that_does_not_exist_is_an_error(tmp_path, kind):
    # A typo in CI must not pass as a clean run; a symlink loop gave a traceback (issue 12).
    make_project(tmp_path, {"app.py": APP})
    if kind == "loop":
        (tmp_path / "a.py").symlink_to(tmp_path / "b.py")
        (tmp_path / "b.py").symlink_to(tmp_path / "a.py")
        named, said = "a.py", b"error: a.py: a symlink to nothing (broken, or a loop)"
    elif kind == "broken-link":
        (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
        named, said = "gone.py", b"error: gone.py: a symlink to nothing (broken, or a loop)"
    else:
        named, said = "ap.py", b"error: ap.py: no such file or directory"
    result = subprocess.run([FIXSESSIONS, "--check", named, "app.py"], cwd=tmp_path, capture_output=True)
    assert result.returncode == 2
    assert result.stderr.strip() == said
    assert (tmp_path / "app.py").read_text() == APP


# -- progress -------------------------------------------------------------------------------------


def test_progress_waits_a_second_then_draws_and_clears():
    stream = io.StringIO()
    progress = Progress(stream, delay=1.0)
    progress("reading", 1, 10)
    assert stream.getvalue() == ""
    progress.start -= 2
    progress("reading", 5, 10)
    assert stream.getvalue() == "\rreading  [###############...............] 5/10\x1b[K"
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_on_a_terminal_only_and_never_in_machine_formats(tmp_path):
    # Enough files for the run to pass the progress line's one-second delay.
    root = make_project(tmp_path, {f"app{i:03d}.py": APP for i in range(600)})

    def stderr_on_a_terminal(*args) -> bytes:
        leader, follower = pty.openpty()
        process = subprocess.Popen([FIXSESSIONS, *args], cwd=root, stdout=subprocess.DEVNULL,
                                   stderr=follower, env={**os.environ, "TERM": "dumb"})
        os.close(follower)
        out = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        process.wait()
        os.close(leader)
        return out

    shown = stderr_on_a_terminal("--check", "--no-cache", "--jobs", "1", ".")
    assert b"\rparsing" in shown or b"\rfixing" in shown
    quiet = stderr_on_a_terminal("--check", "--format", "json", "--jobs", "1", ".")
    assert b"\r" not in quiet.replace(b"\r\n", b"")
    piped = subprocess.run([FIXSESSIONS, "--check", "--jobs", "1", "."], cwd=root, capture_output=True)
    assert b"\r" not in piped.stderr


def test_facts_digest_ignores_set_order_and_sees_a_changed_fact(tmp_path, capsys):
    """benchmarks/facts_digest.py proves collector changes keep every fact: its digest must not
    depend on the order a set was filled in, and must change with a fact."""
    from benchmarks.facts_digest import canonical, compare, digest

    assert canonical({"b", "a", "c"}) == canonical({"c", "b", "a"}) == ["a", "b", "c"]
    module = tmp_path / "app.py"
    module.write_text("from flask import Flask\napp = Flask(__name__)\n")
    first = digest(module)
    module.write_text("from flask import Flask\napplication = Flask(__name__)\n")
    assert digest(module) != first
    (tmp_path / "broken.py").write_text("def f(:\n")
    assert digest(tmp_path / "broken.py") is None
    assert compare({"app.py": first}, {"app.py": first}) == 0
    assert compare({"app.py": first}, {"app.py": digest(module)}) == 1
    assert "1 of 1 file(s) differ" in capsys.readouterr().out


def test_the_benchmarks_time_a_command_to_its_exit_and_kill_it_at_the_time_out(tmp_path):
    """benchmarks/run.py's `measure` times every figure in benchmarks/README.md. It once
    waited with `Popen.wait(timeout=...)`, which polls in steps that grow to 50 ms, so a 70 ms
    command always showed as 113 ms (and ruff's walls, the ratios' denominators, grew most)."""
    from benchmarks.run import measure

    walls = [measure(["sleep", "0.07"], tmp_path, timeout=60, sample=False)[0] for _ in range(3)]
    assert 0.07 <= min(walls) < 0.1, walls
    assert measure(["sh", "-c", "exit 3"], tmp_path, timeout=60, sample=False)[2] == 3
    # The CPU time counts what the command's own children took.
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    nested = [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"]
    assert measure(nested, tmp_path, timeout=60, sample=False)[4] >= 0.3
    # Past the time-out the whole group goes, a grandchild too; the exit code is then None.
    marker = tmp_path / "survived"
    script = f"(sleep 1.5; touch {marker}) & sleep 30"
    wall, _, code, _, _ = measure(["sh", "-c", script], tmp_path, timeout=0.5, sample=False)
    assert code is None and 0.5 <= wall < 5
    time.sleep(1.5)
    assert not marker.exists()
