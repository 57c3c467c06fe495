"""Lookups and updates the views share."""

from .database import SessionLocal, db_session, get_db_session
from .models import Asset, Contact, LabelChange, Transaction, Wallet


# The assets the API accepts.
def supported_assets():
    return db_session.query(Asset).order_by(Asset.symbol).all()


def get_contact(contact_id):
    return db_session.get(Contact, contact_id)


def get_wallet(address):
    return db_session.query(Wallet).filter_by(address=address).one_or_none()


def update_label(tx_id, label, changed_by="api"):
    """Set a transaction's label, keeping an audit trail of label changes."""
    with get_db_session() as session:
        session.add(LabelChange(transaction_id=tx_id, label=label, changed_by=changed_by))
        tx = session.get(Transaction, tx_id)
        if tx is None:
            raise LookupError(f"transaction {tx_id} does not exist")
        tx.label = label


def associate_contact(tx_id, contact_id):
    session = SessionLocal()
    try:
        tx = session.get(Transaction, tx_id)
        if tx is None:
            raise LookupError(f"transaction {tx_id} does not exist")
        tx.contact_id = contact_id
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def load_transaction(tx_id):
    # The receipt view reads the returned object, so a with-block (commit, close) would
    # hand it back expired and detached.
    session = SessionLocal()  # fixsessions: ignore[FS005]
    tx = session.get(Transaction, tx_id)
    session.close()
    return tx
