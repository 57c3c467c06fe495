"""What the session guard costs a request: one Flask app with a scoped_session registry and
its teardown, a view that runs one SELECT on SQLite, timed through the test client with and
without `SessionGuard`, in alternating rounds (median per request).

    .venv/bin/python benchmarks/guard_overhead.py [--requests 2000] [--rounds 7]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.orm import scoped_session, sessionmaker


def make_app(db_url: str) -> Flask:
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
        connection.execute(text("INSERT OR REPLACE INTO t VALUES (1, 'x')"))
    db_session = scoped_session(sessionmaker(bind=engine))
    app = Flask(__name__)

    @app.get("/")
    def view():
        return db_session.execute(text("SELECT v FROM t WHERE id = 1")).scalar()

    @app.teardown_appcontext
    def shutdown_session(exception=None):
        db_session.remove()

    return app


def per_request(app: Flask, requests: int) -> float:
    client = app.test_client()
    start = time.perf_counter()
    for _ in range(requests):
        client.get("/")
    return (time.perf_counter() - start) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = make_app(f"sqlite:///{Path(tmp) / 'plain.db'}")
        guarded = make_app(f"sqlite:///{Path(tmp) / 'guarded.db'}")
        from fixsessions.guard import SessionGuard

        guard = SessionGuard(guarded)
        per_request(plain, 200), per_request(guarded, 200)  # warm up
        without, with_guard = [], []
        for _ in range(args.rounds):
            without.append(per_request(plain, args.requests))
            with_guard.append(per_request(guarded, args.requests))
        a, b = statistics.median(without), statistics.median(with_guard)
        print(f"without the guard: {a * 1e6:.0f} us per request")
        print(f"with the guard:    {b * 1e6:.0f} us per request")
        print(f"overhead: {(b - a) * 1e6:+.0f} us per request ({(b / a - 1) * 100:+.1f}%), "
              f"leaks seen: {guard.leaked}")


if __name__ == "__main__":
    main()
