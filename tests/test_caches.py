"""FS003 global-orm-cache and FS004 memoized-orm: no-op cases first, then rewrites, then
what is only reported."""

from textwrap import dedent

import pytest

from fixsessions.codemods.engine import Settings, run
from helpers import check_noop, check_transformed, findings, make_project

FS003 = Settings(select=frozenset({"FS003"}))
CACHES = Settings(select=frozenset({"FS003", "FS004"}))

DATABASE = """\
from sqlalchemy import Column, Integer, String, create_engine
from sqlalchemy.orm import declarative_base, scoped_session, sessionmaker

engine = create_engine("sqlite://")
db_session = scoped_session(sessionmaker(bind=engine))
Base = declarative_base()
Base.query = db_session.query_property()


class Asset(Base):
    __tablename__ = "assets"
    id = Column(Integer, primary_key=True)
    symbol = Column(String)


class Token(Asset):
    pass
"""


def project(module: str) -> dict:
    return {"pkg/__init__.py": "", "pkg/db.py": DATABASE, "pkg/mod.py": dedent(module)}


# -- no-op ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(
            """\
            from .db import Asset, db_session

            SYMBOLS = db_session.query(Asset.symbol).all()
            """,
            id="primitives-columns",
        ),
        pytest.param(
            """\
            from .db import Asset, db_session

            ASSET_IDS = [a.id for a in db_session.query(Asset).all()]
            COUNT = db_session.query(Asset).count()
            """,
            id="ids-and-counts",
        ),
        pytest.param(
            """\
            import json
            import os

            CONFIG = json.loads(os.environ.get("CONFIG", "{}"))
            DEFAULTS = dict(CONFIG).items()
            """,
            id="configuration",
        ),
        pytest.param(
            """\
            from functools import lru_cache


            @lru_cache(maxsize=None)
            def fib(n):
                return n if n < 2 else fib(n - 1) + fib(n - 2)
            """,
            id="lru_cache-on-a-pure-function",
        ),
        pytest.param(
            """\
            from functools import lru_cache

            import cachetools

            from .db import Asset, db_session


            @lru_cache(maxsize=None)
            def asset_names():
                return {a.symbol: a.id for a in db_session.query(Asset).all()}


            @lru_cache(maxsize=None)
            def symbols(active):
                if active:
                    return tuple(sorted(a.symbol for a in Asset.query.all()))
                return ()


            @cachetools.cached(cachetools.TTLCache(10, 60))
            def asset_count():
                return len(Asset.query.all())
            """,
            id="caches-of-plain-values",  # issue 11: judged by what the function returns
        ),
        pytest.param(
            """\
            from flask import g

            from .db import Asset


            def current_asset(asset_id):
                if "asset" not in g:
                    g.asset = Asset.query.get(asset_id)
                return g.asset
            """,
            id="flask-g",
        ),
        pytest.param(
            """\
            from .db import Asset

            _names = {}


            def asset_name(asset_id):
                if asset_id not in _names:
                    _names[asset_id] = Asset.query.get(asset_id).symbol
                return _names[asset_id]
            """,
            id="memo-of-primitives",
        ),
        pytest.param(
            """\
            class Unmapped:
                query = None


            LATEST = Unmapped.query.all()
            """,
            id="query-on-an-unmapped-class",
        ),
        pytest.param(
            """\
            import argparse

            from .db import Asset

            if __name__ == "__main__":
                parser = argparse.ArgumentParser()
                parser.parse_args()
                assets = Asset.query.all()
                for asset in assets:
                    print(asset.symbol)
            """,
            id="one-shot-script",  # issue 10: its globals die with the command
        ),
    ],
)
def test_noop(tmp_path, module):
    result = check_noop(tmp_path, project(module), CACHES)
    assert findings(result) == []


# -- rewrites ---------------------------------------------------------------------------------------


def test_global_query_result_becomes_a_function_in_every_module(tmp_path):
    # "Loaded at startup." is false of the function: it goes (issue 12, item 8).
    result = check_transformed(tmp_path, {
        **project("""\
            from .db import Asset, db_session

            # Loaded at startup.
            SUPPORTED = db_session.query(Asset).order_by(Asset.symbol).all()  # all of them
            DEFAULT_SYMBOL = "ETH"


            def supported_symbols():
                return {asset.symbol for asset in SUPPORTED}
        """),
        "pkg/views.py": """\
            from . import mod
            from .mod import SUPPORTED


            def count():
                return len(SUPPORTED) + len(mod.SUPPORTED)
        """,
    }, {
        "pkg/mod.py": """\
            from .db import Asset, db_session


            def supported():  # all of them
                return db_session.query(Asset).order_by(Asset.symbol).all()


            DEFAULT_SYMBOL = "ETH"


            def supported_symbols():
                return {asset.symbol for asset in supported()}
        """,
        "pkg/views.py": """\
            from . import mod
            from .mod import supported


            def count():
                return len(supported()) + len(mod.supported())
        """,
    }, FS003)
    assert sorted(f.code for file in result.files for f in file.applied) == ["FS003", "FS003"]


CONSTANT = """\
    from .db import Asset, db_session

    SUPPORTED = db_session.query(Asset).all()
"""


def test_the_new_function_is_named_in_snake_case_aliases_kept_imports_in_order(tmp_path):
    check_transformed(tmp_path, {
        **project(CONSTANT),
        "pkg/views.py": """\
            from .mod import SUPPORTED as ASSETS
            from .mod import (
                SUPPORTED,
                alpha,
                zeta,
            )


            def count():
                return len(ASSETS) + len(SUPPORTED)
        """,
    }, {
        "pkg/mod.py": """\
            from .db import Asset, db_session


            def supported():
                return db_session.query(Asset).all()
        """,
        "pkg/views.py": """\
            from .mod import supported as ASSETS
            from .mod import (
                alpha,
                supported,
                zeta,
            )


            def count():
                return len(ASSETS()) + len(supported())
        """,
    }, FS003)


@pytest.mark.parametrize("where, text", [
    ("pkg/views.py", "from .mod import SUPPORTED\n\n\ndef f(supported):\n    return SUPPORTED, supported\n"),
    ("pkg/mod.py", dedent(CONSTANT) + "__all__ = ['SUPPORTED']\n"),
])
def test_the_name_is_kept_where_the_new_one_could_clash(tmp_path, where, text):
    files = {**project(CONSTANT), "pkg/views.py": "from .mod import SUPPORTED\n\n\ndef f():\n    return SUPPORTED\n"}
    files[where] = dedent(text)
    root = make_project(tmp_path / "project", files)
    result = run([root], FS003)
    fixed = {f.path.name: f.fixed.decode() for f in result.changed}
    assert "def SUPPORTED():" in fixed["mod.py"]
    assert "supported()" not in "".join(fixed.values())


@pytest.mark.parametrize(
    "query",
    [
        "Asset.query.filter_by(symbol='ETH').first()",
        "Token.query.all()",
        "db_session.get(Asset, 1)",
        "db_session.scalars(select(Asset)).all()",
        "db_session.execute(select(Asset)).scalars().all()",
    ],
)
def test_query_spellings(tmp_path, query):
    check_transformed(tmp_path, project(f"""\
        from sqlalchemy import select

        from .db import Asset, Token, db_session

        VALUE = {query}
    """), {
        "pkg/mod.py": f"""\
            from sqlalchemy import select

            from .db import Asset, Token, db_session


            def value():
                return {query}
        """,
    }, FS003)


def test_dict_memo_gives_way_to_the_query(tmp_path):
    check_transformed(tmp_path, project("""\
        from .db import Asset, db_session

        _assets = {}


        def get_asset(asset_id):
            if asset_id not in _assets:
                _assets[asset_id] = db_session.get(Asset, asset_id)
            return _assets[asset_id]
    """), {
        "pkg/mod.py": """\
            from .db import Asset, db_session


            def get_asset(asset_id):
                return db_session.get(Asset, asset_id)
        """,
    }, FS003)


def test_memo_dict_used_elsewhere_is_kept(tmp_path):
    check_transformed(tmp_path, project("""\
        from .db import Asset, db_session

        _assets = {}


        def get_asset(asset_id):
            log(asset_id)
            if asset_id not in _assets:
                _assets[asset_id] = db_session.get(Asset, asset_id)
            return _assets[asset_id]


        def forget():
            _assets.clear()
    """), {
        "pkg/mod.py": """\
            from .db import Asset, db_session

            _assets = {}


            def get_asset(asset_id):
                log(asset_id)
                return db_session.get(Asset, asset_id)


            def forget():
                _assets.clear()
        """,
    }, FS003)


def test_a_cache_that_returns_objects_on_one_path_is_still_found(tmp_path):
    root = make_project(tmp_path / "project", project("""\
        from functools import lru_cache

        from .db import Asset


        @lru_cache(maxsize=None)
        def assets(names_only):
            if names_only:
                return [a.symbol for a in Asset.query.all()]
            return list(Asset.query.all())
        """))
    result = run([root], FS003)
    assert [f.code for r in result.files for f in r.applied] == ["FS003"]


def test_lru_cache_removed_with_its_import(tmp_path):
    check_transformed(tmp_path, project("""\
        import functools
        from functools import lru_cache

        from .db import Asset, db_session


        @lru_cache(maxsize=128)
        def by_symbol(symbol):
            return db_session.query(Asset).filter_by(symbol=symbol).one()


        @functools.cache
        def all_assets():
            with db_session() as session:
                return session.query(Asset).all()
    """), {
        "pkg/mod.py": """\
            from .db import Asset, db_session


            def by_symbol(symbol):
                return db_session.query(Asset).filter_by(symbol=symbol).one()


            def all_assets():
                with db_session() as session:
                    return session.query(Asset).all()
        """,
    }, FS003)


def test_flask_sqlalchemy_model_and_session(tmp_path):
    check_transformed(tmp_path, {
        "app.py": """\
            from flask import Flask
            from flask_sqlalchemy import SQLAlchemy

            app = Flask(__name__)
            db = SQLAlchemy(app)


            class User(db.Model):
                pass


            ADMINS = User.query.filter_by(admin=True).all()
            FIRST = db.session.get(User, 1)
        """,
    }, {
        "app.py": """\
            from flask import Flask
            from flask_sqlalchemy import SQLAlchemy

            app = Flask(__name__)
            db = SQLAlchemy(app)


            class User(db.Model):
                pass


            def admins():
                return User.query.filter_by(admin=True).all()


            def first():
                return db.session.get(User, 1)
        """,
    }, FS003)


# -- reported only ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, reason",
    [
        pytest.param(
            """\
            from .db import Asset

            ALL = Asset.query.all()
            BY_SYMBOL = {a.symbol: a for a in ALL}
            """,
            "it is read while modules are imported",
            id="read-at-import",
        ),
        pytest.param(
            """\
            from .db import Asset

            ALL = Asset.query.all()


            def refresh():
                global ALL
                ALL = Asset.query.all()
            """,
            "it is reassigned through `global`",
            id="reassigned",
        ),
        pytest.param(
            """\
            from .db import Asset, db_session

            _seen = {}


            def remember(asset_id):
                _seen.setdefault(asset_id, db_session.get(Asset, asset_id))
                return _seen[asset_id]
            """,
            "a memo of a shape fixsessions does not rewrite",
            id="other-memo-shape",
        ),
        pytest.param(
            """\
            from functools import lru_cache

            from .db import Asset


            @lru_cache
            def everything():
                return Asset.query.all()


            def reset():
                everything.cache_clear()
            """,
            "its `cache_clear()`/`cache_info()` is used",
            id="cache_clear-used",
        ),
    ],
)
def test_reported_without_fix(tmp_path, module, reason):
    result = check_noop(tmp_path, project(module), FS003)
    found = findings(result, "FS003")
    assert found and all(f.fix is None for f in found)
    assert any(f"(not fixed: {reason}" in f.message for f in found)


def test_flask_caching_and_cachetools_are_reported(tmp_path):
    result = check_noop(tmp_path, {
        **project("""\
            import cachetools
            from flask_caching import Cache

            from .db import Asset

            cache = Cache()


            @cache.memoize(timeout=60)
            def all_assets():
                return Asset.query.all()


            @cache.cached(timeout=60, key_prefix="n")
            def asset_count():
                return Asset.query.count()


            @cachetools.cached(cachetools.TTLCache(10, 60))
            def first_asset():
                return Asset.query.first()
        """),
    }, CACHES)
    reported = sorted((f.code, f.location.line) for f in findings(result))
    assert reported == [("FS004", 10), ("FS004", 20)]
    assert all(f.fix is None for f in findings(result))
    assert "cached by Flask-Caching" in findings(result)[0].message


def test_queries_built_in_a_variable_and_refined_are_followed(tmp_path):
    # Issue 10, class 3: the query is built in a local, refined under `if`, and returned
    # as `q.limit(n).all()`, or in a tuple with other values.
    result = check_noop(tmp_path, {
        **project("""\
            from cachetools import TTLCache, cached
            from flask_caching import Cache

            from .db import Asset, db_session

            cache = Cache()


            @cache.memoize(timeout=60)
            def top_assets(n, symbol=None):
                q = Asset.query.order_by(Asset.symbol)
                if symbol:
                    q = q.filter_by(symbol=symbol)
                return q.limit(n).all()


            @cached(TTLCache(maxsize=10, ttl=60))
            def page(n):
                query = db_session.query(Asset)
                total = query.count()
                return query.limit(n).all(), total


            @cache.memoize()
            def symbols(n):
                q = db_session.query(Asset)
                return [a.symbol for a in q.limit(n).all()]


            @cache.memoize()
            def ids(n):
                q = db_session.query(Asset.id)
                return q.limit(n).all()
        """),
    }, CACHES)
    reported = sorted((f.code, f.location.line) for f in findings(result))
    assert reported == [("FS004", 10), ("FS004", 18)]


# -- a dict filled at start-up by a loader function -------------------------------------------------

STARTUP_APP = """\
from flask import Flask

from .db import Asset, db_session

app = Flask(__name__)
"""


def test_a_dict_filled_at_start_up_is_loaded_by_each_reader(tmp_path):
    check_transformed(tmp_path, {
        **project("""\
            from .db import Asset, db_session
            from .web import app

            # Filled once at start-up.
            ASSETS = {}


            def load_assets():
                \"\"\"Every asset, by symbol.\"\"\"
                ASSETS.clear()
                for asset in db_session.query(Asset).all():
                    ASSETS[asset.symbol] = asset


            @app.context_processor
            def assets():
                return {"assets": ASSETS}


            def asset(symbol):
                return ASSETS.get(symbol)


            with app.app_context():
                load_assets()
        """),
        "pkg/web.py": STARTUP_APP,
    }, {
        "pkg/mod.py": """\
            from .db import Asset, db_session
            from .web import app


            def load_assets():
                \"\"\"Every asset, by symbol.\"\"\"
                assets = {}
                for asset in db_session.query(Asset).all():
                    assets[asset.symbol] = asset
                return assets


            @app.context_processor
            def assets():
                return {"assets": load_assets()}


            def asset(symbol):
                return load_assets().get(symbol)
        """,
    }, FS003)


def test_a_start_up_loader_called_by_the_app_factory(tmp_path):
    # Filled by a comprehension through `update`, run by `create_app()` among other set-up.
    check_transformed(tmp_path, project("""\
        from flask import Flask

        from .db import Asset, db_session

        BY_SYMBOL = {}


        def load():
            BY_SYMBOL.update({a.symbol: a for a in db_session.query(Asset).all()})


        def create_app():
            app = Flask(__name__)
            with app.app_context():
                load()
            app.jinja_env.globals["by_symbol"] = lambda: BY_SYMBOL
            return app
    """), {
        "pkg/mod.py": """\
            from flask import Flask

            from .db import Asset, db_session


            def load():
                by_symbol = {}
                by_symbol.update({a.symbol: a for a in db_session.query(Asset).all()})
                return by_symbol


            def create_app():
                app = Flask(__name__)
                app.jinja_env.globals["by_symbol"] = lambda: load()
                return app
        """,
    }, FS003)


@pytest.mark.parametrize(
    "files, reason",
    [
        pytest.param(
            {"pkg/views.py": "from .mod import ASSETS\n\n\ndef show():\n    return ASSETS\n"},
            "/pkg/views.py imports `ASSETS` or `load_assets`",
            id="imported-elsewhere",
        ),
        pytest.param(
            {"pkg/mod.py": "\n\ndef forget():\n    ASSETS.pop('BTC', None)\n"},
            "`ASSETS` is changed outside `load_assets()` (line 17)",
            id="changed-by-a-reader",
        ),
        pytest.param(
            {"pkg/mod.py": "\n\nFIRST = ASSETS\n"},
            "`ASSETS` is read while the module is imported (line 16)",
            id="read-at-import",
        ),
    ],
)
def test_a_start_up_fill_is_reported_when_its_rewrite_would_be_wrong(tmp_path, files, reason):
    module = dedent("""\
        from .db import Asset, db_session
        from .web import app

        ASSETS = {}


        def load_assets():
            for asset in db_session.query(Asset).all():
                ASSETS[asset.symbol] = asset


        with app.app_context():
            load_assets()
    """)
    tree = {**project(module), "pkg/web.py": STARTUP_APP}
    for name, text in files.items():
        tree[name] = tree[name] + text if name in tree else text
    result = check_noop(tmp_path, tree, FS003)
    [finding] = findings(result, "FS003")
    assert finding.fix is None
    assert "(not fixed: " in finding.message and finding.message.endswith(f"{reason})")


def test_a_loader_also_run_by_a_request_is_a_reload_and_only_reported(tmp_path):
    result = check_noop(tmp_path, {
        **project("""\
            from .db import Asset, db_session
            from .web import app

            ASSETS = {}


            def load_assets():
                for asset in db_session.query(Asset).all():
                    ASSETS[asset.symbol] = asset


            @app.post("/reload")
            def reload():
                load_assets()
                return ""


            with app.app_context():
                load_assets()
        """),
        "pkg/web.py": STARTUP_APP,
    }, FS003)
    [finding] = findings(result, "FS003")
    assert "(not fixed: a memo of a shape fixsessions does not rewrite)" in finding.message


def test_a_dict_filled_at_start_up_serves_current_rows_after_the_fix(tmp_path):
    """Behaviour: a row changed by another connection after start-up shows in the next
    request's template after the fix, not before."""
    import shutil
    import subprocess
    import sys

    database = tmp_path / "app.db"
    files = {
        "pkg/__init__.py": "",
        "pkg/db.py": DATABASE.replace('"sqlite://"', f'"sqlite:///{database}"'),
        "pkg/nav.py": """\
            from flask import Flask, render_template_string

            from .db import Asset, Base, db_session, engine

            app = Flask(__name__)
            Base.metadata.create_all(engine)
            if not db_session.query(Asset).count():
                db_session.add(Asset(id=1, symbol="BTC"))
                db_session.commit()


            @app.teardown_appcontext
            def remove_session(exc=None):
                db_session.remove()

            # Loaded once at start-up.
            NAVIGATION = {}


            def load_navigation():
                for asset in db_session.query(Asset).all():
                    NAVIGATION[asset.id] = asset


            @app.context_processor
            def navigation():
                return {"navigation": NAVIGATION}


            @app.get("/")
            def index():
                return render_template_string("{{ navigation[1].symbol }}")


            with app.app_context():
                load_navigation()
        """,
    }
    before = make_project(tmp_path / "before", files)
    after = tmp_path / "after"
    shutil.copytree(before, after)
    [fixed] = run([after], FS003).changed
    fixed.path.write_bytes(fixed.fixed)
    script = (
        "import sqlite3\n"
        "from pkg.nav import app\n"
        "client = app.test_client()\n"
        "first = client.get('/').text\n"
        f"with sqlite3.connect({str(database)!r}) as other:\n"
        "    other.execute(\"UPDATE assets SET symbol = 'ETH' WHERE id = 1\")\n"
        "print(first, client.get('/').text)\n"
    )
    seen = {}
    for side in (before, after):
        database.unlink(missing_ok=True)
        result = subprocess.run([sys.executable, "-B", "-c", script], cwd=side,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        seen[side.name] = result.stdout.split()
    assert seen == {"before": ["BTC", "BTC"], "after": ["BTC", "ETH"]}


# -- caches held on classes -------------------------------------------------------------------------


def test_caches_held_on_classes_are_reported(tmp_path):
    result = check_noop(tmp_path, project("""\
        from .db import Asset, db_session


        class Features:
            _flags = None
            _by_symbol = {}
            _names = None

            @classmethod
            def load(cls):
                cls._flags = {a.symbol: a for a in db_session.query(Asset).all()}
                cls._names = {a.symbol: a.id for a in db_session.query(Asset).all()}

            def remember(self, symbol):
                type(self)._by_symbol[symbol] = db_session.query(Asset).filter_by(symbol=symbol).first()


        def warm():
            for asset in Asset.query.all():
                Features._by_symbol[asset.symbol] = asset
    """), FS003)
    reported = [(f.location.line, f.message.split(" keeps ")[0]) for f in findings(result)]
    assert reported == [(11, "`Features._flags`"), (15, "`Features._by_symbol`")]
    assert all(f.fix is None and "(not fixed: a cache held on a class;" in f.message for f in findings(result))


def test_a_package_attribute_that_shadows_its_submodule(tmp_path):
    # privacyidea's layout: models/__init__.py does `from .db import db`, so `pkg.models.db` is
    # the SQLAlchemy object, not the submodule of that name, and `db.Model` classes are mapped.
    result = check_noop(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/models/__init__.py": "from .db import db\nfrom .user import User\n",
        "pkg/models/db.py": "from flask_sqlalchemy import SQLAlchemy\n\ndb = SQLAlchemy()\n",
        "pkg/models/user.py": (
            "from pkg.models import db\n\n\nclass User(db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n"
        ),
        "pkg/views.py": (
            "from flask import Blueprint\n\nfrom pkg.models import User\n\nbp = Blueprint('v', __name__)\n"
            "ADMINS = {}\n\n\n@bp.get('/<int:uid>')\ndef show(uid):\n"
            "    ADMINS.setdefault(uid, User.query.get(uid))\n    return ADMINS[uid].name\n"
        ),
    }, FS003)
    assert [(f.path.name, f.location.line) for f in findings(result, "FS003")] == [("views.py", 11)]
