"""FS005 ad-hoc-session: no-op cases first, then safe rewrites, unsafe ones, and reports."""

from textwrap import dedent

import pytest

from fixsessions.codemods.engine import Settings, run
from helpers import check_noop, check_transformed, findings, make_project

FS005 = Settings(select=frozenset({"FS005"}))
FS005_UNSAFE = Settings(select=frozenset({"FS005"}), unsafe_fixes=True)

DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine)
db_session = scoped_session(SessionLocal)
"""

DATABASE_WITH_HELPER = """\
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine)


@contextmanager
def get_db_session():
    \"\"\"A session that commits on success, rolls back on any error and always closes.\"\"\"
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


db_session = scoped_session(SessionLocal)
"""


def project(services: str) -> dict:
    return {"pkg/__init__.py": "", "pkg/database.py": DATABASE, "pkg/services.py": services}


# -- no-op --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "services",
    [
        pytest.param(
            """\
            from .database import db_session


            def rename(item, name):
                session = db_session()
                item.name = name
                session.commit()
            """,
            id="scoped_session-registry-call",
        ),
        pytest.param(
            """\
            from .database import SessionLocal


            def get_db():
                db = SessionLocal()
                try:
                    yield db
                finally:
                    db.close()
            """,
            id="session-provider-generator",
        ),
        pytest.param(
            """\
            from .database import SessionLocal


            def make_session():
                session = SessionLocal()
                session.info["origin"] = "api"
                return session
            """,
            id="session-factory-function",
        ),
        pytest.param(
            """\
            from .database import SessionLocal


            def rename(item_id, name):
                with SessionLocal() as session, session.begin():
                    session.get(Item, item_id).name = name
            """,
            id="already-a-with-block",
        ),
        pytest.param(
            """\
            import sqlite3


            def store(row):
                connection = sqlite3.connect("x.db")
                connection.execute("insert into t values (?)", row)
                connection.commit()
                connection.close()
            """,
            id="not-a-session",
        ),
    ],
)
def test_noop(tmp_path, services):
    result = check_noop(tmp_path, project(services))
    assert findings(result, "FS005") == []


def test_noop_existing_helper_is_not_itself_reported(tmp_path):
    result = check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/database.py": DATABASE_WITH_HELPER})
    assert findings(result) == []


# -- safe rewrites ------------------------------------------------------------------------------


def test_straight_line_commit_and_close(tmp_path):
    result = check_transformed(tmp_path, project("""\
        from .database import SessionLocal
        from .models import Item


        def rename(item_id, name):
            # Rename one item.
            session = SessionLocal()  # short-lived
            item = session.get(Item, item_id)
            if item is None:
                raise LookupError(item_id)
            item.name = name
            session.commit()
            session.close()
            return name
    """), {
        "pkg/database.py": DATABASE_WITH_HELPER,
        "pkg/services.py": """\
            from .database import get_db_session
            from .models import Item


            def rename(item_id, name):
                # Rename one item.
                with get_db_session() as session:  # short-lived
                    item = session.get(Item, item_id)
                    if item is None:
                        raise LookupError(item_id)
                    item.name = name
                return name
        """,
    }, FS005)
    assert sorted(f.path.name for f in result.files for f in f.applied) == ["database.py", "services.py"]


def test_closed_in_finally_is_left_alone(tmp_path):
    # Closed on every path: `close()` rolls back what an error left. A with-block would
    # change the spelling only (judged noise on real code: Flexget's repair() and vacuum()).
    for handlers in ("", "    except Exception:\n        session.rollback()\n        raise\n"):
        check_noop(tmp_path / str(len(handlers)), project(
            "from pkg.database import SessionLocal\n\n\n"
            "def link(a, b):\n"
            "    session = SessionLocal()\n"
            "    try:\n"
            "        session.get(A, a).b_id = b\n"
            "        session.commit()\n"
            + handlers
            + "    finally:\n"
            "        session.close()\n"
        ), FS005)


CONTEXT_SESSION = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from pkg.session_class import ContextSession

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine, class_=ContextSession)
"""

SESSION_CLASS = """\
from sqlalchemy.orm import Session


class ContextSession(Session):
    def __exit__(self, exc_type, exc_val, exc_tb):
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            super().__exit__(exc_type, exc_val, exc_tb)
"""


def test_a_sessionmaker_whose_class_commits_on_exit_is_the_helper(tmp_path):
    # Flexget's ContextSession: `with Session() as session:` commits, rolls back and closes,
    # so no get_db_session() is generated to duplicate it.
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/session_class.py": SESSION_CLASS,
        "pkg/database.py": CONTEXT_SESSION,
        "pkg/services.py": """\
            from pkg.database import SessionLocal


            def link(a, b):
                session = SessionLocal()
                session.get(A, a).b_id = b
                session.commit()
                session.close()
        """,
    }, {
        "pkg/services.py": """\
            from pkg.database import SessionLocal


            def link(a, b):
                with SessionLocal() as session:
                    session.get(A, a).b_id = b
        """,
    }, FS005)


def test_a_class_exit_that_does_not_commit_is_no_helper(tmp_path):
    root = make_project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/session_class.py": SESSION_CLASS.replace("self.commit()", "pass"),
        "pkg/database.py": CONTEXT_SESSION,
        "pkg/services.py": "from pkg.database import SessionLocal\n\n\ndef f():\n"
                           "    s = SessionLocal()\n    s.add(1)\n    s.commit()\n    s.close()\n",
    })
    fixed = {f.path.name: f.fixed.decode() for f in run([root], FS005).changed}
    assert "def get_db_session():" in fixed["database.py"]
    assert "    with get_db_session() as s:\n        s.add(1)\n" in fixed["services.py"]


INLINE = """\
from sqlalchemy.orm import Session, sessionmaker

from .database import engine


def record(event):
    session = {make}
    session.add(event)
    session.commit()
    if event.urgent:
        return
    session.close()
"""


@pytest.mark.parametrize("make", ["Session(engine)", "sessionmaker(bind=engine)()"])
def test_an_inline_session_is_closed_in_finally_and_keeps_its_commit(tmp_path, make):
    # Issue 11: no sessionmaker to wrap, so no helper; the rewrite only adds the close on every
    # path (the early return left the session to the garbage collector before). Not `with`:
    # SQLAlchemy < 1.4 sessions are no context managers (judged on securedrop, which pins 1.3).
    check_transformed(tmp_path, project(INLINE.format(make=make)), {
        "pkg/services.py": f"""\
            from sqlalchemy.orm import Session, sessionmaker

            from .database import engine


            def record(event):
                session = {make}
                try:
                    session.add(event)
                    session.commit()
                    if event.urgent:
                        return
                finally:
                    session.close()
        """,
    }, FS005)


def test_an_inline_session_whose_objects_leave_the_block_is_unsafe(tmp_path):
    services = INLINE.format(make="Session(engine)").replace("        return\n", "        return event\n")
    result = check_noop(tmp_path, project(services), FS005)
    [finding] = findings(result, "FS005")
    assert finding.message.endswith(
        "(unsafe fix: it returns from inside the session: what it returns would come back detached)"
    )


STORE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import {maker}, sessionmaker


class Store:
    def __init__(self, url):
        self.Session = {made}

    def add(self, item):
        session = self.Session()
        session.add(item)
        session.commit()
        session.close()
"""


def test_a_session_from_a_sessionmaker_a_class_holds_is_closed_in_finally(tmp_path):
    # Issue 11: `self.Session()` in a class (36 methods of one real project).
    made = "sessionmaker(bind=create_engine(url))"
    check_transformed(tmp_path, {"pkg/__init__.py": "", "pkg/store.py": STORE.format(maker="Session", made=made)}, {
        "pkg/store.py": STORE.format(maker="Session", made=made).replace(
            "        session.add(item)\n        session.commit()\n        session.close()\n",
            "        try:\n            session.add(item)\n            session.commit()\n"
            "        finally:\n            session.close()\n",
        ),
    }, FS005)


def test_noop_a_scoped_session_a_class_holds(tmp_path):
    # Its call is the request's shared session, never a hand-made one.
    made = "scoped_session(sessionmaker(bind=create_engine(url)))"
    check_noop(tmp_path, {"pkg/__init__.py": "", "pkg/store.py": STORE.format(maker="scoped_session", made=made)}, FS005)


def test_a_session_from_a_project_helper_that_returns_a_fresh_one(tmp_path):
    # Issue 11: `def get_session(): return SessionLocal()`, closed only on the happy path.
    services = """\
        from .database import SessionLocal


        def get_session():
            return SessionLocal()


        def record(event):
            session = get_session()
            session.add(event)
            session.commit()
            session.close()
        """
    result = check_transformed(tmp_path, project(dedent(services)), {
        "pkg/services.py": """\
            from .database import SessionLocal


            def get_session():
                return SessionLocal()


            def record(event):
                session = get_session()
                try:
                    session.add(event)
                    session.commit()
                finally:
                    session.close()
        """,
    }, FS005)
    [finding] = [f for file in result.files for f in file.applied]
    assert finding.message.startswith("session `session` from `get_session()` is closed by hand")


def test_noop_a_helper_that_returns_the_registrys_session(tmp_path):
    # `db_session()` is the thread's shared session, not a fresh one.
    services = """\
        from .database import db_session


        def get_session():
            return db_session()


        def record(event):
            session = get_session()
            session.add(event)
            session.commit()
            session.close()
        """
    check_noop(tmp_path, project(dedent(services)), FS005)


def test_closed_only_on_the_happy_path(tmp_path):
    check_transformed(tmp_path, project("""\
        from pkg.database import SessionLocal


        def link(a, b):
            session = SessionLocal()
            try:
                session.get(A, a).b_id = b
                session.commit()
            except:
                session.rollback()
                raise
            session.close()
    """), {
        "pkg/database.py": DATABASE_WITH_HELPER,
        "pkg/services.py": """\
            from pkg.database import get_db_session


            def link(a, b):
                with get_db_session() as session:
                    session.get(A, a).b_id = b
        """,
    }, FS005)


def test_never_closed(tmp_path):
    check_transformed(tmp_path, project("""\
        from pkg import database


        def record(event):
            session = database.SessionLocal()
            session.add(Event(name=event))
            session.commit()
            log.info("recorded %s", event)
    """), {
        "pkg/database.py": DATABASE_WITH_HELPER,
        "pkg/services.py": """\
            from pkg import database


            def record(event):
                with database.get_db_session() as session:
                    session.add(Event(name=event))
                log.info("recorded %s", event)
        """,
    }, FS005)


def test_existing_helper_is_reused_and_nothing_generated(tmp_path):
    database = DATABASE + """
from contextlib import contextmanager


@contextmanager
def session_scope():
    s = SessionLocal()
    try:
        yield s
        s.commit()
    except Exception:
        s.rollback()
        raise
    finally:
        s.close()
"""
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": database,
        "pkg/services.py": """\
            from .database import SessionLocal, db_session


            def record(event):
                session = SessionLocal()
                session.add(Event(name=event))
                session.commit()
                session.close()
        """,
    }, {
        "pkg/services.py": """\
            from .database import db_session, session_scope


            def record(event):
                with session_scope() as session:
                    session.add(Event(name=event))
        """,
    }, FS005)


def test_factory_and_use_in_one_module_with_crlf(tmp_path):
    source = (
        "from sqlalchemy.orm import sessionmaker\r\n"
        "\r\n"
        "Session = sessionmaker()\r\n"
        "\r\n"
        "\r\n"
        "def record(event):\r\n"
        "    s = Session()\r\n"
        "    s.add(event)\r\n"
        "    s.commit()\r\n"
        "    s.close()\r\n"
    )
    expected = (
        "from contextlib import contextmanager\r\n"
        "\r\n"
        "from sqlalchemy.orm import sessionmaker\r\n"
        "\r\n"
        "Session = sessionmaker()\r\n"
        "\r\n"
        "\r\n"
        "@contextmanager\r\n"
        "def get_db_session():\r\n"
        '    """A session that commits on success, rolls back on any error and always closes."""\r\n'
        "    session = Session()\r\n"
        "    try:\r\n"
        "        yield session\r\n"
        "        session.commit()\r\n"
        "    except BaseException:\r\n"
        "        session.rollback()\r\n"
        "        raise\r\n"
        "    finally:\r\n"
        "        session.close()\r\n"
        "\r\n"
        "\r\n"
        "def record(event):\r\n"
        "    with get_db_session() as s:\r\n"
        "        s.add(event)\r\n"
    )
    check_transformed(tmp_path, {"jobs.py": source.encode()}, {"jobs.py": expected.encode()}, FS005)


# -- unsafe: reported by default, rewritten with --unsafe-fixes ---------------------------------

UNSAFE = [
    pytest.param(
        """\
        def load(item_id):
            session = SessionLocal()
            item = session.get(Item, item_id)
            session.close()
            return item
        """,
        """\
        def load(item_id):
            with get_db_session() as session:
                item = session.get(Item, item_id)
            return item
        """,
        "`item` is used after the block",
        id="object-returned",
    ),
    pytest.param(
        """\
        def count():
            session = SessionLocal()
            n = session.query(Item).count()
            session.close()
            print(n)
        """,
        """\
        def count():
            with get_db_session() as session:
                n = session.query(Item).count()
            print(n)
        """,
        "`n` is used after the block",
        id="value-used-after",
    ),
    pytest.param(
        """\
        def touch(item_id):
            session = SessionLocal()
            session.get(Item, item_id).seen = True
            session.close()
        """,
        """\
        def touch(item_id):
            with get_db_session() as session:
                session.get(Item, item_id).seen = True
        """,
        "it never commits, and the block would commit",
        id="never-committed",
    ),
    pytest.param(
        """\
        def rename(item_id, name):
            session = SessionLocal()
            item = session.get(Item, item_id)
            if item.name == name:
                return False
            item.name = name
            session.commit()
            session.close()
        """,
        """\
        def rename(item_id, name):
            with get_db_session() as session:
                item = session.get(Item, item_id)
                if item.name == name:
                    return False
                item.name = name
        """,
        "an early `return` inside the block would now commit what was done before it",
        id="early-return",
    ),
    pytest.param(
        """\
        def rename(item_id, name):
            session = SessionLocal()
            item = session.get(Item, item_id)
            if item.name == name:
                return item
            item.name = name
            session.commit()
            session.close()
        """,
        """\
        def rename(item_id, name):
            with get_db_session() as session:
                item = session.get(Item, item_id)
                if item.name == name:
                    return item
                item.name = name
        """,
        "it returns from inside the session: what it returns comes back expired and detached",
        id="early-return-of-an-object",
    ),
    pytest.param(
        """\
        def archive(item_id):
            session = SessionLocal()
            session.get(Item, item_id).archived = True
            session.commit()
            log.info("archived %s", item_id)
            session.close()
        """,
        """\
        def archive(item_id):
            with get_db_session() as session:
                session.get(Item, item_id).archived = True
                session.commit()
                log.info("archived %s", item_id)
        """,
        "it commits on line 7, before its last statements: the block would commit once more "
        "at its end, after them",
        id="commits-then-logs",
    ),
    pytest.param(
        """\
        def items():
            session = SessionLocal()
            for item in session.query(Item):
                yield item.name
            session.commit()
            session.close()
        """,
        """\
        def items():
            with get_db_session() as session:
                for item in session.query(Item):
                    yield item.name
        """,
        "it yields inside the session: the block would commit only when the caller finishes "
        "iterating, and roll back if it stops early",
        id="generator",
    ),
    pytest.param(
        """\
        def remember(item_id):
            session = SessionLocal()
            item = session.get(Item, item_id)
            CACHE[item_id] = item
            session.commit()
            session.close()
        """,
        """\
        def remember(item_id):
            with get_db_session() as session:
                item = session.get(Item, item_id)
                CACHE[item_id] = item
        """,
        "it stores into `CACHE`",
        id="stored-outside",
    ),
    pytest.param(
        """\
        def two_steps(item):
            session = SessionLocal()
            session.add(item)
            session.commit()
            item.state = "done"
            session.commit()
            session.close()
        """,
        """\
        def two_steps(item):
            with get_db_session() as session:
                session.add(item)
                session.commit()
                item.state = "done"
        """,
        "it commits before the end as well",
        id="several-commits",
    ),
]

HEADER = "from .database import SessionLocal\n\n\n"
HEADER_AFTER = "from .database import get_db_session\n\n\n"


@pytest.mark.parametrize("before, after, reason", UNSAFE)
def test_unsafe_is_reported_not_rewritten_by_default(tmp_path, before, after, reason):
    result = check_noop(tmp_path, project(HEADER + dedent(before)), FS005)
    [finding] = findings(result, "FS005")
    assert finding.applicability == "unsafe"
    assert f"(unsafe fix: {reason}" in finding.message


@pytest.mark.parametrize("before, after, reason", UNSAFE)
def test_unsafe_is_rewritten_with_unsafe_fixes(tmp_path, before, after, reason):
    check_transformed(tmp_path, project(HEADER + dedent(before)), {
        "pkg/database.py": DATABASE_WITH_HELPER,
        "pkg/services.py": HEADER_AFTER + dedent(after),
    }, FS005_UNSAFE)


# -- reported only ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "services, reason",
    [
        pytest.param(
            """\
            from sqlalchemy.orm import Session

            from .database import engine


            def record(event):
                session = Session(engine)
                session.add(event)
                event.on_change(lambda: session.flush())
                session.commit()
                session.close()
            """,
            "a nested function uses `session`",
            id="Session(engine) used by a lambda",
        ),
        pytest.param(
            """\
            from .database import SessionLocal


            def record(event):
                session = SessionLocal()
                session.add(event)
                if event.urgent:
                    session.close()
                    return
                session.commit()
                session.close()
            """,
            "`session` is closed or rolled back inside the block as well",
            id="close-in-a-branch",
        ),
        pytest.param(
            """\
            from .database import SessionLocal


            def record(event):
                session = SessionLocal()
                session.add(event)
                session.commit()  # audit needs this
                session.close()
            """,
            "a comment on the lines the rewrite removes would be lost",
            id="comment-would-be-lost",
        ),
    ],
)
def test_reported_without_fix(tmp_path, services, reason):
    result = check_noop(tmp_path, project(services), FS005_UNSAFE)
    [finding] = findings(result, "FS005")
    assert finding.fix is None
    assert f"(not fixed: {reason}" in finding.message


# -- real idioms that are not hand-made sessions (issue 10) --------------------------------------

MIGRATION_HEAD = """\
import sqlalchemy as sa
from alembic import op
from sqlalchemy import orm

from pkg.models import Policy

revision = "3d7f8b29cbb1"
down_revision = "00762b3f7a60"

"""


@pytest.mark.parametrize(
    "upgrade",
    [
        pytest.param(
            """\
            def upgrade():
                bind = op.get_bind()
                session = orm.Session(bind=bind)
                for policy in session.query(Policy).filter(Policy.action.like("webauthn%")):
                    policy.action = policy.action.replace("preference", "algorithms")
                session.commit()
            """,
            id="bind-variable",
        ),
        pytest.param(
            """\
            def upgrade():
                session = orm.Session(bind=op.get_bind())
                session.add(Policy(name="default"))
                session.commit()
            """,
            id="bind-call",
        ),
        pytest.param(
            """\
            Session = orm.sessionmaker()


            def downgrade():
                connection = op.get_bind()
                session = Session(connection)
                try:
                    session.query(Policy).delete()
                    session.commit()
                except Exception:
                    session.rollback()
                    raise
            """,
            id="module-sessionmaker-positional-connection",
        ),
    ],
)
def test_alembic_data_migration_is_not_a_hand_made_session(tmp_path, upgrade):
    files = {
        "pkg/__init__.py": "",
        "pkg/models.py": "class Policy:\n    pass\n",
        "migrations/versions/3d7f8b29cbb1_.py": MIGRATION_HEAD + dedent(upgrade),
    }
    result = check_noop(tmp_path, files, FS005_UNSAFE)
    assert findings(result, "FS005") == []


@pytest.mark.parametrize(
    "services",
    [
        pytest.param(
            """\
            from .database import SessionLocal


            def search(queries):
                session = SessionLocal()
                found = set()
                try:
                    for query in queries:
                        found.update(session.execute(query).scalars())
                finally:
                    session.close()
                return found
            """,
            id="statements-before-the-try",
        ),
        pytest.param(
            """\
            from .database import SessionLocal


            def tag(names):
                session = SessionLocal()
                try:
                    for name in names:
                        session.add(name)
                    session.commit()
                except KeyboardInterrupt:
                    session.rollback()
                finally:
                    session.close()
            """,
            id="own-handlers",
        ),
    ],
)
def test_closed_in_finally_on_every_path_is_not_a_finding(tmp_path, services):
    # Flexget's archive search: the session is closed in `finally` on every path, and unused
    # before the `try` (an unused session holds no connection). Today's message said
    # "never closed" (issue 10).
    result = check_noop(tmp_path, project(services), FS005_UNSAFE)
    assert findings(result, "FS005") == []


def test_commit_in_finally_is_reported_for_what_it_is(tmp_path):
    services = """\
        from .database import SessionLocal


        def tag_source(source, names):
            session = SessionLocal()
            try:
                for name in names:
                    session.add(name)
            finally:
                session.commit()
                session.close()
        """
    result = check_noop(tmp_path, project(services), FS005_UNSAFE)
    [finding] = findings(result, "FS005")
    assert finding.fix is None
    assert finding.message == (
        "session `session` from `SessionLocal()` commits in `finally`: after an error the work "
        "done so far is committed, and `close()` is skipped when that commit raises (not fixed: "
        "what to keep after an error is the author's decision)"
    )


def test_suppressing_every_hand_made_session_generates_no_helper(tmp_path):
    # Issue 12: with every session suppressed, an unused get_db_session() was still added.
    services = """\
        from .database import SessionLocal


        def record(event):
            session = SessionLocal()  # fixsessions: ignore[FS005] -- audited by hand
            session.add(event)
            session.commit()
            session.close()
        """
    result = check_noop(tmp_path, project(services), FS005_UNSAFE)
    assert findings(result, "FS005") == []


def test_a_session_on_another_engine_in_a_migration_is_still_found(tmp_path):
    # The idiom is Alembic's connection, not the folder: an engine of its own is a session
    # like any other.
    files = {
        "pkg/__init__.py": "",
        "migrations/versions/3d7f8b29cbb1_.py": MIGRATION_HEAD + dedent("""\
            def upgrade():
                engine = sa.create_engine("sqlite:///legacy.db")
                session = orm.Session(bind=engine)
                session.add(Policy(name="default"))
                session.commit()
            """),
    }
    check_transformed(tmp_path, files, {
        "migrations/versions/3d7f8b29cbb1_.py": MIGRATION_HEAD + dedent("""\
            def upgrade():
                engine = sa.create_engine("sqlite:///legacy.db")
                session = orm.Session(bind=engine)
                try:
                    session.add(Policy(name="default"))
                    session.commit()
                finally:
                    session.close()
            """),
    }, FS005_UNSAFE)


def test_test_code_is_not_a_finding_and_gets_no_helper(tmp_path):
    # A race test opens a second session on purpose; production code must not get a
    # get_db_session() helper only to serve it (issue 10).
    test_module = """\
        from pkg.database import SessionLocal


        def test_concurrent_update(client):
            other = SessionLocal()
            other.execute("UPDATE item SET name = 'other'")
            other.commit()
            other.close()
            assert client.get("/item/1").json["name"] == "other"
        """
    for name in ("tests/test_race.py", "tests/integration/helpers.py", "pkg/conftest.py"):
        files = {
            "pkg/__init__.py": "", "pkg/database.py": DATABASE, name: test_module,
            "tests/__init__.py": "", "tests/integration/__init__.py": "",
        }
        result = check_noop(tmp_path / name.replace("/", "_"), files, FS005_UNSAFE)
        assert findings(result, "FS005") == []


ONE_SHOT = """\
    from pkg.database import SessionLocal


    def rotate(days):
        session = SessionLocal()
        session.execute("DELETE FROM audit WHERE age > :days", {"days": days})
        session.commit()
    """


@pytest.mark.parametrize(
    "name, module",
    [
        pytest.param(
            "pkg/cli.py",
            ONE_SHOT.replace("    def rotate", "    @audit_cli.command(\"rotate\")\n    def rotate")
            .replace("    from pkg.database", "    import click\n\n    from pkg.database")
            + "\n\n    audit_cli = click.Group()\n",
            id="click-command",
        ),
        pytest.param(
            "pkg/update_counter.py",
            ONE_SHOT + "\n\n    if __name__ == \"__main__\":\n        rotate(30)\n",
            id="script-no-module-imports",
        ),
    ],
)
def test_one_shot_commands_are_not_findings_and_get_no_helper(tmp_path, name, module):
    files = {"pkg/__init__.py": "", "pkg/database.py": DATABASE, name: module}
    result = check_noop(tmp_path, files, FS005_UNSAFE)
    assert findings(result, "FS005") == []


def test_a_script_the_project_imports_is_still_checked(tmp_path):
    files = {
        "pkg/__init__.py": "", "pkg/database.py": DATABASE,
        "pkg/jobs.py": ONE_SHOT + "\n\n    if __name__ == \"__main__\":\n        rotate(30)\n",
        "pkg/worker.py": "from pkg.jobs import rotate\n",
    }
    result = run([make_project(tmp_path / "project", files)], FS005)
    assert any(f.code == "FS005" for r in result.files for f in r.applied)


def test_a_test_folder_above_the_project_does_not_make_its_modules_test_code(tmp_path):
    services = """\
        from .database import SessionLocal


        def rename(item_id, name):
            session = SessionLocal()
            session.get(object, item_id).name = name
            session.commit()
            session.close()
        """
    files = {**project(services), "pyproject.toml": "[project]\nname = 'pkg'\n"}
    root = make_project(tmp_path / "tests" / "checkout", files)
    result = run([root], FS005)
    changed = {f.path.name: f.fixed for f in result.changed}
    assert sorted(changed) == ["database.py", "services.py"]
    assert b"    with get_db_session() as session:\n" in changed["services.py"]


# -- try/except/else forms, refresh and expunge -------------------------------------------------

THINGS = """\
from sqlalchemy import Column, Integer, String, create_engine
from sqlalchemy.orm import declarative_base, sessionmaker

engine = create_engine("sqlite:///{path}")
SessionLocal = sessionmaker(bind=engine)
Base = declarative_base()


class Thing(Base):
    __tablename__ = "things"
    id = Column(Integer, primary_key=True)
    name = Column(String)


Base.metadata.create_all(engine)
"""

HANDED_BACK = """\
from pkg.database import SessionLocal, Thing


def create(name):
    session = SessionLocal()
    try:
        thing = Thing(name=name)
        session.add(thing)
        session.commit()
        session.refresh(thing)
        session.expunge(thing)
    except Exception:
        session.rollback()
        raise
    session.close()
    return thing


def rename(thing_id, name):
    session = SessionLocal()
    try:
        session.get(Thing, thing_id).name = name
        session.commit()
    except Exception:
        session.rollback()
        raise
    else:
        session.close()
"""


def test_a_refreshed_and_expunged_object_and_a_close_in_else_keep_working(tmp_path):
    # `commit(); refresh(obj); expunge(obj)` hands back a loaded, detached object: the block's
    # own commit finds nothing to do and cannot expire it, so using it afterwards is safe. A
    # `close()` in the try's `else` is closed on the happy path only, and says so.
    import subprocess
    import sys

    database = tmp_path / "things.db"
    root = make_project(tmp_path / "project", {
        "pkg/__init__.py": "", "pkg/database.py": THINGS.format(path=database),
        "pkg/services.py": HANDED_BACK,
    })
    result = run([root], FS005)
    initial = {f.location.line: f for file in result.files for f in file.initial if f.path.name == "services.py"}
    assert sorted(initial) == [5, 20]
    assert all(f.fix is not None and f.fix.applicability == "safe" for f in initial.values())
    assert initial[20].message.startswith(
        "session `session` from `SessionLocal()` is rolled back on error but closed only on the happy path")
    services = next(f for f in result.changed if f.path.name == "services.py")
    assert services.fixed.decode() == dedent("""\
        from pkg.database import Thing, get_db_session


        def create(name):
            with get_db_session() as session:
                thing = Thing(name=name)
                session.add(thing)
                session.commit()
                session.refresh(thing)
                session.expunge(thing)
            return thing


        def rename(thing_id, name):
            with get_db_session() as session:
                session.get(Thing, thing_id).name = name
        """)
    for file in result.changed:
        file.path.write_bytes(file.fixed)
    script = (
        "from pkg.services import create, rename\n"
        "thing = create('a')\n"
        "rename(thing.id, 'b')\n"
        "from pkg.database import SessionLocal, Thing\n"
        "print(thing.id, thing.name, SessionLocal().get(Thing, thing.id).name)\n"
    )
    ran = subprocess.run([sys.executable, "-B", "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["1", "a", "b"]
    assert run([root], FS005).changed == []
