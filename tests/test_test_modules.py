"""What production findings and fixes take from test modules.

A blind review (2026-11-23) of a change that read test modules for their imports only found
each of these broken by it; no other test or corpus app exercised them. Reading test code less
must keep them."""

from fixsessions.codemods.engine import Settings, run
from helpers import check_noop, check_transformed, findings, make_project
from test_caches import DATABASE as MODELS  # Asset, with Base.query
from test_missing_teardown import DATABASE, ONLY_FS001

TEARDOWN = """

@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()
"""

LRU_APP = """\
from functools import lru_cache

from flask import Flask

from models import Asset, db_session

app = Flask(__name__)
""" + TEARDOWN + """

@lru_cache(maxsize=None)
def assets():
    return Asset.query.filter_by(symbol="BTC").all()
"""


def test_a_cache_only_a_test_clears_keeps_its_decorator(tmp_path):
    # Without `lru_cache`, the fixture's `assets.cache_clear()` raises AttributeError.
    result = check_noop(tmp_path, {
        "pyproject.toml": "",
        "models.py": MODELS,
        "app.py": LRU_APP,
        "tests/__init__.py": "",
        "tests/conftest.py": """\
            import pytest

            from app import assets


            @pytest.fixture(autouse=True)
            def clear():
                assets.cache_clear()
        """,
    })
    [finding] = findings(result, "FS003")
    assert finding.message.endswith("(not fixed: its `cache_clear()`/`cache_info()` is used)")


GLOBAL_APP = """\
from flask import Flask

from models import Asset, db_session

app = Flask(__name__)

ASSETS = Asset.query.filter_by(symbol="BTC").all()
""" + TEARDOWN


def test_a_global_cache_a_test_imports_is_rewritten_in_the_test_as_well(tmp_path):
    check_transformed(tmp_path, {
        "pyproject.toml": "",
        "models.py": MODELS,
        "app.py": GLOBAL_APP,
        "tests/__init__.py": "",
        "tests/test_assets.py": """\
            from app import ASSETS


            def test_assets():
                assert all(a.symbol == "BTC" for a in ASSETS)
        """,
    }, {
        "app.py": GLOBAL_APP.replace(
            'ASSETS = Asset.query.filter_by(symbol="BTC").all()\n',
            '\ndef assets():\n    return Asset.query.filter_by(symbol="BTC").all()\n',
        ),
        "tests/test_assets.py": """\
            from app import assets


            def test_assets():
                assert all(a.symbol == "BTC" for a in assets())
        """,
    })


def test_gevent_patched_in_conftest_lets_fs001_fix_the_app(tmp_path):
    app = "from flask import Flask\n\nfrom database import db_session\n\napp = Flask(__name__)\n"
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "database.py": DATABASE,
        "app.py": app,
        "tests/__init__.py": "",
        "tests/conftest.py": "from gevent import monkey\n\nmonkey.patch_all()\n",
    })], ONLY_FS001)
    assert [(r.path.name, f.code) for r in result.changed for f in r.applied] == [("app.py", "FS001")]


def test_a_registry_in_a_production_package_named_testing_is_found(tmp_path):
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/testing/__init__.py": "",
        "myapp/testing/db.py": DATABASE,
        "myapp/app.py": "from flask import Flask\n\nfrom myapp.testing.db import db_session\n\napp = Flask(__name__)\n",
    })], ONLY_FS001)
    assert [(r.path.name, f.code) for r in result.files for f in r.initial] == [("app.py", "FS001")]


def test_an_alias_in_a_production_package_named_testing_names_the_registry(tmp_path):
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/database.py": DATABASE,
        "myapp/testing/__init__.py": "",
        "myapp/testing/fixtures.py": "from myapp import database\n\nSession = database.db_session\n",
        "myapp/app.py": "from flask import Flask\n\nfrom myapp.testing.fixtures import Session\n\n"
                        "app = Flask(__name__)\n" + TEARDOWN.replace("db_session", "Session"),
    }, ONLY_FS001)
