"""Control-plane state: records in SQLite, one transaction per change, and a change feed."""

from .store import Change, Store, Txn

__all__ = ["Change", "Store", "Txn"]
