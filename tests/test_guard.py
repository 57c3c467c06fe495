"""The run-time guard (fixsessions.guard): what it reports after an app context's teardown,
and what it leaves alone."""

import logging

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from fixsessions.guard import SessionGuard, SessionLeak


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'guard.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT)"))
        connection.execute(text("INSERT INTO t VALUES (1, 'old')"))
    yield engine
    engine.dispose()


@pytest.fixture
def registry(engine):
    registry = scoped_session(sessionmaker(bind=engine))
    yield registry
    registry.remove()


def make_app(registry, *, teardown):
    app = Flask(__name__)
    app.config["TESTING"] = True

    @app.get("/label")
    def label():
        return registry.execute(text("SELECT label FROM t WHERE id = 1")).scalar()

    @app.post("/label")
    def relabel():
        registry.execute(text("UPDATE t SET label = 'new' WHERE id = 1"))
        registry.commit()
        return "ok"

    if teardown:
        @app.teardown_appcontext
        def shutdown_session(exception=None):
            registry.remove()

    return app


def collect(app):
    leaks = []
    SessionGuard(app, on_leak=leaks.append)
    return leaks


def test_a_registry_without_teardown_leaks_its_open_transaction(registry):
    app = make_app(registry, teardown=False)
    leaks = collect(app)
    assert app.test_client().get("/label").text == "old"
    [leak] = leaks
    assert (leak.kind, leak.rule) == ("registry", "FS001")
    assert leak.context == "GET /label (endpoint label)"
    assert leak.message.startswith("a scoped_session registry bound to no module-level name")
    assert "with its transaction open" in leak.message
    assert "test_guard.py" in leak.message and "in label" in leak.message


def test_a_module_level_registry_is_named(registry, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "db_session", registry, raising=False)
    app = make_app(registry, teardown=False)
    leaks = collect(app)
    app.test_client().get("/label")
    assert f"scoped_session `{__name__}.db_session`" in leaks[0].message
    assert "Call `db_session.remove()`" in leaks[0].message


def test_a_committed_session_the_registry_keeps_is_reported_too(registry):
    app = make_app(registry, teardown=False)
    leaks = collect(app)
    app.test_client().post("/label")
    [leak] = leaks
    assert leak.kind == "registry" and "after its commit" in leak.message


def test_the_teardown_that_removes_the_registry_leaves_nothing(registry):
    app = make_app(registry, teardown=True)
    leaks = collect(app)
    client = app.test_client()
    client.get("/label")
    client.post("/label")
    assert leaks == []


def test_a_hand_made_session_left_open_is_reported_where_it_began(engine):
    app = Flask(__name__)
    kept = []

    @app.get("/")
    def view():
        session = Session(engine)
        kept.append(session)  # an error reporter, a cache, a traceback: it stays alive
        return session.execute(text("SELECT label FROM t")).scalar()

    leaks = collect(app)
    app.test_client().get("/")
    [leak] = leaks
    assert (leak.kind, leak.rule) == ("session", "FS005")
    assert "in view" in leak.message


def test_a_hand_made_session_closed_or_in_a_with_block_is_fine(engine):
    app = Flask(__name__)

    @app.get("/closed")
    def closed():
        session = Session(engine)
        try:
            return session.execute(text("SELECT label FROM t")).scalar()
        finally:
            session.close()

    @app.get("/with")
    def with_block():
        with Session(engine) as session:
            return session.execute(text("SELECT label FROM t")).scalar()

    leaks = collect(app)
    client = app.test_client()
    assert client.get("/closed").text == client.get("/with").text == "old"
    assert leaks == []


def test_a_connection_never_returned_to_its_pool_is_reported(engine):
    app = Flask(__name__)
    kept = []

    @app.get("/")
    def view():
        connection = engine.connect()
        kept.append(connection)
        return connection.execute(text("SELECT label FROM t")).scalar()

    leaks = collect(app)
    app.test_client().get("/")
    [leak] = leaks
    assert leak.kind == "connection" and "in view" in leak.message


def test_raise_mode_fails_the_request_that_leaked(registry):
    app = make_app(registry, teardown=False)
    SessionGuard(app, mode="raise")
    with pytest.raises(SessionLeak, match=r"GET /label \(endpoint label\)"):
        app.test_client().get("/label")


def test_warn_mode_logs_one_line_per_leak(registry, caplog):
    app = make_app(registry, teardown=False)
    SessionGuard(app)
    with caplog.at_level(logging.WARNING, logger="fixsessions.guard"):
        app.test_client().get("/label")
    [record] = caplog.records
    assert record.getMessage().startswith("GET /label (endpoint label): a scoped_session registry")


def test_counts_what_leaked_and_what_is_still_open(registry):
    app = make_app(registry, teardown=False)
    guard = SessionGuard(app, on_leak=lambda leak: None)
    app.test_client().get("/label")
    assert (guard.leaked, guard.open_leaks()) == (1, 1)
    registry.remove()
    assert (guard.leaked, guard.open_leaks()) == (1, 0)


def test_prometheus_sees_the_leaks(registry):
    prometheus = pytest.importorskip("prometheus_client")
    before = prometheus.REGISTRY.get_sample_value("fixsessions_session_leaks_total") or 0
    app = make_app(registry, teardown=False)
    SessionGuard(app, on_leak=lambda leak: None)
    app.test_client().get("/label")
    assert prometheus.REGISTRY.get_sample_value("fixsessions_session_leaks_total") == before + 1
    assert prometheus.REGISTRY.get_sample_value("fixsessions_leaked_sessions") >= 1
    registry.remove()


def test_checks_when_the_outermost_push_of_a_context_ends(registry):
    # A request inside `with app.app_context():` pushes no context of its own: teardown runs,
    # and the guard looks, only when the outer context is popped.
    app = make_app(registry, teardown=True)
    leaks = collect(app)
    with app.app_context():
        app.test_client().get("/label")
        registry.execute(text("SELECT 1"))
        assert leaks == []
    assert leaks == []


def test_an_app_without_a_guard_is_not_watched(registry):
    guarded = make_app(registry, teardown=False)
    leaks = collect(guarded)
    make_app(registry, teardown=False).test_client().get("/label")
    assert leaks == []


def test_a_guard_on_every_app_sees_apps_made_after_it(registry):
    leaks = []
    guard = SessionGuard(on_leak=leaks.append)
    guard.watch_every_app()
    try:
        make_app(registry, teardown=False).test_client().get("/label")
    finally:
        guard.close()
    assert [leak.rule for leak in leaks] == ["FS001"]
    registry.remove()
    make_app(registry, teardown=False).test_client().get("/label")
    assert len(leaks) == 1


def test_a_wrong_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of warn, raise"):
        SessionGuard(mode="log")
