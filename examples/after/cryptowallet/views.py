"""The JSON API."""

from flask import Blueprint, abort, jsonify, request

from .database import db_session
from .models import Transaction, Wallet
from .services import (
    associate_contact,
    get_contact,
    get_wallet,
    load_transaction,
    supported_assets,
    update_label,
)

bp = Blueprint("api", __name__)

MAX_PER_PAGE = 100


@bp.get("/wallets")
def list_wallets():
    wallets = Wallet.query.order_by(Wallet.name).all()
    return jsonify([wallet.to_dict() for wallet in wallets])


@bp.get("/wallets/<address>")
def show_wallet(address):
    wallet = get_wallet(address)
    if wallet is None:
        abort(404)
    return jsonify(wallet.to_dict())


@bp.get("/wallets/<address>/transactions")
def wallet_transactions(address):
    if get_wallet(address) is None:
        abort(404)
    query = db_session.query(Transaction).filter(Transaction.wallet_address == address)

    tx_type = request.args.get("type")
    if tx_type:
        if tx_type not in Transaction.TYPES:
            abort(400, f"unknown transaction type {tx_type!r}")
        query = query.filter(Transaction.tx_type == tx_type)

    asset = request.args.get("asset")
    if asset:
        if asset.upper() not in {a.symbol for a in supported_assets()}:
            abort(400, f"unsupported asset {asset!r}")
        query = query.filter(Transaction.asset_symbol == asset.upper())

    page = max(request.args.get("page", 1, type=int), 1)
    per_page = min(max(request.args.get("per_page", 20, type=int), 1), MAX_PER_PAGE)
    total = query.count()
    items = (
        query.order_by(Transaction.timestamp.desc(), Transaction.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all()
    )
    return jsonify(
        {
            "items": [tx.to_dict() for tx in items],
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": (total + per_page - 1) // per_page,
        }
    )


@bp.get("/transactions/<int:tx_id>")
def show_transaction(tx_id):
    # Users reported stale labels; expiring everything first was supposed to fix that.
    db_session.expire_all()  # fixsessions: ignore[FS009] reviewed: kept to show it never helped
    tx = db_session.get(Transaction, tx_id)
    if tx is None:
        abort(404)
    return jsonify(tx.to_dict())


@bp.get("/transactions/<int:tx_id>/receipt")
def transaction_receipt(tx_id):
    tx = load_transaction(tx_id)
    if tx is None:
        abort(404)
    return jsonify({"tx_hash": tx.tx_hash, "amount": str(tx.amount), "asset": tx.asset_symbol})


@bp.put("/transactions/<int:tx_id>/label")
def set_label(tx_id):
    label = (request.get_json(silent=True) or {}).get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 64):
        abort(400, "label must be a string of at most 64 characters")
    try:
        update_label(tx_id, label)
    except LookupError:
        abort(404)
    # Drop this thread's session so that the next read sees the new label.
    db_session.remove()  # fixsessions: ignore[FS009] reviewed: kept to show it never helped
    return jsonify({"id": tx_id, "label": label})


@bp.put("/transactions/<int:tx_id>/contact")
def set_contact(tx_id):
    contact_id = (request.get_json(silent=True) or {}).get("contact_id")
    if not isinstance(contact_id, int) or get_contact(contact_id) is None:
        abort(400, "contact_id must name an existing contact")
    try:
        associate_contact(tx_id, contact_id)
    except LookupError:
        abort(404)
    return jsonify({"id": tx_id, "contact_id": contact_id})


@bp.get("/contacts/<int:contact_id>")
def show_contact(contact_id):
    contact = get_contact(contact_id)
    if contact is None:
        abort(404)
    return jsonify(contact.to_dict())
