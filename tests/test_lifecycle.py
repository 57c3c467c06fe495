"""`fixsessions lifecycle-test`: the generated module, run for real, fails on examples/before
and passes on examples/after; what it finds in other project shapes."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from fixsessions.codemods.engine import core, lifecycle
from helpers import make_project
from test_cli import fixsessions

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def generate_and_run(tmp_path: Path, side: str):
    shutil.copytree(EXAMPLES / side, tmp_path / side)
    made = fixsessions("lifecycle-test", side, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert b"wrote tests/test_session_lifecycle.py" in made.stderr
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-B", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rf",
         "tests/test_session_lifecycle.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )


def test_the_generated_test_fails_on_before(tmp_path):
    result = generate_and_run(tmp_path, "before")
    assert result.returncode == 1, result.stdout
    assert "2 failed" in result.stdout
    failed = [line.split(" - ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed == [
        "FAILED tests/test_session_lifecycle.py::test_create_app_request_leaves_the_registry_empty[db_session]",
        "FAILED tests/test_session_lifecycle.py::test_create_app_new_request_reads_a_commit_made_elsewhere[db_session]",
    ]
    assert (
        "AssertionError: the registry still holds this thread's session after the request: "
        "no teardown calls its remove() (fixsessions FS001)"
    ) in result.stdout
    assert "AssertionError: no SELECT: the row came from the identity map of an earlier request's session" in result.stdout


def test_the_generated_test_passes_on_after(tmp_path):
    result = generate_and_run(tmp_path, "after")
    assert result.returncode == 0, result.stdout
    assert "2 passed" in result.stdout


def test_it_uses_a_temporary_database_only_when_the_variable_is_unset(tmp_path):
    shutil.copytree(EXAMPLES / "after", tmp_path / "after")
    fixsessions("lifecycle-test", "-o", "test_l.py", "after", cwd=tmp_path)
    text = (tmp_path / "test_l.py").read_text()
    assert 'if "CRYPTOWALLET_DATABASE_URL" not in os.environ:' in text
    assert 'ROOT = (Path(__file__).resolve().parent / "after").resolve()' in text


def find(tmp_path: Path, files: dict) -> lifecycle.Project:
    root = make_project(tmp_path, {k: textwrap.dedent(v) for k, v in files.items()})
    [(_, index)] = core.project_indexes([root])
    return lifecycle.find(tmp_path, index)


DATABASE = """\
    import os
    from sqlalchemy import create_engine
    from sqlalchemy.orm import scoped_session, sessionmaker

    URL = os.getenv("APP_DB", "sqlite://")
    engine = create_engine(URL)
    db = scoped_session(sessionmaker(bind=engine))
"""


def test_finds_a_module_level_app_and_the_variable_behind_a_name(tmp_path):
    project = find(tmp_path, {
        "shop/__init__.py": "",
        "shop/database.py": DATABASE,
        "shop/web.py": "from flask import Flask\nfrom shop.database import db\n\nserver = Flask(__name__)\n",
    })
    [target] = project.targets
    assert (target.module, target.name, target.factory) == ("shop.web", "server", None)
    assert target.registries == [("shop.database", "db")]
    assert project.database_env == "APP_DB"


def test_a_factory_that_needs_arguments_is_named_not_called(tmp_path):
    project = find(tmp_path, {
        "shop/__init__.py": "",
        "shop/database.py": DATABASE.replace('os.getenv("APP_DB", "sqlite://")', '"sqlite://"'),
        "shop/web.py": """\
            from flask import Flask
            from shop.database import db

            def make(config, *, debug=False):
                app = Flask(__name__)
                return app

            def other():
                site = Flask(__name__)
                return None
        """,
    })
    assert [(t.name, t.factory) for t in project.targets] == [
        ("make", "make() needs config"), ("other", "other() does not return `site`"),
    ]
    assert project.database_env is None
    text = lifecycle.render([project], tmp_path / "tests" / "test_x.py")
    assert 'pytest.fail("fixsessions could not make this app: make() needs config; make it here")' in text
    compile(text, "test_x.py", "exec")


def test_nothing_found_writes_nothing(tmp_path):
    make_project(tmp_path, {"app.py": "from flask import Flask\n\napp = Flask(__name__)\n"})
    result = fixsessions("lifecycle-test", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert b"found no Flask app using a scoped_session registry: nothing written" in result.stderr
    assert not (tmp_path / "tests").exists()


def test_an_existing_output_is_kept_unless_forced(tmp_path):
    shutil.copytree(EXAMPLES / "after", tmp_path / "after")
    (tmp_path / "mine.py").write_text("keep me\n")
    result = fixsessions("lifecycle-test", "-o", "mine.py", "after", cwd=tmp_path)
    assert result.returncode == 2 and b"mine.py exists: pass --force to replace it" in result.stderr
    assert (tmp_path / "mine.py").read_text() == "keep me\n"
    assert fixsessions("lifecycle-test", "--force", "-o", "mine.py", "after", cwd=tmp_path).returncode == 0
    assert "def test_create_app_request_leaves_the_registry_empty" in (tmp_path / "mine.py").read_text()


def test_standard_output(tmp_path):
    shutil.copytree(EXAMPLES / "after", tmp_path / "after")
    result = fixsessions("lifecycle-test", "-o", "-", "after", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(b'"""Session lifecycle tests, written by `fixsessions lifecycle-test`')
    assert not (tmp_path / "tests").exists()
