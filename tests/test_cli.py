"""The installed `fixsessions` command, run as a user runs it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixsessions.codemods.rules import RULES
from helpers import make_project
from test_caches import DATABASE as CACHE_MODELS

FIXSESSIONS = str(Path(sys.executable).with_name("fixsessions"))

APP = """\
from flask import Flask
from sqlalchemy.orm import scoped_session

db_session = scoped_session(maker)
app = Flask(__name__)
"""


def fixsessions(*args, cwd, stdin=None):
    return subprocess.run(
        [FIXSESSIONS, *args], cwd=cwd, input=stdin, capture_output=True, timeout=120
    )


def tricky_tree(root: Path) -> Path:
    return make_project(root, {
        "crlf_bom.py": ("\ufeff" + APP).replace("\n", "\r\n").encode("utf-8"),
        "no_newline.py": APP.rstrip("\n").encode("utf-8"),
        "latin1.py": b"# -*- coding: latin-1 -*-\n" + APP.encode() + b"NAME = 'caf\xe9'\n",
        "clean.py": "x = 1\n",
        "pkg/__init__.py": "",
        "pkg/database.py": "from sqlalchemy import orm\n\nS = orm.scoped_session(m)\n",
        "pkg/app.py": "import flask\n\nfrom pkg import database\n\napp = flask.Flask(__name__)\n",
    })


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def test_dry_run_patch_applies_to_exactly_what_write_mode_writes(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    original = tricky_tree(tmp_path / "original")
    patched = tmp_path / "patched"
    written = tmp_path / "written"
    shutil.copytree(original, patched)
    shutil.copytree(original, written)

    dry = fixsessions("--dry-run", ".", cwd=patched)
    assert dry.returncode == 1
    assert dry.stdout.startswith(b"--- a/")
    assert b"Would fix 4 finding(s) in 4 file(s)." in dry.stderr
    assert snapshot(patched) == snapshot(original)  # dry run wrote nothing

    (tmp_path / "fix.patch").write_bytes(dry.stdout)
    subprocess.run(["git", "init", "-q"], cwd=patched, check=True)
    subprocess.run(["git", "apply", str(tmp_path / "fix.patch")], cwd=patched, check=True)

    wrote = fixsessions(".", cwd=written)
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout == b""
    assert snapshot(patched) == snapshot(written)
    assert snapshot(written) != snapshot(original)
    assert snapshot(written)["crlf_bom.py"].startswith(b"\xef\xbb\xbffrom flask")
    assert b"\r\n    db_session.remove()\r\n" in snapshot(written)["crlf_bom.py"]
    assert not snapshot(written)["no_newline.py"].endswith(b"\n")

    again = fixsessions("--dry-run", ".", cwd=written)
    assert (again.returncode, again.stdout) == (0, b"")


def test_dry_run_says_why_each_file_changes(tmp_path):
    # A reviewer reads, under each file's diff, the findings it fixes (issue 10).
    root = make_project(tmp_path, {"app.py": APP, "admin.py": APP.replace("app =", "admin =")})
    dry = fixsessions("--dry-run", "--no-cache", "app.py", "admin.py", cwd=root)
    assert dry.returncode == 1
    why = [line for line in dry.stderr.decode().splitlines() if line.endswith("[fixed in the diff above]")]
    assert why == [
        f"{name}.py:5:{7 if name == 'app' else 9}: FS001 Flask app `{name}` uses scoped_session `db_session` "
        f"({name}.py:4) but no teardown calls `remove()`: worker threads keep one session and its "
        "transaction across requests [fixed in the diff above]"
        for name in ("app", "admin")
    ]


EXCLUDED_USER = {
    "pkg/__init__.py": "",
    "pkg/db.py": (
        "from sqlalchemy.orm import declarative_base, scoped_session, sessionmaker\n\n"
        "db_session = scoped_session(sessionmaker())\nBase = declarative_base()\n\n\n"
        "class Asset(Base):\n    __tablename__ = 'assets'\n"
    ),
    "pkg/assets.py": "from .db import Asset, db_session\n\nSUPPORTED = db_session.query(Asset).all()\n",
    "pkg/views.py": "from .assets import SUPPORTED\n\n\ndef symbols():\n    return [a.symbol for a in SUPPORTED]\n",
}


def test_an_excluded_file_is_context_a_fix_must_not_break(tmp_path):
    # `--exclude views.py`: the cache must not become a function that the excluded module
    # still iterates (issue 12: TypeError at run time, exit 0).
    root = make_project(tmp_path, EXCLUDED_USER)
    before = {name: (root / name).read_text() for name in EXCLUDED_USER}
    result = fixsessions("--select", "FS003", "--exclude", "views.py", "--no-cache", ".", cwd=root)
    assert {name: (root / name).read_text() for name in EXCLUDED_USER} == before
    assert (
        b"warning: pkg/assets.py: not fixed: its fix (FS003:pkg.assets.SUPPORTED) must also change "
        b"pkg/views.py, which this run does not write (not named, or excluded); one `fixsessions .` "
        b"over the project fixes both\n"
    ) in result.stderr
    assert result.returncode == 1  # the finding is left for a person


def test_a_fix_needing_a_file_not_named_says_which_and_how(tmp_path):
    # Under pre-commit only the changed files are named (issue 12: it said "need a person").
    root = make_project(tmp_path, EXCLUDED_USER)
    result = fixsessions("--select", "FS003", "--no-cache", "pkg/assets.py", cwd=root)
    assert result.returncode == 1
    assert b"must also change pkg/views.py, which this run does not write" in result.stderr
    assert b"one `fixsessions .` over the project fixes both" in result.stderr
    assert (root / "pkg" / "assets.py").read_text() == EXCLUDED_USER["pkg/assets.py"]


@pytest.mark.parametrize("output_format", ["json", "sarif", "github"])
def test_a_report_format_never_writes(tmp_path, output_format):
    # Issue 12: `--format sarif` without --check rewrote the files and reported 1 of 6.
    root = make_project(tmp_path, {"app.py": APP, "admin.py": APP.replace("app =", "admin =")})
    result = fixsessions("--format", output_format, "--no-cache", ".", cwd=root)
    assert result.returncode == 1
    assert (root / "app.py").read_text() == APP
    out = result.stdout.decode()
    assert out.count("FS001") >= 2 and "admin.py" in out and "app.py" in out
    branch = fixsessions("--format", output_format, "--branch", "x", ".", cwd=root)
    assert branch.returncode == 2 and b"cannot be combined with --branch" in branch.stderr


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 parses it")
def test_newer_syntax_is_named_as_such(tmp_path):
    # pycroft's PEP 695 generics: "cannot parse" alone sent readers looking for a typo.
    root = make_project(tmp_path, {
        "generic.py": "import flask\n\n\ndef first[T](items: list[T]) -> T:\n    return items[0]\n",
        "typo.py": "import flask\n\n\ndef f(:\n    pass\n",
    })
    result = fixsessions("--check", "--no-cache", ".", cwd=root)
    errors = sorted(line for line in result.stderr.decode().splitlines() if line.startswith("error:"))
    assert errors[0].startswith("error: generic.py: cannot parse: line 4")
    assert "(this line is Python 3.12 syntax, and fixsessions runs on Python 3.11" in errors[0]
    assert errors[1].startswith("error: typo.py: cannot parse: line 4") and "3.12" not in errors[1]


def test_exit_codes(tmp_path):
    root = make_project(tmp_path, {"app.py": APP})
    assert fixsessions("--check", ".", cwd=root).returncode == 1
    assert fixsessions("--dry-run", ".", cwd=root).returncode == 1
    assert fixsessions(".", cwd=root).returncode == 0  # everything fixed
    clean = fixsessions("--check", ".", cwd=root)
    assert clean.returncode == 0
    assert b"No session-lifecycle problems found." in clean.stderr

    usage = fixsessions("--select", "FS999", ".", cwd=root)
    assert usage.returncode == 2
    assert b"unknown rule code(s): FS999" in usage.stderr


def test_a_read_only_file_is_refused_and_named(tmp_path):
    root = make_project(tmp_path, {"app.py": APP, "admin.py": APP.replace("app =", "admin =")})
    (root / "admin.py").chmod(0o444)
    refused = fixsessions(".", cwd=root)
    assert refused.returncode == 2
    assert refused.stderr == b"error: these files are read-only; fixsessions does not write them:\n  admin.py\n"
    assert (root / "app.py").read_text() == APP  # nothing half-written
    assert (root / "admin.py").read_text() == APP.replace("app =", "admin =")


def test_findings_left_for_a_person_exit_1_in_write_mode(tmp_path):
    root = make_project(tmp_path, {
        "database.py": "from sqlalchemy.orm import scoped_session\n\nS = scoped_session(m)\n",
        "factory.py": "from flask import Flask\n\nimport database\n\n\ndef make():\n    return Flask(__name__)\n",
    })
    result = fixsessions(".", cwd=root)
    assert result.returncode == 1
    assert result.stderr.startswith(b"factory.py:7:12: FS001 Flask app `Flask(...)` uses scoped_session")


def test_unparseable_file_is_named_and_the_run_goes_on(tmp_path):
    root = make_project(tmp_path, {"broken.py": "import flask\ndef f(:\n", "app.py": APP})
    result = fixsessions(".", cwd=root)
    assert b"error: broken.py: cannot parse: line 2" in result.stderr
    assert (root / "broken.py").read_bytes() == b"import flask\ndef f(:\n"
    assert b"db_session.remove()" in (root / "app.py").read_bytes()
    assert result.returncode == 1


def test_check_prints_findings_with_position(tmp_path):
    root = make_project(tmp_path, {"app.py": APP})
    result = fixsessions("--check", ".", cwd=root)
    assert result.stdout == b""
    assert result.stderr.splitlines()[0].startswith(
        b"app.py:5:7: FS001 Flask app `app` uses scoped_session `db_session` (app.py:4)"
    )
    assert (root / "app.py").read_text() == APP


def test_check_fails_on_a_fix_it_had_to_give_up(tmp_path):
    # FS003's fix of app.py must also change other.py, which `--check app.py` does not write:
    # the finding stays. It passed with exit 0 and "No session-lifecycle problems found.".
    root = make_project(tmp_path, {
        "pyproject.toml": "",
        "models.py": CACHE_MODELS,
        "app.py": "from models import Asset\n\nASSETS = Asset.query.all()\n",
        "other.py": "from app import ASSETS\n\n\ndef count():\n    return len(ASSETS)\n",
    })
    result = fixsessions("--check", "app.py", cwd=root)
    assert result.returncode == 1
    assert b"app.py:3:1: FS003 `ASSETS` holds ORM objects" in result.stderr
    assert result.stderr.endswith(b"1 finding(s) have a fix this run could not make (see the warnings).\n")
    # Over the whole project the fix is made: nothing given up, the first run or answered
    # from the result cache (whose findings are copies).
    for _ in range(2):
        whole = fixsessions("--check", ".", cwd=root)
        assert whole.returncode == 1
        assert whole.stderr.endswith(b"Would fix 2 finding(s) in 2 file(s).\n"), whole.stderr


def test_stdin_to_stdout(tmp_path):
    result = fixsessions("-", cwd=tmp_path, stdin=APP.encode())
    assert result.returncode == 0
    assert result.stdout.endswith(b"def shutdown_session(exception=None):\n    db_session.remove()\n")


def test_stdin_honours_check_and_dry_run(tmp_path):
    # Issue 12: `fixsessions --check - < app.py` printed fixed source and exited 0.
    check = fixsessions("--check", "-", cwd=tmp_path, stdin=APP.encode())
    assert check.returncode == 1
    assert check.stdout == b""
    assert b"-:5:7: FS001 Flask app `app`" in check.stderr
    dry = fixsessions("--dry-run", "-", cwd=tmp_path, stdin=APP.encode())
    assert dry.returncode == 1
    assert dry.stdout.startswith(b"--- a/-\n+++ b/-\n")
    assert b"+    db_session.remove()\n" in dry.stdout


def test_stdin_filename_gives_the_buffer_its_project(tmp_path):
    # The registry lives in another module of the project: without the buffer's path the
    # tool could not know the app uses it (ruff's and black's --stdin-filename).
    root = make_project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": "from sqlalchemy.orm import scoped_session\n\ndb_session = scoped_session(maker)\n",
        "pkg/app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
    })
    buffer = b"from flask import Flask\n\nfrom . import database\n\napp = Flask(__name__)\n"
    alone = fixsessions("--check", "-", cwd=root, stdin=buffer)
    assert alone.returncode == 0, alone.stderr
    named = fixsessions("--check", "--stdin-filename", "pkg/app.py", cwd=root, stdin=buffer)
    assert named.returncode == 1
    assert named.stderr.startswith(b"pkg/app.py:5:7: FS001 Flask app `app` uses scoped_session `db_session`")
    fixed = fixsessions("--stdin-filename", "pkg/app.py", "-", cwd=root, stdin=buffer)
    assert fixed.returncode == 0
    assert fixed.stdout.endswith(b"def shutdown_session(exception=None):\n    database.db_session.remove()\n")
    assert (root / "pkg" / "app.py").read_bytes() == b"from flask import Flask\n\napp = Flask(__name__)\n"


@pytest.mark.parametrize("named", ["shop/h2.py", "shop/seedish.py", "shop/plain.py"])
def test_stdin_filename_prints_a_buffer_with_nothing_to_fix_as_it_came(tmp_path, named):
    """A buffer whose file the pre-filter selects in a later round from what an earlier one
    parsed (h2.py, reached in the third round; seedish.py, a seed that acts once `Session`
    is learned), or never selects (plain.py), has nothing to fix: its text comes back as it
    came, not empty (an editor would have lost the buffer)."""
    root = make_project(tmp_path, {
        "pyproject.toml": "",
        "shop/__init__.py": "",
        "shop/db.py": "from sqlalchemy.orm import sessionmaker\n\nSession = sessionmaker()\n",
        "shop/helpers.py": "from shop.db import Session as Maker\n",
        "shop/h2.py": "from shop.helpers import Maker as M2\n",
        "shop/seedish.py": "from flask import g\nfrom shop.db import Session\n",
        "shop/plain.py": "x = 1\n",
    })
    buffer = (root / named).read_bytes() + b"# edited\n"
    for jobs in ("1", "2"):
        out = fixsessions("-j", jobs, "--no-cache", "--stdin-filename", named, "-", cwd=root, stdin=buffer)
        assert out.returncode == 0, out.stderr
        assert out.stdout == buffer


def test_explain_and_rules(tmp_path):
    explain = fixsessions("explain", "fs001", cwd=tmp_path)
    assert explain.returncode == 0
    text = explain.stdout.decode()
    for heading in ("## What it finds", "## Why it causes stale or lost data", "## Example",
                    "## Use instead", "## Fix safety"):
        assert heading in text
    assert text.startswith("# missing-teardown (FS001)")
    rules = fixsessions("rules", cwd=tmp_path)
    lines = rules.stdout.decode().splitlines()
    assert [line.split()[:3] for line in lines] == [[r.code, r.name, r.fix_kind()] for r in RULES]
    assert lines[0] == (
        "FS001  missing-teardown       safe/unsafe    A `scoped_session` registry used by a Flask app "
        "that registers no `teardown_appcontext`/`teardown_request` handler reaching `REGISTRY.remove()`."
    )
    assert [line.split()[2] for line in lines] == [
        "safe/unsafe", "safe", "safe/report", "report", "safe/unsafe", "report", "report",
        "report", "report", "unsafe", "report", "report", "safe/report", "report",
    ]
    assert fixsessions("explain", "FS999", cwd=tmp_path).returncode == 2
    # Issue 12: the rule's name works too, and -h works on the subcommands.
    assert fixsessions("explain", "missing-teardown", cwd=tmp_path).stdout == explain.stdout
    for command in ("explain", "rules"):
        helped = fixsessions(command, "-h", cwd=tmp_path)
        assert helped.returncode == 0 and helped.stdout.startswith(f"Usage: fixsessions {command}".encode())


def test_a_clean_run_does_not_import_libcst(tmp_path):
    # LibCST takes some 0.2 s to import: only a fix needs it. Every rule module is imported
    # by a run, so a rule that subclasses a LibCST class at import time would load it.
    # Nor does a run in one process, writing nothing, with no cache, import what only
    # workers (multiprocessing), writes (tempfile), the cache or a pyproject.toml it has not got
    # (tomllib) need: 15 ms of a small run.
    root = make_project(tmp_path, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy import create_engine
            from sqlalchemy.orm import scoped_session, sessionmaker

            db_session = scoped_session(sessionmaker(bind=create_engine("sqlite://")))
            app = Flask(__name__)


            @app.teardown_appcontext
            def remove_session(exception=None):
                db_session.remove()
        """,
    })
    script = (
        "import sys\n"
        "sys.argv = ['fixsessions', '--check', '--no-cache', '.']\n"
        "from fixsessions.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        # `libcst` itself is in sys.modules from the start, as a lazy module not yet run.
        "print(code, 'libcst._nodes.statement' in sys.modules, 'fixsessions.codemods.rules.caches' in sys.modules)\n"
        "print(*(name in sys.modules for name in ('multiprocessing', 'tempfile', 'fixsessions.codemods.engine.cache')))\n"
        "print('tomllib' in sys.modules)\n"  # no pyproject.toml above: no TOML to read
    )
    ran = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert ran.stdout.split() == ["0", "False", "True", "False", "False", "False", "False"], ran.stderr
