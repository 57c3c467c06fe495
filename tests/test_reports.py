"""The report rules FS006-FS012: for each, no-op cases first, then what is reported.
FS010 also has an unsafe fix."""

import os
from textwrap import dedent

import pytest

from fixsessions.codemods.engine import Settings
from helpers import check_noop, check_transformed, findings

DATABASE = """\
from sqlalchemy.orm import Session, declarative_base, scoped_session, sessionmaker

SessionLocal = sessionmaker()
db_session = scoped_session(SessionLocal)
Base = declarative_base()


class Contact(Base):
    pass
"""

APP = """\
from flask import Flask

from . import views
from .db import db_session

app = Flask(__name__)
app.register_blueprint(views.bp)


@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()
"""


def views(body: str) -> str:
    return VIEWS_HEADER + dedent(body)


def project(views: str, app: str = APP, **extra) -> dict:
    return {
        "pkg/__init__.py": "",
        "pkg/db.py": DATABASE,
        "pkg/app.py": app,
        "pkg/views.py": views,
        **{f"pkg/{k}.py": dedent(v) for k, v in extra.items()},
    }


def only(code: str) -> Settings:
    return Settings(select=frozenset({code}))


def reported(tmp_path, files, code) -> list:
    result = check_noop(tmp_path, files, only(code))
    return [(f.path.name, f.location.line) for f in findings(result, code)]


VIEWS_HEADER = """\
from flask import Blueprint

from .db import Contact, SessionLocal, db_session

bp = Blueprint("views", __name__)
"""


@pytest.mark.parametrize(
    "name, code",
    [
        pytest.param("env", """\
            from alembic import context

            from .app import app

            app.app_context().push()
            """, id="alembic-env"),
        pytest.param("populate", """\
            import argparse

            from .app import app

            ctx = app.app_context()
            ctx.push()

            if __name__ == "__main__":
                parser = argparse.ArgumentParser()
                parser.parse_args()
            """, id="script-no-module-imports"),
    ],
)
def test_fs011_noop_in_one_shot_commands(tmp_path, name, code):
    # An Alembic environment or a command-line script pushes a context for its own run;
    # it ends with the process and serves no request (issue 10).
    assert reported(tmp_path, project(VIEWS_HEADER, **{name: code}), "FS011") == []


def test_fs011_pushed_in_a_module_that_serves(tmp_path):
    # `if __name__ == "__main__": app.run()` serves requests: the pushed context matters.
    assert reported(tmp_path, project(VIEWS_HEADER, serve="""\
        from .app import app

        app.app_context().push()

        if __name__ == "__main__":
            app.run()
        """), "FS011") == [("serve.py", 3)]


# -- FS006 shared-session -----------------------------------------------------------------------


def test_fs006_noop_registry_and_per_call_sessions(tmp_path):
    assert reported(tmp_path, project(views("""
        def helper():
            with SessionLocal() as session:
                return session.get(Contact, 1).id
        """)), "FS006") == []


def test_fs006_module_level_session_and_session_on_an_import_time_object(tmp_path):
    assert reported(tmp_path, project(VIEWS_HEADER, jobs="""\
        from .db import SessionLocal, db_session

        session = SessionLocal()
        current = db_session()


        class Repository:
            def __init__(self):
                self.session = SessionLocal()


        repository = Repository()


        class PerCall:
            def __init__(self):
                self.session = SessionLocal()
        """), "FS006") == [("jobs.py", 3), ("jobs.py", 4), ("jobs.py", 9)]


def test_fs006_message_says_who_shares_the_session(tmp_path):
    # A module no app imports is a worker's or a script's: its session is shared by threads
    # and jobs, not requests (issue 10).
    files = project(VIEWS_HEADER, worker="""\
        from .db import SessionLocal

        session = SessionLocal()


        def run_job(job):
            session.add(job)
            session.commit()
        """)
    result = check_noop(tmp_path, files, only("FS006"))
    [finding] = findings(result, "FS006")
    assert "shared by every thread and job of the process" in finding.message
    files["pkg/views.py"] = VIEWS_HEADER + "from . import worker\n"
    result = check_noop(tmp_path / "web", files, only("FS006"))
    [finding] = findings(result, "FS006")
    assert "shared by every request and thread" in finding.message


def test_fs006_noop_in_a_migration(tmp_path):
    # An Alembic revision need not import alembic: its `revision` names say what it is.
    assert reported(tmp_path, project(VIEWS_HEADER, migration_5770674184de="""\
        from .db import SessionLocal

        revision = "5770674184de"
        down_revision = "ce547319f7be"
        session = SessionLocal()


        def upgrade():
            session.execute("DELETE FROM duplicates")
        """), "FS006") == []


def test_fs006_a_session_bound_to_the_module_through_global(tmp_path):
    # calibre-web's ub.init_db(): `global session; Session = scoped_session(sessionmaker());
    # session = Session()`: one concrete session for every request (a miss of the judged set).
    files = {
        "pkg.py": "from pkg.main import main\n\nmain()\n",  # a launcher beside the package
        "pkg/__init__.py": "from flask import Flask\n\napp = Flask(__name__)\n\nfrom . import ub\n",
        "pkg/main.py": "def main():\n    pass\n",
        "pkg/ub.py": dedent("""\
            from sqlalchemy import create_engine
            from sqlalchemy.orm import scoped_session, sessionmaker

            session = None


            def init_db(path):
                global session
                engine = create_engine(path)
                Session = scoped_session(sessionmaker())
                Session.configure(bind=engine)
                session = Session()
            """),
    }
    result = check_noop(tmp_path, files, only("FS006"))
    [finding] = findings(result, "FS006")
    assert (finding.path.name, finding.location.line) == ("ub.py", 12)
    # `import pkg` finds the package, not the launcher pkg.py: the app imports ub, so the
    # session is shared by requests.
    assert finding.message == (
        "`session` is one Session made in `init_db()` and bound to the module through `global`: "
        "every request and thread share it, with one transaction and identity map for the process"
    )


def test_fs006_noop_a_registry_bound_through_global(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/db.py": dedent("""\
            from sqlalchemy.orm import scoped_session, sessionmaker

            db_session = None


            def init(engine):
                global db_session
                db_session = scoped_session(sessionmaker(bind=engine))
            """),
    }
    assert reported(tmp_path, files, "FS006") == []


# -- FS007 uncommitted-write --------------------------------------------------------------------


def test_fs007_noop_commits_directly_or_through_a_helper(tmp_path):
    assert reported(tmp_path, project(views("""

        def save(contact):
            db_session.add(contact)
            db_session.commit()


        @bp.post("/a")
        def direct():
            db_session.add(Contact())
            db_session.commit()
            return ""


        @bp.post("/b")
        def through_helper():
            save(Contact())
            db_session.add(Contact())
            return ""
        """)), "FS007") == []


def test_fs007_noop_when_a_decorator_commits_for_the_view(tmp_path):
    # A project decorator whose wrapper commits after the view and rolls back on error, in
    # another module, with and without arguments (issue 10).
    assert reported(tmp_path, project(views("""
        from .transactions import atomic, with_session


        @bp.post("/a")
        @with_session
        def create():
            db_session.add(Contact())
            return ""


        @bp.post("/b")
        @atomic(retries=2)
        def update():
            db_session.merge(Contact())
            return ""
        """), transactions="""\
        import functools

        from .db import db_session


        def with_session(view):
            @functools.wraps(view)
            def wrapper(*args, **kwargs):
                try:
                    result = view(*args, **kwargs)
                    db_session.commit()
                    return result
                except Exception:
                    db_session.rollback()
                    raise
            return wrapper


        def atomic(retries=0):
            def decorate(view):
                def run(*args, **kwargs):
                    result = view(*args, **kwargs)
                    db_session.commit()
                    return result
                return run
            return decorate
        """), "FS007") == []


def test_fs007_a_decorator_that_does_not_commit_changes_nothing(tmp_path):
    assert reported(tmp_path, project(views("""
        from .auth import login_required


        @bp.post("/a")
        @login_required
        def create():
            db_session.add(Contact())
            return ""
        """), auth="""\
        import functools


        def login_required(view):
            @functools.wraps(view)
            def wrapper(*args, **kwargs):
                return view(*args, **kwargs)
            return wrapper
        """), "FS007") == [("views.py", 13)]


def test_fs007_noop_when_the_teardown_commits(tmp_path):
    app = APP.replace("    db_session.remove()", "    if exception is None:\n        db_session.commit()\n    db_session.remove()")
    assert reported(tmp_path, project(views("""

        @bp.post("/a")
        def create():
            db_session.add(Contact())
            return ""
        """), app=app), "FS007") == []


def test_fs007_write_without_commit_in_a_view(tmp_path):
    assert reported(tmp_path, project(views("""

        @bp.post("/contacts")
        def create():
            db_session.add(Contact())
            return "", 201


        def not_a_view():
            db_session.add(Contact())
        """)), "FS007") == [("views.py", 10)]


# -- FS008 long-transaction ---------------------------------------------------------------------


def test_fs008_noop_slow_call_outside_the_session(tmp_path):
    assert reported(tmp_path, project(views("""
        import requests


        def sync(contact_id):
            rate = requests.get("https://example.invalid/rate").json()
            with SessionLocal() as session:
                session.get(Contact, contact_id).rate = rate
                session.commit()
        """)), "FS008") == []


def test_fs008_slow_calls_inside_session_scopes(tmp_path):
    assert reported(tmp_path, project(views("""
        import subprocess
        import time

        import requests
        from sqlalchemy.orm import Session


        def sync(contact_id, engine):
            with SessionLocal() as session:
                contact = session.get(Contact, contact_id)
                contact.rate = requests.get("https://example.invalid/rate").json()
                session.commit()
            with Session(engine) as other, other.begin():
                time.sleep(1)
                subprocess.run(["true"])
        """)), "FS008") == [("views.py", 17), ("views.py", 20), ("views.py", 21)]


def test_fs008_judges_what_is_open_at_the_slow_call(tmp_path):
    # With autobegin, nothing is open before the first query or after a commit: a poller
    # that commits, then sleeps, holds no transaction while it sleeps (issue 10).
    assert reported(tmp_path, project(views("""
        import time

        import requests


        def poll(contact_id):
            with SessionLocal() as session:
                time.sleep(1)
                while True:
                    contact = session.get(Contact, contact_id)
                    contact.seen += 1
                    session.commit()
                    time.sleep(30)


        def refresh(contact_id):
            with SessionLocal() as session:
                for attempt in range(3):
                    contact = session.get(Contact, contact_id)
                    contact.rate = requests.get("https://example.invalid/rate").json()
                    session.commit()
        """)), "FS008") == [("views.py", 26)]


# -- FS009 band-aid-refresh ---------------------------------------------------------------------


def test_fs009_noop_outside_views(tmp_path):
    assert reported(tmp_path, project(views("""

        def nightly_job():
            try:
                db_session.expire_all()
            finally:
                db_session.remove()
        """)), "FS009") == []


def test_fs009_band_aids_in_views(tmp_path):
    assert reported(tmp_path, project(views("""

        @bp.get("/contacts/<int:cid>")
        def show(cid):
            db_session.expire_all()
            contact = db_session.get(Contact, cid)
            db_session.refresh(contact)
            db_session.expunge_all()
            db_session.remove()
            return contact.name
        """)), "FS009") == [("views.py", 10), ("views.py", 12), ("views.py", 13), ("views.py", 14)]


# -- FS010 late-cleanup -------------------------------------------------------------------------

LATE_APP = """\
from flask import Flask

from .db import db_session

app = Flask(__name__)


@app.after_request
def cleanup(response):
    db_session.remove()
    return response
"""


def test_fs010_noop_teardown_appcontext(tmp_path):
    assert reported(tmp_path, project(VIEWS_HEADER), "FS010") == []


def test_fs010_after_request_is_reported_and_fixed_only_with_unsafe_fixes(tmp_path):
    result = check_noop(tmp_path / "default", project(VIEWS_HEADER, app=LATE_APP))
    assert [(f.code, f.applicability) for f in findings(result)] == [("FS010", "unsafe")]
    check_transformed(tmp_path / "unsafe", project(VIEWS_HEADER, app=LATE_APP), {
        "pkg/app.py": """\
            from flask import Flask

            from .db import db_session

            app = Flask(__name__)


            @app.teardown_appcontext
            def cleanup(exception=None):
                db_session.remove()
        """,
    }, Settings(unsafe_fixes=True))


def test_fs010_teardown_request_only(tmp_path):
    app = APP.replace("teardown_appcontext", "teardown_request")
    check_transformed(tmp_path, project(VIEWS_HEADER, app=app), {"pkg/app.py": APP}, Settings(unsafe_fixes=True))


def test_fs010_a_handler_registered_elsewhere_that_removes_through_a_helper(tmp_path):
    # The handler's module neither makes the app nor calls `remove()` itself: its helper in
    # another module does.
    app = """\
from flask import Flask

from . import extensions, views

app = Flask(__name__)
app.register_blueprint(views.bp)
extensions.init_app(app)
"""
    assert reported(tmp_path, project(VIEWS_HEADER, app=app, cleanup="""\
        from .db import db_session


        def end_session():
            db_session.remove()
        """, extensions="""\
        from .cleanup import end_session


        def cleanup(response):
            end_session()
            return response


        def init_app(app):
            app.after_request(cleanup)
        """), "FS010") == [("extensions.py", 4)]


def test_fs010_after_request_doing_more_is_reported_without_fix(tmp_path):
    app = LATE_APP.replace("    return response", "    response.headers['X-Done'] = '1'\n    return response")
    result = check_noop(tmp_path, project(VIEWS_HEADER, app=app), Settings(unsafe_fixes=True))
    [finding] = findings(result)
    assert (finding.code, finding.fix) == ("FS010", None)


def test_fs010_messages_say_what_skips_the_handler_here(tmp_path):
    # Issue 10, class 10: what is true of the code in front of the reader.
    after = reported_messages(tmp_path / "after", project(VIEWS_HEADER, app=LATE_APP))
    assert after == [
        "`remove()` runs only in after_request, which Flask skips when a view raises: after each "
        "error the thread keeps its session and open transaction; register it with "
        "`teardown_appcontext`"
    ]
    app = APP.replace("teardown_appcontext", "teardown_request")
    alone = reported_messages(tmp_path / "alone", project(VIEWS_HEADER, app=app))
    assert alone == [
        "`remove()` runs only in teardown_request, which app contexts without a request never "
        "run (CLI commands, `flask shell`, jobs); fixsessions found none pushed in this project, "
        "so this matters once one is added; register it with `teardown_appcontext`"
    ]
    jobs = reported_messages(tmp_path / "jobs", project(VIEWS_HEADER, app=app, jobs="""\
        import click
        from alembic import command  # a web app's CLI migrates with it: no migration module

        from .app import app


        @app.cli.command()
        def import_contacts():
            pass


        @click.command()
        def standalone():  # its own process, no Flask app context: not counted
            pass


        def nightly():
            with app.app_context():
                pass
        """, test_jobs="from .app import app\n\n\ndef test_x():\n    with app.app_context():\n        pass\n"))
    jobs_py = os.path.relpath(tmp_path / "jobs" / "project" / "pkg" / "jobs.py")
    assert jobs == [
        "`remove()` runs only in teardown_request, which app contexts without a request never "
        f"run: here 1 CLI command and 1 app context pushed outside a request ({jobs_py}:8, "
        f"{jobs_py}:18) keep the thread's session and transaction; register it with "
        "`teardown_appcontext`"
    ]


def test_fs010_noop_a_registry_scoped_by_the_request_context(tmp_path):
    # pycroft: the registry lives in the request context; teardown_request is its place, and
    # in teardown_appcontext (after the request context is popped) remove() would raise.
    app = APP.replace("teardown_appcontext", "teardown_request")
    database = DATABASE.replace(
        "scoped_session(SessionLocal)",
        "scoped_session(SessionLocal, scopefunc=lambda: request_ctx._get_current_object())",
    ).replace("from sqlalchemy", "from flask.globals import request_ctx\nfrom sqlalchemy", 1)
    files = project(VIEWS_HEADER, app=app)
    files["pkg/db.py"] = database
    assert "request_ctx._get_current_object()" in database
    assert reported(tmp_path, files, "FS010") == []
    # and FS001 does not move it, or add a teardown_appcontext one, for such a project
    files["pkg/app.py"] = APP.replace(
        "\n\n@app.teardown_appcontext\ndef shutdown_session(exception=None):\n    db_session.remove()\n", "\n")
    result = check_noop(tmp_path / "fs001", files, only("FS001"))
    [finding] = findings(result, "FS001")
    assert finding.message.endswith("which runs after that context is popped)")


def reported_messages(root, files) -> list[str]:
    result = check_noop(root, files, only("FS010"))
    return [f.message for f in findings(result, "FS010")]


# -- FS014 engine-per-request ------------------------------------------------------------------


def test_fs014_an_engine_made_in_a_before_request_hook_or_a_view(tmp_path):
    # Issue 11: a new engine and registry made on every request and stored on the app.
    app = (APP + dedent("""\


        @app.before_request
        def open_db():
            app.session = scoped_session(sessionmaker(bind=create_engine("sqlite://")))


        @app.get("/count")
        def count():
            engine = create_engine("sqlite://")
            return str(engine.connect().execute(text("SELECT 1")).scalar())


        def cli_import():
            engine = create_engine("sqlite://")  # a command: once per process
        """)).replace("from flask import Flask\n", "from flask import Flask\nfrom sqlalchemy import create_engine, text\nfrom sqlalchemy.orm import scoped_session, sessionmaker\n")
    result = check_noop(tmp_path, project(VIEWS_HEADER, app=app), only("FS014"))
    found = [(f.location.line, f.message) for f in findings(result, "FS014")]
    assert [line for line, _ in found] == [19, 24]
    assert found[0][1] == (
        "`create_engine()` in `open_db()`, a before_request hook: every request builds a new "
        "engine and connection pool, whose connections no later request reuses; make the engine "
        "once, at start-up"
    )
    assert "in `count()`, a view" in found[1][1]


def test_fs014_noop_an_engine_made_once(tmp_path):
    assert reported(tmp_path, project(VIEWS_HEADER), "FS014") == []


# -- FS011 pushed-app-context -------------------------------------------------------------------


def test_fs011_noop_with_block(tmp_path):
    assert reported(tmp_path, project(VIEWS_HEADER, manage="""\
        from .app import app

        with app.app_context():
            pass
        """), "FS011") == []


def test_fs011_pushed_at_import(tmp_path):
    assert reported(tmp_path, project(VIEWS_HEADER, manage="""\
        from .app import app

        app.app_context().push()
        ctx = app.app_context()
        ctx.push()
        """), "FS011") == [("manage.py", 3), ("manage.py", 5)]


# -- FS012 legacy-scopefunc ---------------------------------------------------------------------


def test_fs012_noop_default_scope_and_patched_gevent(tmp_path):
    assert reported(tmp_path, {
        "db.py": """\
            import greenlet
            from gevent import monkey
            from sqlalchemy.orm import scoped_session

            monkey.patch_all()
            plain = scoped_session(maker)
            per_greenlet = scoped_session(maker, scopefunc=greenlet.getcurrent)
        """,
    }, "FS012") == []


def test_fs012_legacy_and_unpatched_gevent(tmp_path):
    assert reported(tmp_path, {
        "db.py": """\
            import gevent
            import greenlet
            from flask import _app_ctx_stack
            from sqlalchemy.orm import scoped_session

            legacy = scoped_session(maker, scopefunc=_app_ctx_stack.__ident_func__)
            shared = scoped_session(maker, scopefunc=greenlet.getcurrent)
        """,
    }, "FS012") == [("db.py", 6), ("db.py", 7)]


def test_fs012_thread_scoped_registry_served_by_unpatched_gevent(tmp_path):
    # The default scope is the thread; gevent's server runs many requests on one thread's
    # greenlets. FS001 cites FS012 there; FS012 must say it too (issue 10).
    assert reported(tmp_path, {
        "db.py": """\
            from sqlalchemy.orm import scoped_session

            db_session = scoped_session(maker)
        """,
        "serve.py": """\
            from gevent.pywsgi import WSGIServer

            from app import app

            WSGIServer(("", 8000), app).serve_forever()
        """,
        "app.py": """\
            from flask import Flask

            app = Flask(__name__)
        """,
    }, "FS012") == [("db.py", 3)]


# -- every rule explains itself -----------------------------------------------------------------


@pytest.mark.parametrize("code", [f"FS{n:03d}" for n in range(1, 13)])
def test_every_catalog_rule_is_registered_with_every_section(code):
    from fixsessions.codemods.engine.formats import SECTIONS, explanation
    from fixsessions.codemods.rules import BY_CODE

    rule = BY_CODE[code]
    text = explanation(rule)
    for title, attribute in SECTIONS:
        assert getattr(rule, attribute).strip(), f"{code} has no {attribute}"
        assert f"## {title}\n" in text
    assert rule.name == rule.name.lower() and " " not in rule.name
