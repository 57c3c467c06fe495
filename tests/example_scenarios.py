"""Run one copy of the example app against a fresh SQLite database in WAL mode with
SQLAlchemy emitting BEGIN (one snapshot per transaction, as MySQL/InnoDB and PostgreSQL
REPEATABLE READ give), and print what one scenario observed as JSON. Run in its own process:
every copy of the app is the package `cryptowallet`.

    python -B example_scenarios.py APP_DIR DB_PATH SCENARIO
"""

import json
import os
import sqlite3
import sys
import threading
import urllib.request
from decimal import Decimal
from wsgiref.simple_server import WSGIRequestHandler, make_server

app_dir, db_path, scenario = sys.argv[1:4]
os.environ["CRYPTOWALLET_DATABASE_URL"] = f"sqlite:///{db_path}"
sys.path.insert(0, app_dir)

from cryptowallet.database import SessionLocal, init_db  # noqa: E402
from cryptowallet.models import Asset, Contact, Transaction, Wallet  # noqa: E402

init_db()
seed = SessionLocal()
seed.add_all(
    [
        Asset(symbol="ETH", name="Ether", decimals=18),
        Wallet(address="0xabc", name="Main"),
        Contact(name="Alice", address="0xa11ce"),
        Transaction(
            tx_hash="0x01", wallet_address="0xabc", tx_type="receive",
            asset_symbol="ETH", amount=Decimal("1.5"), label="old",
        ),
    ]
)
seed.commit()
seed.close()

from cryptowallet import services  # noqa: E402
from cryptowallet.app import create_app  # noqa: E402

app = create_app({"TESTING": True})


def sql(query, *args):
    with sqlite3.connect(db_path) as connection:
        return connection.execute(query, args).fetchall()


def stale_read(get):
    """Read a label, let another connection commit a new one, read it again."""
    first = get("/api/transactions/1")["label"]
    with sqlite3.connect(db_path) as writer:
        writer.execute("UPDATE transactions SET label = 'new' WHERE id = 1")
    second = get("/api/transactions/1")["label"]
    return {"first": first, "second": second}


def via_test_client():
    # The test client runs every request on this thread, as a pooled worker thread does.
    client = app.test_client()
    return stale_read(lambda path: client.get(path).get_json())


def via_http_server():
    # A real HTTP server whose single worker thread serves every request.
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def get(path):
        url = f"http://127.0.0.1:{server.server_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    return stale_read(get)


def lock_after_error():
    """update_label() on a missing transaction raises after it wrote its audit row. While
    the exception is kept (an error reporter, a debugger), can another writer write?"""
    try:
        services.update_label(999, "lost")
    except LookupError as exc:
        kept = exc  # noqa: F841  (what Sentry & co. do with the traceback)
        writer = sqlite3.connect(db_path, timeout=0.3)
        try:
            writer.execute("UPDATE transactions SET label = 'other writer' WHERE id = 1")
            writer.commit()
            outcome = "written"
        except sqlite3.OperationalError as error:
            outcome = str(error)
        finally:
            writer.close()
    return {"other_writer": outcome, "audit_rows": sql("SELECT count(*) FROM label_changes")[0][0]}


def committed_results():
    services.update_label(1, "rent")
    services.associate_contact(1, 1)
    return {
        "row": list(sql("SELECT label, contact_id FROM transactions WHERE id = 1")[0]),
        "audit": [list(r) for r in sql("SELECT transaction_id, label, changed_by FROM label_changes")],
    }


def receipt():
    """The receipt view reads attributes of the object load_transaction() returns."""
    try:
        response = app.test_client().get("/api/transactions/1/receipt")
    except Exception as error:  # TESTING propagates view errors
        return {"error": type(error).__name__}
    return {"status": response.status_code, "body": response.get_json(silent=True)}


def read_change_read(path, field, change):
    client = app.test_client()

    def read():
        response = client.get(path)
        return response.get_json()[field] if field else response.status_code

    first = read()
    with sqlite3.connect(db_path) as writer:
        writer.execute(change)
    return {"first": first, "second": read()}


def cached_contact():
    return read_change_read(
        "/api/contacts/1", "name", "UPDATE contacts SET name = 'Alicia' WHERE id = 1"
    )


def cached_wallet():
    return read_change_read(
        "/api/wallets/0xabc", "name", "UPDATE wallets SET name = 'Savings' WHERE address = '0xabc'"
    )


def new_asset():
    return read_change_read(
        "/api/wallets/0xabc/transactions?asset=BTC", None,
        "INSERT INTO assets (symbol, name, decimals) VALUES ('BTC', 'Bitcoin', 8)",
    )


SCENARIOS = {
    "cached_contact": cached_contact,
    "cached_wallet": cached_wallet,
    "new_asset": new_asset,
    "stale_read_client": via_test_client,
    "stale_read_server": via_http_server,
    "lock_after_error": lock_after_error,
    "committed_results": committed_results,
    "receipt": receipt,
}
print(json.dumps(SCENARIOS[scenario]()))
