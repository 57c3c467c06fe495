"""FS001 missing-teardown: no-op cases first, then rewrites, then what is only reported."""

from textwrap import dedent

import pytest

from fixsessions.codemods.engine import Settings, run
from helpers import check_noop, check_transformed, findings, make_project

DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite://")
db_session = scoped_session(sessionmaker(bind=engine))
"""

ONLY_FS001 = Settings(select=frozenset({"FS001"}))


# -- no-op ------------------------------------------------------------------------------------


def test_noop_teardown_in_same_module(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session, sessionmaker

            db_session = scoped_session(sessionmaker())
            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })
    assert findings(result) == []


def test_noop_teardown_in_another_module_via_init_app(tmp_path):
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE + """
            def shutdown_session(exception=None):
                db_session.remove()


            def init_app(app):
                app.teardown_appcontext(shutdown_session)
        """.replace("\n            ", "\n"),
        "pkg/app.py": """\
            from flask import Flask

            from pkg import database


            def create_app():
                app = Flask(__name__)
                database.init_app(app)
                return app
        """,
    })
    assert findings(result) == []


def test_noop_registrar_passing_app_on_to_another_registrar(tmp_path):
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE + """
            def init_db(flask_app):
                @flask_app.teardown_appcontext
                def cleanup(exc):
                    db_session.remove()
        """.replace("\n            ", "\n"),
        "pkg/extensions.py": """\
            from .database import init_db


            def init_extensions(app):
                init_db(flask_app=app)
        """,
        "pkg/app.py": """\
            from flask import Flask

            from .extensions import init_extensions

            app = Flask(__name__)
            init_extensions(app)
        """,
    })
    assert findings(result) == []


def test_noop_app_passed_to_the_registrar_under_another_name(tmp_path):
    # The package re-exports the app as `application`, and wsgi.py registers the teardown
    # on that name: resolving `pkg.application` gives `pkg.main.app`, whose last part differs.
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "from .main import app as application\n",
        "pkg/database.py": DATABASE + """
            def init_db(flask_app):
                @flask_app.teardown_appcontext
                def cleanup(exc):
                    db_session.remove()
        """.replace("\n            ", "\n"),
        "pkg/main.py": """\
            from flask import Flask

            from .database import db_session

            app = Flask(__name__)
        """,
        "wsgi.py": """\
            from pkg import application
            from pkg.database import init_db

            init_db(application)
        """,
    })
    assert findings(result) == []


def test_noop_teardown_decorated_in_views_module(tmp_path):
    result = check_noop(tmp_path, {
        "pkg/__init__.py": """\
            from flask import Flask

            app = Flask(__name__)

            from pkg import views  # noqa: E402
        """,
        "pkg/database.py": DATABASE,
        "pkg/views.py": """\
            from pkg import app
            from pkg.database import db_session


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })
    assert findings(result) == []


def test_noop_flask_sqlalchemy(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": """\
            from flask import Flask
            from flask_sqlalchemy import SQLAlchemy

            app = Flask(__name__)
            db = SQLAlchemy(app)


            @app.get("/")
            def index():
                return str(db.session.execute(db.select(1)).scalar())
        """,
    })
    assert findings(result) == []


def test_noop_teardown_request(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session, sessionmaker

            db_session = scoped_session(sessionmaker())
            app = Flask(__name__)


            @app.teardown_request
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })
    assert findings(result, "FS001") == []


def test_noop_handler_calls_helper_in_another_module(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE + """
            def cleanup():
                db_session.remove()
        """.replace("\n            ", "\n"),
        "app.py": """\
            from flask import Flask

            import database

            app = Flask(__name__)


            def shutdown(exception=None):
                database.cleanup()


            app.teardown_appcontext(shutdown)
        """,
    })
    assert findings(result) == []


def test_noop_lambda_teardown(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE,
        "app.py": """\
            from flask import Flask

            from database import db_session

            app = Flask(__name__)
            app.teardown_appcontext(lambda exc: db_session.remove())
        """,
    })
    assert findings(result) == []


def test_noop_blueprint_app_wide_teardown(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE,
        "views.py": """\
            from flask import Blueprint

            from database import db_session

            bp = Blueprint("views", __name__)


            @bp.teardown_app_request
            def shutdown_session(exception=None):
                db_session.remove()
        """,
        "app.py": """\
            from flask import Flask

            from views import bp

            app = Flask(__name__)
            app.register_blueprint(bp)
        """,
    })
    assert findings(result) == []


def test_noop_remove_on_something_unresolvable_is_trusted(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE + """
            def registry():
                return db_session
        """.replace("\n            ", "\n"),
        "app.py": """\
            from flask import Flask

            from database import registry

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                registry().remove()
        """,
    })
    assert findings(result) == []


def test_noop_registry_used_only_by_a_script(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE,
        "worker.py": """\
            from database import db_session


            def main():
                print(db_session.execute("select 1"))
        """,
        "web.py": """\
            from flask import Flask

            app = Flask(__name__)
        """,
    })
    assert findings(result) == []


def test_noop_teardown_on_the_app_a_factory_returns(tmp_path):
    # wsgi.py registers the teardown on the app create_app() returned (issue 10).
    result = check_noop(tmp_path, {
        "pkg/__init__.py": """\
            from flask import Flask

            from pkg.database import db_session


            def create_app():
                app = Flask(__name__)

                @app.route("/")
                def index():
                    return str(db_session.execute("select 1").scalar())

                return app
        """,
        "pkg/database.py": DATABASE,
        "wsgi.py": """\
            from pkg import create_app
            from pkg.database import db_session

            application = create_app()


            @application.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })
    assert findings(result) == []


EXTENSION = """\
    from sqlalchemy.orm import scoped_session, sessionmaker

    db_session = scoped_session(sessionmaker())


    class Database:
        def init_app(self, app):
            app.teardown_appcontext(self.shutdown_session)

        def shutdown_session(self, exception=None):
            db_session.remove()


    db = Database()
"""

EXTENSION_APP = """\
    from flask import Flask

    from .database import db, db_session

    app = Flask(__name__)
    db.init_app(app)


    @app.get("/")
    def index():
        return str(db_session.execute("select 1").scalar())
"""


def test_noop_extension_class_whose_init_app_registers_the_teardown(tmp_path):
    # Issue 11: an extension object's init_app(self, app) registers its own method, which
    # removes the registry; a second handler was added.
    result = check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/database.py": EXTENSION, "pkg/app.py": EXTENSION_APP})
    assert findings(result) == []


def test_extension_class_whose_handler_does_not_remove_is_still_found(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/database.py": EXTENSION.replace("db_session.remove()", "print(exception)"),
        "pkg/app.py": EXTENSION_APP,
    }
    root = make_project(tmp_path / "project", files)
    result = run([root], ONLY_FS001)
    assert [f.code for r in result.files for f in r.applied] == ["FS001"]


def test_flask_subclass_app_in_another_module(tmp_path):
    # Issue 11: `class App(Flask)` in one module, `app = App(__name__)` in another: an app
    # like any other (silent before); `logging.getLogger(__name__)` is none.
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/base.py": """\
            from flask import Flask


            class BaseApp(Flask):
                pass


            class App(BaseApp):
                json_sort_keys = False
        """,
        "pkg/app.py": """\
            import logging

            from .base import App
            from .database import db_session

            log = logging.getLogger(__name__)
            app = App(__name__)


            @app.get("/")
            def index():
                return str(db_session.execute("select 1").scalar())
        """,
    }, {
        "pkg/app.py": """\
            import logging

            from .base import App
            from .database import db_session

            log = logging.getLogger(__name__)
            app = App(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()


            @app.get("/")
            def index():
                return str(db_session.execute("select 1").scalar())
        """,
    }, ONLY_FS001)


def test_app_bound_to_two_names_at_once(tmp_path):
    # ckan's `app = flask_app = CKANFlask(__name__)`: an app, named by its first name.
    root = make_project(tmp_path / "project", {
        "database.py": DATABASE,
        "app.py": "from flask import Flask\n\nfrom database import db_session\n\napp = flask_app = Flask(__name__)\n",
    })
    result = run([root], ONLY_FS001)
    assert [f.code for r in result.files for f in r.applied] == ["FS001"]
    assert b"@app.teardown_appcontext\n" in result.changed[0].fixed


def test_noop_throwaway_app_for_a_request_context(tmp_path):
    # `Flask(__name__).test_request_context()` makes an app only to push a context in it: it
    # serves no request, so it needs no teardown (issue 10).
    result = check_noop(tmp_path, {
        "database.py": DATABASE,
        "tests/__init__.py": "",
        "tests/test_urls.py": """\
            from flask import Flask

            from database import db_session


            def test_url_for_item():
                with Flask(__name__).test_request_context("/items/1"):
                    assert db_session.query(object).count() == 0
        """,
    })
    assert findings(result) == []


def test_noop_app_whose_closure_does_not_import_the_registry(tmp_path):
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/app.py": """\
            from flask import Flask

            from .health import bp

            app = Flask(__name__)
            app.register_blueprint(bp)
        """,
        "pkg/health.py": """\
            from flask import Blueprint

            bp = Blueprint("health", __name__)
        """,
    })
    assert findings(result) == []


def test_remove_in_a_view_is_not_a_teardown(tmp_path):
    # A remove() in a view does not count as a teardown: FS001 still fires (and fixes).
    files = {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session, sessionmaker

            db_session = scoped_session(sessionmaker())
            app = Flask(__name__)


            @app.get("/")
            def index():
                db_session.remove()
                return "ok"
        """,
    }
    result = check_transformed(tmp_path, files, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session, sessionmaker

            db_session = scoped_session(sessionmaker())
            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()


            @app.get("/")
            def index():
                db_session.remove()
                return "ok"
        """,
    })
    assert [f.code for f in result.files[0].applied] == ["FS001"]


# -- transformed --------------------------------------------------------------------------------


def _single_module(registry_import: str, registry_call: str) -> tuple[dict, dict]:
    source = f"""\
        from flask import Flask
        {registry_import}

        db_session = {registry_call}(maker)
        app = Flask(__name__)
        app.config["DEBUG"] = False
    """
    expected = f"""\
        from flask import Flask
        {registry_import}

        db_session = {registry_call}(maker)
        app = Flask(__name__)


        @app.teardown_appcontext
        def shutdown_session(exception=None):
            db_session.remove()


        app.config["DEBUG"] = False
    """
    return {"app.py": source}, {"app.py": expected}


def test_module_level_app(tmp_path):
    check_transformed(tmp_path, *_single_module(
        "from sqlalchemy.orm import scoped_session", "scoped_session"
    ))


def test_alias(tmp_path):
    check_transformed(tmp_path, *_single_module(
        "from sqlalchemy.orm import scoped_session as ss", "ss"
    ))


def test_module_alias(tmp_path):
    check_transformed(tmp_path, *_single_module("import sqlalchemy.orm as orm", "orm.scoped_session"))


def test_scoping_module(tmp_path):
    check_transformed(tmp_path, *_single_module(
        "from sqlalchemy.orm.scoping import scoped_session", "scoped_session"
    ))


def test_fully_dotted(tmp_path):
    check_transformed(tmp_path, *_single_module("import sqlalchemy.orm", "sqlalchemy.orm.scoped_session"))


def test_flask_imported_as_module(tmp_path):
    check_transformed(tmp_path, {
        "app.py": """\
            import flask
            from sqlalchemy.orm import scoped_session

            db_session = scoped_session(maker)
            application = flask.Flask(__name__)
        """,
    }, {
        "app.py": """\
            import flask
            from sqlalchemy.orm import scoped_session

            db_session = scoped_session(maker)
            application = flask.Flask(__name__)


            @application.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })


def test_factory_with_early_return_registers_before_every_return(tmp_path):
    check_transformed(tmp_path, {
        "database.py": DATABASE,
        "factory.py": """\
            from flask import Flask

            from database import db_session


            def create_app(testing=False):
                app = Flask(__name__)
                if testing:
                    return app
                app.config["X"] = 1
                return app
        """,
    }, {
        "factory.py": """\
            from flask import Flask

            from database import db_session


            def create_app(testing=False):
                app = Flask(__name__)

                @app.teardown_appcontext
                def shutdown_session(exception=None):
                    db_session.remove()

                if testing:
                    return app
                app.config["X"] = 1
                return app
        """,
    })


def test_registry_in_sibling_module_relative_style(tmp_path):
    # The new import goes where isort and ruff (I001) want it, as the block was in order.
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/views.py": """\
            from .database import db_session
        """,
        "pkg/app.py": """\
            from flask import Flask

            from .views import bp

            app = Flask(__name__)
        """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            from .database import db_session
            from .views import bp

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })


def test_registry_in_sibling_module_absolute_style(tmp_path):
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/views.py": """\
            from pkg.database import db_session
        """,
        "pkg/app.py": """\
            from flask import Flask

            from pkg.views import bp

            app = Flask(__name__)
        """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            from pkg.database import db_session
            from pkg.views import bp

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })


def test_registry_reached_through_module_attribute(tmp_path):
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/db.py": """\
            from sqlalchemy import orm

            Session = orm.scoped_session(orm.sessionmaker())
        """,
        "pkg/app.py": """\
            from flask import Flask

            from pkg import db

            app = Flask(__name__)


            @app.get("/")
            def index():
                return str(db.Session.execute("select 1"))
        """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            from pkg import db

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db.Session.remove()


            @app.get("/")
            def index():
                return str(db.Session.execute("select 1"))
        """,
    })


def test_registry_used_through_query_property_and_reexport(tmp_path):
    check_transformed(tmp_path, {
        "shop/__init__.py": "",
        "shop/database.py": DATABASE + "\nBase.query = db_session.query_property()\n",
        "shop/models.py": """\
            from .database import Base, db_session  # re-exported for the views


            class Item(Base):
                pass
        """,
        "shop/app.py": """\
            from flask import Flask

            from .models import Item, db_session

            app = Flask(__name__)
        """,
    }, {
        "shop/app.py": """\
            from flask import Flask

            from .models import Item, db_session

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })


def test_crlf_and_bom_are_kept(tmp_path):
    source = (
        "\ufefffrom flask import Flask\r\n"
        "from sqlalchemy.orm import scoped_session\r\n"
        "\r\n"
        "db_session = scoped_session(maker)\r\n"
        "app = Flask(__name__)\r\n"
    ).encode("utf-8")
    expected = (
        "\ufefffrom flask import Flask\r\n"
        "from sqlalchemy.orm import scoped_session\r\n"
        "\r\n"
        "db_session = scoped_session(maker)\r\n"
        "app = Flask(__name__)\r\n"
        "\r\n"
        "\r\n"
        "@app.teardown_appcontext\r\n"
        "def shutdown_session(exception=None):\r\n"
        "    db_session.remove()\r\n"
    ).encode("utf-8")
    check_transformed(tmp_path, {"app.py": source}, {"app.py": expected})


def test_no_final_newline_is_kept_missing(tmp_path):
    source = b"from flask import Flask\nfrom sqlalchemy.orm import scoped_session\n\nS = scoped_session(m)\napp = Flask(__name__)\nx = 1"
    expected = (
        b"from flask import Flask\nfrom sqlalchemy.orm import scoped_session\n\nS = scoped_session(m)\n"
        b"app = Flask(__name__)\n\n\n@app.teardown_appcontext\ndef shutdown_session(exception=None):\n"
        b"    S.remove()\n\n\nx = 1"
    )
    check_transformed(tmp_path, {"app.py": source}, {"app.py": expected})


def test_two_apps_sharing_one_registry_both_get_the_teardown(tmp_path):
    result = check_transformed(tmp_path, {
        "database.py": DATABASE,
        "public.py": """\
            from flask import Flask

            from database import db_session

            app = Flask("public")
        """,
        "admin.py": """\
            from flask import Flask

            import database


            def make_admin():
                admin = Flask("admin")
                return admin
        """,
    }, {
        "public.py": """\
            from flask import Flask

            from database import db_session

            app = Flask("public")


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
        "admin.py": """\
            from flask import Flask

            import database


            def make_admin():
                admin = Flask("admin")

                @admin.teardown_appcontext
                def shutdown_session(exception=None):
                    database.db_session.remove()

                return admin
        """,
    })
    assert sorted(f.code for f in result.files for f in f.applied) == ["FS001", "FS001"]


def test_two_registries_one_handler(tmp_path):
    check_transformed(tmp_path, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session

            reads = scoped_session(read_maker)
            writes = scoped_session(write_maker)
            app = Flask(__name__)
        """,
    }, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session

            reads = scoped_session(read_maker)
            writes = scoped_session(write_maker)
            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                reads.remove()
                writes.remove()
        """,
    })


def test_teardown_for_the_wrong_registry_adds_the_missing_one(tmp_path):
    check_transformed(tmp_path, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session

            reads = scoped_session(read_maker)
            writes = scoped_session(write_maker)
            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                reads.remove()
        """,
    }, {
        "app.py": """\
            from flask import Flask
            from sqlalchemy.orm import scoped_session

            reads = scoped_session(read_maker)
            writes = scoped_session(write_maker)
            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session_2(exception=None):
                writes.remove()


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                reads.remove()
        """,
    })


def test_registry_module_importing_the_app_gets_a_local_import(tmp_path):
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/app.py": """\
            from flask import Flask

            app = Flask(__name__)
            app.config["DATABASE_URL"] = "sqlite://"

            from . import views  # noqa: E402
        """,
        "pkg/views.py": """\
            from .database import db_session
        """,
        "pkg/database.py": """\
            from sqlalchemy import create_engine
            from sqlalchemy.orm import scoped_session, sessionmaker

            from .app import app

            engine = create_engine(app.config["DATABASE_URL"])
            db_session = scoped_session(sessionmaker(bind=engine))
        """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                from .database import db_session
                db_session.remove()


            app.config["DATABASE_URL"] = "sqlite://"

            from . import views  # noqa: E402
        """,
    })


# -- reported, not rewritten --------------------------------------------------------------------


def test_app_not_bound_to_a_name_is_reported(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE,
        "factory.py": """\
            from flask import Flask

            import database


            def create_app():
                return Flask(__name__)
        """,
    })
    [finding] = findings(result, "FS001")
    assert finding.fix is None
    assert finding.path.name == "factory.py" and finding.location.line == 7
    assert "not assigned to a plain name" in finding.message


def test_registry_defined_twice_is_reported(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": """\
            import os

            from flask import Flask
            from sqlalchemy.orm import scoped_session

            if os.environ.get("READ_ONLY"):
                db_session = scoped_session(ro_maker)
            else:
                db_session = scoped_session(rw_maker)
            app = Flask(__name__)
        """,
    })
    [finding] = findings(result, "FS001")
    assert finding.fix is None and "defined more than once" in finding.message


def test_registry_only_on_some_paths_is_reported_not_fixed(tmp_path):
    # On the other path `Session` is the sessionmaker itself, which has no remove() (issue 10).
    result = check_noop(tmp_path, {
        "app.py": """\
            import os

            from flask import Flask
            from sqlalchemy import create_engine
            from sqlalchemy.orm import scoped_session, sessionmaker

            Session = sessionmaker(bind=create_engine("sqlite://"))
            if os.environ.get("THREADED"):
                Session = scoped_session(Session)
            app = Flask(__name__)
        """,
    })
    [finding] = findings(result, "FS001")
    assert finding.fix is None
    assert "`Session` is also bound to something that is not a scoped_session (line 7)" in finding.message


def test_name_clash_with_registry_name_is_reported(tmp_path):
    result = check_noop(tmp_path, {
        "database.py": DATABASE,
        "views.py": "from database import db_session\n",
        "app.py": """\
            from flask import Flask

            import views

            db_session = "not the registry"
            app = Flask(__name__)
        """,
    }, ONLY_FS001)
    [finding] = findings(result, "FS001")
    assert finding.fix is None and "already names something else" in finding.message


def test_gevent_without_monkey_patching_is_reported_not_fixed(tmp_path):
    files = {
        "app.py": """\
            from flask import Flask
            from gevent.pywsgi import WSGIServer
            from sqlalchemy.orm import scoped_session

            db_session = scoped_session(maker)
            app = Flask(__name__)
            WSGIServer(("", 8000), app).serve_forever()
        """,
    }
    result = check_noop(tmp_path, files)
    [finding] = findings(result, "FS001")
    assert finding.fix is None and "gevent runs without monkey-patching" in finding.message


CACHING_APP = """\
    import cachetools
    from flask import Flask
    from sqlalchemy.orm import declarative_base

    from database import db_session

    Base = declarative_base()


    class Asset(Base):
        __tablename__ = "assets"


    app = Flask(__name__)


    @cachetools.cached(cachetools.TTLCache(100, 300))
    def supported_assets():
        return db_session.query(Asset).all()


    @app.get("/assets")
    def assets():
        return {"symbols": [a.symbol for a in supported_assets()]}
"""


def test_app_that_caches_orm_objects_gets_an_unsafe_fix_naming_the_caches(tmp_path):
    # Today the thread's session outlives the request, so cached objects stay attached;
    # after remove() every cache hit is detached (issue 10).
    result = check_noop(tmp_path, {"database.py": DATABASE, "app.py": CACHING_APP})
    [finding] = findings(result, "FS001")
    assert finding.fix is not None and finding.fix.applicability == "unsafe"
    assert "(unsafe fix: the app caches ORM objects across requests (`supported_assets`, FS004)" in finding.message


def test_app_that_caches_orm_objects_is_fixed_with_unsafe_fixes(tmp_path):
    result = check_transformed(tmp_path, {"database.py": DATABASE, "app.py": CACHING_APP}, {
        "app.py": CACHING_APP.replace(
            "    app = Flask(__name__)\n",
            "    app = Flask(__name__)\n\n\n    @app.teardown_appcontext\n"
            "    def shutdown_session(exception=None):\n        db_session.remove()\n",
        ),
    }, Settings(select=frozenset({"FS001"}), unsafe_fixes=True))
    assert [f.code for f in result.files[0].applied + result.files[1].applied] == ["FS001"]


def test_gevent_with_monkey_patching_is_fixed(tmp_path):
    check_transformed(tmp_path, {
        "serve.py": """\
            from gevent import monkey

            monkey.patch_all()
        """,
        "app.py": """\
            import gevent
            from flask import Flask
            from sqlalchemy.orm import scoped_session

            db_session = scoped_session(maker)
            app = Flask(__name__)
        """,
    }, {
        "app.py": """\
            import gevent
            from flask import Flask
            from sqlalchemy.orm import scoped_session

            db_session = scoped_session(maker)
            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
        """,
    })


# -- a registry bound in a function through `global` (issue 11) -------------------------------------

GLOBAL_DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

db_session = None


def init_engine(uri):
    global db_session
    engine = create_engine(uri)
    db_session = scoped_session(sessionmaker(bind=engine))
"""


def test_registry_rebound_through_global_is_removed_through_its_module(tmp_path):
    # `from pkg.database import db_session` would bind the placeholder, None: the handler
    # reads the module's attribute, and does nothing before init_engine() ran.
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": GLOBAL_DATABASE,
        "pkg/app.py": """\
            from flask import Flask

            from pkg.database import init_engine


            def create_app():
                app = Flask(__name__)
                init_engine("sqlite://")
                return app
        """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            from pkg import database
            from pkg.database import init_engine


            def create_app():
                app = Flask(__name__)

                @app.teardown_appcontext
                def shutdown_session(exception=None):
                    if database.db_session is not None:
                        database.db_session.remove()

                init_engine("sqlite://")
                return app
        """,
    }, Settings(select=frozenset({"FS001"})))


def test_registry_rebound_through_global_uses_the_module_the_app_imports(tmp_path):
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": GLOBAL_DATABASE,
        "pkg/app.py": """\
            from flask import Flask

            from . import database

            app = Flask(__name__)
            database.init_engine("sqlite://")
        """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            from . import database

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                if database.db_session is not None:
                    database.db_session.remove()


            database.init_engine("sqlite://")
        """,
    }, Settings(select=frozenset({"FS001"})))


def test_noop_registry_rebound_through_global_with_its_teardown(tmp_path):
    check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": GLOBAL_DATABASE,
        "pkg/app.py": """\
            from flask import Flask

            from . import database

            app = Flask(__name__)
            database.init_engine("sqlite://")


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                database.db_session.remove()
        """,
    }, Settings(select=frozenset({"FS001"})))


def test_a_teardown_removing_a_global_that_a_local_shadows_is_reported(tmp_path):
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": GLOBAL_DATABASE.replace("    global db_session\n", ""),
        "pkg/app.py": """\
            from flask import Flask

            from . import database

            app = Flask(__name__)
            database.init_engine("sqlite://")


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                database.db_session.remove()
        """,
    }, Settings(select=frozenset({"FS001"})))
    [finding] = findings(result)
    assert (finding.path.name, finding.location.line) == ("database.py", 9)
    assert finding.message == (
        "`db_session = scoped_session(...)` in `init_engine()` binds a local name: the module's "
        "`db_session` stays None, so the teardown's `db_session.remove()` fails with "
        "AttributeError and no session is ever removed; declare `global db_session` first"
    )


def leaks_before_and_after(tmp_path, files: dict, make_app: str) -> dict:
    """Behaviour, through the session guard: the fixsessions rules of the leak each side's
    request makes, before and after `fixsessions --select FS001`. ``make_app`` is Python
    that binds `app`; the app serves `/` with one SELECT through the registry."""
    import json
    import shutil
    import subprocess
    import sys

    before = make_project(tmp_path / "before", {k: dedent(v) for k, v in files.items()})
    after = tmp_path / "after"
    shutil.copytree(before, after)
    [fixed] = run([after], Settings(select=frozenset({"FS001"}))).changed
    fixed.path.write_bytes(fixed.fixed)
    script = (
        "import json\n"
        "from fixsessions.guard import SessionGuard\n"
        f"{make_app}\n"
        "leaks = []\n"
        "SessionGuard(app, on_leak=leaks.append)\n"
        "assert app.test_client().get('/').text == '1'\n"
        "print(json.dumps([leak.rule for leak in leaks]))\n"
    )
    seen = {}
    for side in (before, after):
        result = subprocess.run([sys.executable, "-B", "-c", script], cwd=side,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        seen[side.name] = json.loads(result.stdout)
    return seen


def test_the_rebound_registry_fix_ends_the_leak_at_run_time(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/database.py": GLOBAL_DATABASE,
        "pkg/app.py": """\
            from flask import Flask
            from sqlalchemy import text

            from pkg import database


            def create_app():
                app = Flask(__name__)
                database.init_engine("sqlite://")

                @app.get("/")
                def index():
                    return str(database.db_session.execute(text("SELECT 1")).scalar())

                return app
        """,
    }
    seen = leaks_before_and_after(tmp_path, files, "from pkg.app import create_app\napp = create_app()")
    assert seen == {"before": ["FS001"], "after": []}


# -- a registry held by a class (issue 11) ------------------------------------------------------------

CLASS_DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker


class Database:
    def init_app(self, app):
        engine = create_engine(app.config["DATABASE_URL"])
        self.Session = scoped_session(sessionmaker(bind=engine))


db = Database()
"""

CLASS_APP = """\
from flask import Flask

from pkg.database import db


def create_app():
    app = Flask(__name__)
    db.init_app(app)
    return app
"""


def test_registry_held_by_a_class_gets_its_teardown_in_init_app(tmp_path):
    result = check_transformed(tmp_path, {
        "pkg/__init__.py": "", "pkg/database.py": CLASS_DATABASE, "pkg/app.py": CLASS_APP,
    }, {
        "pkg/database.py": CLASS_DATABASE.replace(
            "        self.Session = scoped_session(sessionmaker(bind=engine))\n",
            "        self.Session = scoped_session(sessionmaker(bind=engine))\n"
            "\n"
            "        @app.teardown_appcontext\n"
            "        def shutdown_session(exception=None):\n"
            "            self.Session.remove()\n",
        ),
    }, Settings(select=frozenset({"FS001"})))
    [finding] = [f for file in result.files for f in file.applied]
    assert finding.message.startswith(
        "scoped_session `self.Session` of `Database` (made in `init_app()`) is used by Flask app "
        "`app` ("
    )


def test_noop_class_held_registry_whose_init_app_removes_it(tmp_path):
    database = CLASS_DATABASE.replace(
        "        self.Session = scoped_session(sessionmaker(bind=engine))\n",
        "        self.Session = scoped_session(sessionmaker(bind=engine))\n"
        "        app.teardown_appcontext(lambda exc: self.Session.remove())\n",
    )
    check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/database.py": database, "pkg/app.py": CLASS_APP},
               Settings(select=frozenset({"FS001"})))


def test_noop_class_held_registry_no_app_imports(tmp_path):
    check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/database.py": CLASS_DATABASE},
               Settings(select=frozenset({"FS001"})))


def test_class_held_registry_made_without_an_app_is_reported(tmp_path):
    database = CLASS_DATABASE.replace("def init_app(self, app):", "def __init__(self):").replace(
        'app.config["DATABASE_URL"]', '"sqlite://"')
    app = CLASS_APP.replace("    db.init_app(app)\n", "")
    result = check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/database.py": database, "pkg/app.py": app},
                        Settings(select=frozenset({"FS001"})))
    [finding] = findings(result)
    assert finding.message.endswith("(not fixed: `__init__()` is given no app to register a teardown on)")
    assert (finding.path.name, finding.location.line) == ("database.py", 8)


def test_the_class_held_registry_fix_ends_the_leak_at_run_time(tmp_path):
    app = CLASS_APP.replace("    db.init_app(app)\n", """\
    app.config["DATABASE_URL"] = "sqlite://"
    db.init_app(app)

    @app.get("/")
    def index():
        return str(db.Session.execute(text("SELECT 1")).scalar())
""").replace("from flask import Flask\n", "from flask import Flask\nfrom sqlalchemy import text\n")
    files = {"pkg/__init__.py": "", "pkg/database.py": CLASS_DATABASE, "pkg/app.py": app}
    seen = leaks_before_and_after(tmp_path, files, "from pkg.app import create_app\napp = create_app()")
    assert seen == {"before": ["FS001"], "after": []}


# -- an app wrapped by a call (issue 11) ------------------------------------------------------------

WRAPPED_APP = """\
from flask import Flask

from pkg.database import db_session
from pkg.routing import router

app = router(Flask(__name__))
"""


def test_app_wrapped_by_a_function_that_returns_it_is_the_app(tmp_path):
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/routing.py": "def router(app):\n    app.url_map.strict_slashes = False\n    return app\n",
        "pkg/app.py": WRAPPED_APP,
    }, {
        "pkg/app.py": WRAPPED_APP + (
            "\n\n@app.teardown_appcontext\n"
            "def shutdown_session(exception=None):\n"
            "    db_session.remove()\n"
        ),
    }, Settings(select=frozenset({"FS001"})))


def test_app_wrapped_by_middleware_is_reported_with_the_reason(tmp_path):
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/routing.py": "from werkzeug.middleware.proxy_fix import ProxyFix\n\n\n"
                          "def router(app):\n    return ProxyFix(app)\n",
        "pkg/app.py": WRAPPED_APP,
    }, Settings(select=frozenset({"FS001"})))
    [finding] = findings(result)
    assert finding.message.endswith(
        "(not fixed: the app is wrapped by `router(...)`, which fixsessions cannot see return it: "
        "register the teardown on the Flask app before it is wrapped)"
    )


def test_noop_a_registry_only_an_annotation_declares(tmp_path):
    # pycroft: `Session: scoped_session[orm.Session] = LocalProxy(...)`, filled at start-up
    # with a registry scoped by the request context. Taken as a registry, it gave two findings
    # a blind review judged wrong (a docs-only app's FS001, and an FS010 whose fix makes every
    # request fail): what the value is decides, not the annotation.
    database = (
        "from sqlalchemy import orm\n"
        "from sqlalchemy.orm import scoped_session\n"
        "from werkzeug.local import LocalProxy\n\n"
        "Session: scoped_session[orm.Session] = LocalProxy(lambda: None)\n"
    )
    app = "from flask import Flask\n\nfrom pkg.database import Session\n\napp = Flask(__name__)\n"
    check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/database.py": database, "pkg/app.py": app},
               Settings(select=frozenset({"FS001"})))


# -- namespace packages and folders put on sys.path ------------------------------------------------

NAMESPACE_APP = """\
from flask import Flask

from {module} import db_session

app = Flask(__name__)


@app.get("/")
def index():
    return str(db_session.execute("SELECT 1").scalar())
"""

NAMESPACE_FIXED = """\
from flask import Flask

from {module} import db_session

app = Flask(__name__)


@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()


@app.get("/")
def index():
    return str(db_session.execute("SELECT 1").scalar())
"""


@pytest.mark.parametrize(
    "folder, module",
    [
        pytest.param("app", "app.database", id="namespace-package"),
        pytest.param("src/app", "app.database", id="namespace-package-in-src"),
        pytest.param("app/api", "app.api.database", id="nested-namespace-packages"),
        pytest.param("app", "database", id="flat-folder-of-modules"),
    ],
)
def test_folders_without_init_py_imported_either_way(tmp_path, folder, module):
    # `app/` holds no `__init__.py`: run from the project root it is a PEP 420 namespace
    # package (`from app.database import ...`); run from inside, its modules are top-level.
    files = {
        "pyproject.toml": "",
        f"{folder}/database.py": DATABASE,
        f"{folder}/main.py": NAMESPACE_APP.format(module=module),
    }
    check_transformed(tmp_path, files, {f"{folder}/main.py": NAMESPACE_FIXED.format(module=module)}, ONLY_FS001)


def test_a_library_of_the_same_name_is_no_namespace_package(tmp_path):
    # `alembic/` holds migrations; `from alembic import op` is the library, not the folder.
    from fixsessions.codemods.engine.core import project_indexes

    root = make_project(tmp_path, {
        "pyproject.toml": "",
        "alembic/env.py": "from alembic import context\n\n" + DATABASE,
        "alembic/versions/0001_init.py": "from alembic import op\n\n" + DATABASE,
        "app/database.py": DATABASE,
        "app/main.py": "from app import database\n",
    })
    names = {
        facts.name: str(facts.path.relative_to(root))
        for _, index in project_indexes([root]) for facts in index.modules.values()
    }
    assert names == {
        "env": "alembic/env.py",
        "0001_init": "alembic/versions/0001_init.py",
        "app.database": "app/database.py",
        "app.main": "app/main.py",
    }


SYS_PATH_APP = """\
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

from flask import Flask

import db.conn

app = Flask(__name__)
"""


def test_a_registry_in_a_folder_put_on_sys_path(tmp_path):
    check_transformed(tmp_path, {
        "pyproject.toml": "",
        "lib/db/__init__.py": "",
        "lib/db/conn.py": DATABASE,
        "web/server.py": SYS_PATH_APP,
    }, {
        "web/server.py": SYS_PATH_APP + dedent("""\


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db.conn.db_session.remove()
            """),
    }, ONLY_FS001)


def test_noop_other_roots_are_not_searched_without_a_sys_path_change(tmp_path):
    # Without `sys.path.insert`, `import db.conn` from web/ names some installed `db`, not lib/db.
    check_noop(tmp_path, {
        "pyproject.toml": "",
        "lib/db/__init__.py": "",
        "lib/db/conn.py": DATABASE,
        "web/server.py": SYS_PATH_APP.replace('sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))\n', ""),
    }, ONLY_FS001)


def test_a_folder_whose_modules_import_each_other_by_bare_names_keeps_them(tmp_path):
    # tests/ imports `app.main`, but app/main.py imports `database` bare: the app runs with
    # app/ on sys.path, and the registry is `database.db_session`.
    check_transformed(tmp_path, {
        "pyproject.toml": "",
        "app/database.py": DATABASE,
        "app/main.py": NAMESPACE_APP.format(module="database"),
        "tests/test_main.py": "from app.main import app\n",
    }, {"app/main.py": NAMESPACE_FIXED.format(module="database")}, ONLY_FS001)


# -- a registry made by a project function ----------------------------------------------------------

FACTORY_DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite://")


def get_scoped_session():
    return scoped_session(sessionmaker(autocommit=False, autoflush=False, bind=engine))


db_session = get_scoped_session()
"""


def test_a_registry_made_by_a_project_function(tmp_path):
    # alpha-i/service-prediction-api's form: the scoped_session call is inside a function.
    # The only module using the registry imports neither Flask nor SQLAlchemy: the
    # pre-filter must learn the registry's name from the module that makes it.
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": FACTORY_DATABASE,
        "pkg/services.py": "from pkg.database import db_session\n\n\ndef one():\n    return db_session.execute('SELECT 1').scalar()\n",
        "pkg/app.py": "from flask import Flask\n\nfrom pkg import services\n\napp = Flask(__name__)\n",
    }, {
        "pkg/app.py": """\
            from flask import Flask

            from pkg import services
            from pkg.database import db_session

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                db_session.remove()
            """,
    }, ONLY_FS001)


def test_a_handler_imports_the_registry_where_the_module_imports_it_lazily(tmp_path):
    # create_app() imports the database module when called (its engine is made at import):
    # the teardown added beside a module-level app imports it inside the handler too.
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": DATABASE,
        "pkg/app.py": """\
            from flask import Flask

            app = Flask(__name__)


            @app.get("/")
            def index():
                from pkg.database import db_session

                return str(db_session.execute("SELECT 1").scalar())
            """,
    }, {
        "pkg/app.py": """\
            from flask import Flask

            app = Flask(__name__)


            @app.teardown_appcontext
            def shutdown_session(exception=None):
                from pkg.database import db_session
                db_session.remove()


            @app.get("/")
            def index():
                from pkg.database import db_session

                return str(db_session.execute("SELECT 1").scalar())
            """,
    }, ONLY_FS001)
