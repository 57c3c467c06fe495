"""The example app's own tests, as a team would have them: run by test_guard_plugin.py with
`pytest --fixsessions-guard` on a copy of examples/before or examples/after.

    FIXSESSIONS_EXAMPLE=APP_DIR FIXSESSIONS_EXAMPLE_DB=DB_PATH pytest guarded_suite.py
"""

import os
import sys

import pytest

os.environ["CRYPTOWALLET_DATABASE_URL"] = f"sqlite:///{os.environ['FIXSESSIONS_EXAMPLE_DB']}"
sys.path.insert(0, os.environ["FIXSESSIONS_EXAMPLE"])

from cryptowallet.database import SessionLocal, init_db  # noqa: E402
from cryptowallet.models import Asset, Transaction, Wallet  # noqa: E402

init_db()  # before the app's modules are imported: services.py queries at import
with SessionLocal() as session, session.begin():
    session.add(Asset(symbol="ETH", name="Ether", decimals=18))
    session.add(Wallet(address="0xabc", name="Main"))
    session.add(Transaction(tx_hash="0x01", wallet_address="0xabc", tx_type="receive",
                            asset_symbol="ETH", amount=1, label="old"))

from cryptowallet.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    return create_app({"TESTING": True}).test_client()


def test_unknown_transaction_is_404(client):
    assert client.get("/api/transactions/999").status_code == 404


def test_show_transaction(client):
    assert client.get("/api/transactions/1").get_json()["label"] == "old"


def test_label_a_missing_transaction(client):
    assert client.put("/api/transactions/999/label", json={"label": "x"}).status_code == 404


def test_no_request_here():
    assert Transaction.__tablename__ == "transactions"
