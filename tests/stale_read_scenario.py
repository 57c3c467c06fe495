"""Run one copy of the example app against a fresh SQLite (WAL, BEGIN) database and print what
two consecutive reads of the same transaction return when another connection commits a new
label in between. Run in its own process: both copies of the app are named `cryptowallet`.

    python stale_read_scenario.py APP_DIR DB_PATH {client,server}
"""

import json
import os
import sqlite3
import sys
import threading
import urllib.request
from decimal import Decimal
from wsgiref.simple_server import WSGIRequestHandler, make_server

app_dir, db_path, mode = sys.argv[1:4]
os.environ["CRYPTOWALLET_DATABASE_URL"] = f"sqlite:///{db_path}"
sys.path.insert(0, app_dir)

from cryptowallet.database import SessionLocal, init_db  # noqa: E402

init_db()
seed = SessionLocal()
from cryptowallet.models import Asset, Transaction, Wallet  # noqa: E402

seed.add_all(
    [
        Asset(symbol="ETH", name="Ether", decimals=18),
        Wallet(address="0xabc", name="Main"),
        Transaction(
            tx_hash="0x01", wallet_address="0xabc", tx_type="receive",
            asset_symbol="ETH", amount=Decimal("1.5"), label="old",
        ),
    ]
)
seed.commit()
seed.close()

from cryptowallet.app import create_app  # noqa: E402

app = create_app({"TESTING": True})


def commit_elsewhere():
    writer = sqlite3.connect(db_path)
    writer.execute("UPDATE transactions SET label = 'new' WHERE id = 1")
    writer.commit()
    writer.close()


if mode == "client":
    # The test client runs every request on this thread, as a pooled worker thread does.
    client = app.test_client()
    get = lambda: client.get("/api/transactions/1").get_json()["label"]  # noqa: E731
else:
    # A real HTTP server with one worker thread serving every request.
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/api/transactions/1"

    def get():
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)["label"]


first = get()
commit_elsewhere()
second = get()
print(json.dumps({"first": first, "second": second}))
