"""Engine, session registry and declarative base shared by the whole service."""

import os
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.orm import declarative_base, scoped_session, sessionmaker

DATABASE_URL = os.environ.get("CRYPTOWALLET_DATABASE_URL", "sqlite:///cryptowallet.db")

engine = create_engine(DATABASE_URL)

if engine.dialect.name == "sqlite":
    # Behave like the production database: a WAL journal, so readers never block the
    # writer, and a real BEGIN, so each transaction reads from a single snapshot
    # (see "Serializable isolation" in SQLAlchemy's pysqlite documentation).
    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=2000")

    @event.listens_for(engine, "begin")
    def _begin_sqlite(connection):
        connection.exec_driver_sql("BEGIN")


SessionLocal = sessionmaker(bind=engine)


@contextmanager
def get_db_session():
    """A session that commits on success, rolls back on any error and always closes."""
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

Base = declarative_base()
Base.query = db_session.query_property()


def init_db():
    from . import models  # noqa: F401  (registers the tables on Base.metadata)

    Base.metadata.create_all(bind=engine)
