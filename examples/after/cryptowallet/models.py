"""Wallets, assets, contacts and the transactions between them."""

from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import relationship

from .database import Base


def _now():
    return datetime.now(timezone.utc)


class Asset(Base):
    __tablename__ = "assets"

    symbol = Column(String(16), primary_key=True)
    name = Column(String(64), nullable=False)
    decimals = Column(Integer, nullable=False, default=18)

    def to_dict(self):
        return {"symbol": self.symbol, "name": self.name, "decimals": self.decimals}


class Wallet(Base):
    __tablename__ = "wallets"

    id = Column(Integer, primary_key=True)
    address = Column(String(64), unique=True, nullable=False)
    name = Column(String(64), nullable=False)

    def to_dict(self):
        return {"id": self.id, "address": self.address, "name": self.name}


class Contact(Base):
    __tablename__ = "contacts"

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    address = Column(String(64), nullable=False)

    def to_dict(self):
        return {"id": self.id, "name": self.name, "address": self.address}


class Transaction(Base):
    __tablename__ = "transactions"

    TYPES = ("send", "receive", "swap", "stake")

    id = Column(Integer, primary_key=True)
    tx_hash = Column(String(80), unique=True, nullable=False)
    wallet_address = Column(String(64), ForeignKey("wallets.address"), nullable=False, index=True)
    tx_type = Column(String(16), nullable=False)
    asset_symbol = Column(String(16), ForeignKey("assets.symbol"), nullable=False)
    amount = Column(Numeric(36, 18), nullable=False)
    label = Column(String(64))
    contact_id = Column(Integer, ForeignKey("contacts.id"))
    timestamp = Column(DateTime(timezone=True), nullable=False, default=_now)

    contact = relationship(Contact)

    def to_dict(self):
        return {
            "id": self.id,
            "tx_hash": self.tx_hash,
            "wallet": self.wallet_address,
            "type": self.tx_type,
            "asset": self.asset_symbol,
            "amount": str(self.amount),
            "label": self.label,
            "contact": self.contact.to_dict() if self.contact else None,
            "timestamp": self.timestamp.isoformat(),
        }


class LabelChange(Base):
    """Audit trail: who relabelled which transaction, and when."""

    __tablename__ = "label_changes"

    id = Column(Integer, primary_key=True)
    transaction_id = Column(Integer, ForeignKey("transactions.id"), nullable=False)
    label = Column(String(64))
    changed_by = Column(String(64), nullable=False)
    changed_at = Column(DateTime(timezone=True), nullable=False, default=_now)
