"""What production findings and fixes take from test modules.

A test module that sets up no session machinery is read for its imports and module-level
names only (`facts.reads_partly`), and read whole where production code needs it: production
imports it, or it names a cache of ORM objects (`engine.core`). The first five tests are what a
blind review (2026-11-23) found broken by an earlier version that read every test module for
its imports only; the others, what production findings must not take from a test."""

import os
from textwrap import dedent

import pytest

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


# How a test reaches the cache it clears: by its name, under a name a production module
# imports it as, under a name a test helper assigns it to.
CLEARED_AS = {
    "assets": {"tests/conftest.py": "from app import assets"},
    "cached_assets": {"api.py": "from app import assets as cached_assets\n", "tests/conftest.py": "from api import cached_assets"},
    "fetch": {"tests/helpers.py": "from app import assets\n\nfetch = assets\n", "tests/conftest.py": "from tests.helpers import fetch"},
}


@pytest.mark.parametrize("name", sorted(CLEARED_AS))
def test_a_cache_only_a_test_clears_keeps_its_decorator(tmp_path, name):
    # Without `lru_cache`, the fixture's `cache_clear()` raises AttributeError.
    files = dict(CLEARED_AS[name])
    files["tests/conftest.py"] = (
        f"import pytest\n\n{files['tests/conftest.py']}\n\n\n"
        f"@pytest.fixture(autouse=True)\ndef clear():\n    {name}.cache_clear()\n"
    )
    result = check_noop(tmp_path, {
        "pyproject.toml": "", "models.py": MODELS, "app.py": LRU_APP, "tests/__init__.py": "", **files,
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


# -- a test module that sets up nothing is read for its imports and names only ----------------

DB = MODELS + "\nSessionLocal = sessionmaker(bind=engine)\n"
VIEWS_APP = """\
from flask import Flask

from db import db_session

app = Flask(__name__)


@app.route("/")
def index():
    return str(db_session.query(1).all())
"""
SERVICE = """\
from db import SessionLocal


def rename(asset_id, symbol):
    session = SessionLocal()
    session.get(1, asset_id).symbol = symbol
    session.commit()
    session.close()
"""
CELERY_WORKER = """\
from celery import Celery

from db import db_session

celery = Celery(__name__)


@celery.task
def job():
    db_session.query(1).all()
"""
# A `@contextmanager` session helper, as `get_db_session` (FS005's) is, over ``make``.
SESSION_SCOPE = """

@contextmanager
def session_scope():
    session = {make}
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
"""
# Production code and a test module that makes use of it without setting up any session
# machinery: what the test does never runs in production, so production's findings and fixes
# must be those of the project without the test. Each case changed them before test modules
# were read partly (a blind audit, 2026-11-23, found them).
WITHOUT_THE_TEST = {
    "a production registrar called from a test": ({
        "db.py": DB + "\n\ndef init_db(app):\n    app.teardown_appcontext(lambda exc=None: db_session.remove())\n",
        "app.py": VIEWS_APP,
    }, {
        "tests/test_app.py": """\
            from app import app
            from db import init_db

            init_db(app)


            def test_index():
                assert app.test_client().get("/").status_code == 200
        """,
    }),
    "a job scheduled only in a test": ({
        "db.py": DB,
        "jobs.py": "from db import db_session, Asset\n\n\ndef sync():\n    db_session.query(Asset).all()\n",
    }, {
        "tests/test_jobs.py": """\
            from apscheduler.schedulers.background import BackgroundScheduler

            from jobs import sync


            def test_sync():
                scheduler = BackgroundScheduler()
                scheduler.add_job(sync)
        """,
    }),
    "a class-held registry removed only in a test": ({
        "ext.py": """\
            from sqlalchemy.orm import scoped_session, sessionmaker


            class Database:
                def init_app(self, app):
                    self.Session = scoped_session(sessionmaker())


            db = Database()
        """,
        "app.py": "from flask import Flask\n\nfrom ext import db\n\napp = Flask(__name__)\ndb.init_app(app)\n",
    }, {
        "tests/conftest.py": """\
            from app import app
            from ext import db


            def teardown_function():
                with app.app_context():
                    db.Session.remove()
        """,
    }),
    "a task_postrun handler connected only in a test": ({
        "db.py": DB,
        "worker.py": CELERY_WORKER,
    }, {
        "tests/conftest.py": """\
            from celery.signals import task_postrun

            from db import db_session


            @task_postrun.connect
            def cleanup(*args, **kwargs):
                db_session.remove()
        """,
    }),
    "a task base class ending sessions only in a test": ({
        "db.py": DB,
        "worker.py": CELERY_WORKER,
    }, {
        "tests/test_worker.py": """\
            from db import db_session


            class FakeTask:
                def after_return(self, *args):
                    db_session.remove()
        """,
    }),
    "a test task pushing the workers' app context": ({
        "db.py": DB,
        "worker.py": CELERY_WORKER.replace("from db import", "from flask import Flask\n\nfrom db import").replace(
            "celery = Celery(__name__)", "app = Flask(__name__)\ncelery = Celery(__name__)"),
    }, {
        "tests/test_worker.py": """\
            from worker import app, celery


            @celery.task
            def probe():
                with app.app_context():
                    pass
        """,
    }),
    "an object keeping a session made at import in a test": ({
        "db.py": DB,
        "repo.py": "from db import SessionLocal\n\n\nclass Repo:\n    def __init__(self):\n        self.session = SessionLocal()\n",
    }, {
        "tests/test_repo.py": "from repo import Repo\n\nREPO = Repo()\n",
    }),
    "a session helper defined in conftest.py": ({
        "db.py": DB,
        "service.py": SERVICE,
    }, {
        "tests/conftest.py": "from contextlib import contextmanager\n\nfrom db import SessionLocal\n"
                             + SESSION_SCOPE.format(make="SessionLocal()"),
    }),
}


def _production_outcome(tmp_path, files):
    root = make_project(tmp_path, {"pyproject.toml": "", "tests/__init__.py": "", **files})
    result = run([root], Settings(unsafe_fixes=True))
    assert not result.errors, [f.error for f in result.errors]
    here = os.path.relpath(root)  # messages name other files relative to the working folder
    return sorted(
        (str(r.path.relative_to(root)), f.code, f.message.replace(here, "ROOT"), r.fixed)
        for r in result.files if not str(r.path.relative_to(root)).startswith("tests")
        for f in r.initial
    )


@pytest.mark.parametrize("whole", [False, True], ids=["read partly", "read whole"])
@pytest.mark.parametrize("case", sorted(WITHOUT_THE_TEST))
def test_production_findings_do_not_rest_on_what_a_test_does(tmp_path, case, whole):
    production, test = WITHOUT_THE_TEST[case]
    if whole:  # a word of `facts.SETS_UP`, if only in a comment, has the test read whole
        test = {name: dedent(text) + "# the tests' own sessionmaker is elsewhere\n" for name, text in test.items()}
    # The test hid a production finding, or (the job) made one up; each fails with test
    # modules read whole (checked).
    alone = _production_outcome(tmp_path / "alone", production)
    assert _production_outcome(tmp_path / "with", {**production, **test}) == alone


def test_a_test_module_that_sets_up_nothing_is_not_reported(tmp_path):
    # docs/catalog.md: a test's throwaway app and extra sessions are "not production findings".
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "db.py": DB,
        "app.py": VIEWS_APP,
        "tests/__init__.py": "",
        "tests/test_assets.py": """\
            from db import Asset

            ASSETS = Asset.query.all()


            def test_assets():
                assert ASSETS == []
        """,
    })])
    # Read whole, the test's `ASSETS` was an FS003 finding and fix.
    assert {(r.path.name, f.code) for r in result.files for f in r.initial} == {("app.py", "FS001")}


def test_a_test_module_that_puts_a_folder_on_sys_path_still_joins_it(tmp_path):
    # Read partly, conftest.py's `sys.path.insert` still joins lib/ to web/: server.py's
    # `import db.conn` finds the registry there, and FS001 on server.py with it.
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "lib/db/__init__.py": "",
        "lib/db/conn.py": DATABASE,
        "web/server.py": "from flask import Flask\n\nimport db.conn\n\napp = Flask(__name__)\n",
        "web/conftest.py": "import os\nimport sys\n\n"
                           'sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))\n\n'
                           "from db.conn import db_session\n",
    })], ONLY_FS001)
    assert [(r.path.name, f.code) for r in result.files for f in r.initial] == [("server.py", "FS001")]


# -- read whole where production needs it (a second blind review, 2026-11-23) -----------------


def test_a_testing_package_production_imports_is_read_whole_through_its_own_imports(tmp_path):
    # app.py imports myapp.testing, whose __init__ re-exports fixtures.py's alias: both whole.
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/database.py": DATABASE,
        "myapp/testing/__init__.py": "from .fixtures import Session\n",
        "myapp/testing/fixtures.py": "from myapp import database\n\nSession = database.db_session\n",
        "myapp/app.py": "from flask import Flask\n\nfrom myapp.testing import Session\n\n"
                        "app = Flask(__name__)\n" + TEARDOWN.replace("db_session", "Session"),
    }, ONLY_FS001)


def test_a_cache_a_test_reads_at_import_under_another_name_is_not_rewritten(tmp_path):
    result = check_noop(tmp_path, {
        "pyproject.toml": "",
        "models.py": MODELS,
        "app.py": GLOBAL_APP,
        "tests/__init__.py": "",
        "tests/helpers.py": "from app import ASSETS as KNOWN\n",
        "tests/test_assets.py": """\
            from tests.helpers import KNOWN

            COUNT = len(KNOWN)


            def test_known():
                assert COUNT == 0
        """,
    })
    [finding] = findings(result, "FS003")
    assert "(not fixed: it is read while modules are imported (" in finding.message


def test_a_test_that_cannot_be_read_whole_still_withholds_the_cache_fix(tmp_path):
    # ast parses the sum; the collectors, walking it recursively, cannot: read partly first,
    # it fails when read whole for the cache it names, and counts as a file not parsed.
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "models.py": MODELS,
        "app.py": GLOBAL_APP,
        "tests/__init__.py": "",
        "tests/test_assets.py": "from app import ASSETS\n\nX = " + "+".join(["1"] * 2000) + "\n\n\n"
                                "def test_assets():\n    assert ASSETS == []\n",
    })])
    assert [r.path.name for r in result.errors] == ["test_assets.py"]
    assert not result.changed
    [finding] = findings(result, "FS003")
    assert "which could not be parsed, mentions it)" in finding.message


def test_a_project_with_no_marker_in_a_tests_folder_is_read_whole(tmp_path):
    # No pyproject.toml, setup.py, setup.cfg or .git above: `is_test_module` guesses from the
    # nearest folders, and would take the whole app in tests/proj/ for tests.
    app = "from flask import Flask\n\nfrom database import db_session\n\napp = Flask(__name__)\n"
    root = make_project(tmp_path / "tests" / "proj", {"database.py": DATABASE, "app.py": app})
    result = run([root], ONLY_FS001)
    assert [(r.path.name, f.code) for r in result.files for f in r.initial] == [("app.py", "FS001")]


def test_a_test_of_another_root_counts_the_same_before_or_after_its_root(tmp_path):
    # web/ reaches lib/ through sys.path, and lib's test names web's cache: it is read whole
    # for web's index, which holds lib's modules. Whether lib/ is fixed before web/ or, as
    # zlib/, after it, lib's test counts the same there (its job, read whole: FS013).
    def outcome(lib):
        files = {
            "pyproject.toml": "",
            f"{lib}/db/__init__.py": "",
            f"{lib}/db/conn.py": MODELS,
            f"{lib}/jobs.py": "from db.conn import db_session, Asset\n\n\ndef sync():\n    db_session.query(Asset).all()\n",
            f"{lib}/tests/__init__.py": "",
            f"{lib}/tests/test_conn.py": """\
                from apscheduler.schedulers.background import BackgroundScheduler

                from jobs import sync

                SUPPORTED_ASSETS = None


                def test_sync():
                    BackgroundScheduler().add_job(sync)
            """,
            "web/server.py": "import os\nimport sys\n\n"
                             f'sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "{lib}"))\n\n'
                             "from flask import Flask\n\nfrom db.conn import Asset, db_session\n\n"
                             "app = Flask(__name__)\n\nSUPPORTED_ASSETS = db_session.query(Asset).all()\n",
        }
        root = make_project(tmp_path / lib, files)
        result = run([root])
        return sorted((str(r.path.relative_to(root)).replace(lib, "LIB"), f.code) for r in result.files for f in r.initial)

    assert outcome("lib") == outcome("zlib")


# -- a third blind review, 2026-11-23 --------------------------------------------------------


def test_a_session_helper_in_a_testing_package_production_uses_still_counts(tmp_path):
    # service.py imports nothing the pre-filter seeds on: db.py's helper teaches its name.
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/testing/__init__.py": "",
        "myapp/testing/db.py": "from contextlib import contextmanager\n\nfrom sqlalchemy import create_engine\n"
                               "from sqlalchemy.orm import Session\n\nengine = create_engine(\"sqlite://\")\n"
                               + SESSION_SCOPE.format(make="Session(engine)"),
        "myapp/service.py": """\
            import requests

            from myapp.testing.db import session_scope


            def sync(contact_id):
                with session_scope() as s:
                    s.execute("select 1")
                    requests.get("http://example.com")
        """,
    })])
    assert [(r.path.name, f.code) for r in result.files for f in r.initial] == [("service.py", "FS008")]


def test_a_testing_package_read_whole_for_a_word_is_followed_to_what_it_imports(tmp_path):
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/database.py": DATABASE,
        "myapp/testing/__init__.py": '"""Test helpers: the scoped_session alias."""\nfrom .fixtures import Session\n',
        "myapp/testing/fixtures.py": "from myapp import database\n\nSession = database.db_session\n",
        "myapp/app.py": "from flask import Flask\n\nfrom myapp.testing import Session\n\n"
                        "app = Flask(__name__)\n" + TEARDOWN.replace("db_session", "Session"),
    }, ONLY_FS001)


def test_a_test_spelling_a_cache_s_name_on_something_else_is_read_partly(tmp_path):
    # The memo is `app.get`; the test's `client.get` is a test client's. Read whole (as it was
    # for any test spelling `get`), its own module-level ORM query was an FS003 finding.
    memo_app = GLOBAL_APP.replace('ASSETS = Asset.query.filter_by(symbol="BTC").all()\n', """\
_CACHE = {}


def get(symbol):
    if symbol not in _CACHE:
        _CACHE[symbol] = Asset.query.filter_by(symbol=symbol).first()
    return _CACHE[symbol]
""")
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "models.py": MODELS,
        "app.py": memo_app,
        "tests/__init__.py": "",
        "tests/test_views.py": """\
            from app import app
            from models import Asset

            ALL = Asset.query.all()


            def test_index():
                assert app.test_client().get("/").status_code == 404
        """,
    })])
    assert {(r.path.name, f.code) for r in result.files for f in r.initial} == {("app.py", "FS003")}


# A fourth blind review: caches a test reaches through attributes of a module it imports.
PACKAGE_CACHES = {
    "myapp/__init__.py": "from flask import Flask\n\nfrom myapp.db import db_session\n\napp = Flask(__name__)\n"
                         + TEARDOWN + "\n\nfrom myapp.models import all_assets  # noqa: E402,F401\n",
    "myapp/db.py": MODELS,
    "myapp/models.py": """\
        from functools import lru_cache

        from myapp.db import Asset


        class Repo:
            @staticmethod
            @lru_cache(maxsize=None)
            def assets():
                return Asset.query.filter_by(symbol="BTC").all()


        @lru_cache(maxsize=None)
        def all_assets():
            return Asset.query.all()
    """,
}
REACHED_AS = {
    "a re-export of the package": ("all_assets", "import myapp\n\n\ndef setup_function():\n    myapp.all_assets.cache_clear()\n"),
    "a submodule of the package": ("all_assets", "import myapp\n\n\ndef setup_function():\n    myapp.models.all_assets.cache_clear()\n"),
    "a method of a class": ("assets", "import myapp.models\n\n\ndef setup_function():\n    myapp.models.Repo.assets.cache_clear()\n"),
    "a helper module's name": ("all_assets", "import tests.helpers as h\n\n\ndef setup_function():\n    h.fetch.cache_clear()\n"),
}


@pytest.mark.parametrize("how", sorted(REACHED_AS))
def test_a_cache_a_test_clears_through_attributes_keeps_its_decorator(tmp_path, how):
    cache, test = REACHED_AS[how]
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "", **PACKAGE_CACHES, "tests/__init__.py": "",
        "tests/helpers.py": "from myapp.models import all_assets\n\nfetch = all_assets\n", "tests/test_c.py": test,
    })])
    assert not result.errors
    # The cache the test clears is reported, not fixed; the other one is fixed.
    guarded = [f for f in findings(result, "FS003") if f.message.endswith("is used)")]
    assert [f.message.split("`")[1] for f in guarded] == [cache]


def test_a_test_read_whole_for_a_word_that_calls_the_registrar_on_its_own_app(tmp_path):
    # The call counts for the test's own app (not for production's): no FS001 on it.
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/db.py": DATABASE + "\n\ndef init_db(app):\n    app.teardown_appcontext(lambda exc=None: db_session.remove())\n",
        "tests/__init__.py": "",
        "tests/conftest.py": "from flask import Flask\n\nfrom myapp.db import init_db\n\n"
                             "app = Flask(__name__)\ninit_db(app)  # registers the teardown_appcontext handler\n",
    }, ONLY_FS001)


@pytest.mark.parametrize("other", ["svc0", "svc2"])
def test_a_testing_package_of_one_root_is_production_whatever_the_other_roots(tmp_path, other):
    # Both roots have an `app` module; svc1's imports its testing package, namespace-style.
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "svc1/database.py": DATABASE,
        "svc1/testing/__init__.py": "",
        "svc1/testing/fixtures.py": "import database\n\nSession = database.db_session\n",
        "svc1/app.py": "from flask import Flask\n\nfrom testing.fixtures import Session\n\n"
                       "app = Flask(__name__)\n" + TEARDOWN.replace("db_session", "Session"),
        f"{other}/app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
    }, ONLY_FS001)


def test_a_testing_folder_of_a_namespace_package_production_imports_is_production(tmp_path):
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "myapp/__init__.py": "",
        "myapp/database.py": DATABASE,
        "myapp/testing/fixtures.py": "from myapp import database\n\nSession = database.db_session\n",
        "myapp/app.py": "from flask import Flask\n\nfrom myapp.testing.fixtures import Session\n\n"
                        "app = Flask(__name__)\n" + TEARDOWN.replace("db_session", "Session"),
    }, ONLY_FS001)


# A fifth blind review: Celery apps and app contexts in tests, and roots joined by sys.path.
CELERY_PROJECT = {
    "pyproject.toml": "",
    "db.py": DATABASE,
    "tasks.py": "from celery import shared_task\n\nfrom db import db_session\n\n\n"
                "@shared_task\ndef sync():\n    return db_session.query(1).all()\n",
    "worker.py": "from celery import Celery\n\ncelery = Celery(__name__)\n",
    "tests/__init__.py": "",
}


@pytest.mark.parametrize("pushes", [False, True], ids=["", "pushing an app context"])
def test_a_celery_app_of_the_tests_is_not_where_fs013_s_handler_goes(tmp_path, pushes):
    # The handler goes next to production's Celery app; a context a test fixture pushes is
    # no task's. Before: the fix went into conftest.py (and, with the handler there not
    # counting, never converged), or the context hid FS013.
    conftest = 'from celery import Celery\n\ncelery_app = Celery("tests")\n'
    if pushes:
        conftest = "import pytest\nfrom flask import Flask\n\n" + conftest + (
            "app = Flask(__name__)\n\n\n@pytest.fixture(autouse=True)\ndef context():\n"
            "    with app.app_context():\n        yield\n"
        )
    result = run([make_project(tmp_path / "project", {**CELERY_PROJECT, "tests/conftest.py": conftest})])
    assert not result.errors
    assert [(r.path.name, f.code) for r in result.changed for f in r.applied] == [("worker.py", "FS013")]


def test_an_app_a_test_makes_beside_a_celery_app_serves_the_test_s_routes(tmp_path):
    result = run([make_project(tmp_path / "project", {
        "pyproject.toml": "",
        "db.py": DATABASE,
        "tests/__init__.py": "",
        "tests/conftest.py": "from celery import Celery\nfrom flask import Flask\n\nfrom db import db_session\n\n"
                             "app = Flask(__name__)\ncelery = Celery(__name__)\n\n\n"
                             '@app.route("/probe")\ndef probe():\n    return str(db_session.query(1).all())\n',
    })])
    assert [f.code for r in result.files for f in r.initial] == ["FS001"]  # not FS013: "serves no request"


def test_a_testing_package_another_root_reaches_through_sys_path_is_production(tmp_path):
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "lib/db/__init__.py": "",
        "lib/db/conn.py": DATABASE + "\n\ndef init_db(app):\n    app.teardown_appcontext(lambda exc=None: db_session.remove())\n",
        "lib/testing/__init__.py": "",
        "lib/testing/fixtures.py": "from db.conn import init_db\n\n\ndef setup(app):\n    init_db(app)\n",
        "web/server.py": "import os\nimport sys\n\n"
                         'sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))\n\n'
                         "from flask import Flask\n\nfrom db.conn import db_session\nfrom testing.fixtures import setup\n\n"
                         "app = Flask(__name__)\nsetup(app)\n",
    }, ONLY_FS001)
