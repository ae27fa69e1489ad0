"""The record store: JSON documents addressed by (kind, scope, key), kept in SQLite.

The API is deliberately narrow — get, put, delete, ordered scans and counts inside a
transaction — so that a PostgreSQL backend can serve several gateway processes later
without touching providers.  ``scope`` is how resources are partitioned (an account,
an account and region, or "" for global names such as S3 buckets); ``key`` orders
records within a scope by byte value, which is the order S3 lists keys in.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction is in the
WAL before ``commit`` returns, so it survives ``kill -9`` of Nimbus (the OS still holds
it); ``NIMBUS_FSYNC=1`` switches to ``synchronous=FULL`` to survive power loss too.

Writers never await inside a transaction, so on the single event-loop thread each
transaction is atomic with respect to every other request.
"""

from __future__ import annotations

import orjson
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind  TEXT NOT NULL,
    scope TEXT NOT NULL,
    key   TEXT NOT NULL,
    doc   TEXT NOT NULL,
    PRIMARY KEY (kind, scope, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Change:
    kind: str
    scope: str
    key: str
    op: str  # "put" | "delete"


def _dumps(doc: Any) -> str:
    # orjson: listings decode thousands of records per request; it is several times
    # faster than the json module both ways.  Non-string keys become strings, as JSON has it.
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


class Txn:
    """Reads and writes of one transaction (or plain reads outside one)."""

    def __init__(self, conn: sqlite3.Connection, changes: list[Change] | None) -> None:
        self._conn = conn
        self._changes = changes  # None: read-only view

    def get(self, kind: str, key: str, scope: str = "") -> Any | None:
        row = self._conn.execute(
            "SELECT doc FROM records WHERE kind=? AND scope=? AND key=?", (kind, scope, key)
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    def exists(self, kind: str, key: str, scope: str = "") -> bool:
        return (
            self._conn.execute(
                "SELECT 1 FROM records WHERE kind=? AND scope=? AND key=?", (kind, scope, key)
            ).fetchone()
            is not None
        )

    def put(self, kind: str, key: str, doc: Any, scope: str = "") -> None:
        self._writable().append(Change(kind, scope, key, "put"))
        self._conn.execute(
            "INSERT OR REPLACE INTO records (kind, scope, key, doc) VALUES (?, ?, ?, ?)",
            (kind, scope, key, _dumps(doc)),
        )

    def insert(self, kind: str, key: str, doc: Any, scope: str = "") -> bool:
        """Store ``doc`` only if ``key`` is free; False when it was taken."""
        self._writable()
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO records (kind, scope, key, doc) VALUES (?, ?, ?, ?)",
            (kind, scope, key, _dumps(doc)),
        )
        if cursor.rowcount:
            self._writable().append(Change(kind, scope, key, "put"))
        return bool(cursor.rowcount)

    def delete(self, kind: str, key: str, scope: str = "") -> bool:
        self._writable()
        cursor = self._conn.execute(
            "DELETE FROM records WHERE kind=? AND scope=? AND key=?", (kind, scope, key)
        )
        if cursor.rowcount:
            self._writable().append(Change(kind, scope, key, "delete"))
        return bool(cursor.rowcount)

    def scan(
        self,
        kind: str,
        scope: str = "",
        *,
        prefix: str = "",
        start_after: str | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Records of ``kind`` in ``scope`` in key order, optionally from a prefix/marker."""
        sql = "SELECT key, doc FROM records WHERE kind=? AND scope=?"
        args: list[Any] = [kind, scope]
        if prefix:
            sql += " AND key >= ? AND key < ?"
            args += [prefix, _prefix_end(prefix)]
        if start_after is not None:
            sql += " AND key > ?"
            args.append(start_after)
        sql += " ORDER BY key"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for key, doc in self._conn.execute(sql, args):
            yield key, orjson.loads(doc)

    def scan_keys(self, kind: str, scope: str = "", *, prefix: str = "") -> Iterator[str]:
        sql = "SELECT key FROM records WHERE kind=? AND scope=?"
        args: list[Any] = [kind, scope]
        if prefix:
            sql += " AND key >= ? AND key < ?"
            args += [prefix, _prefix_end(prefix)]
        for (key,) in self._conn.execute(sql + " ORDER BY key", args):
            yield key

    def scopes(self, kind: str) -> Iterator[str]:
        for (scope,) in self._conn.execute("SELECT DISTINCT scope FROM records WHERE kind=?", (kind,)):
            yield scope

    def count(self, kind: str, scope: str | None = None) -> int:
        if scope is None:
            row = self._conn.execute("SELECT COUNT(*) FROM records WHERE kind=?", (kind,)).fetchone()
        else:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM records WHERE kind=? AND scope=?", (kind, scope)
            ).fetchone()
        return int(row[0])

    def counts_by_kind(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT kind, COUNT(*) FROM records GROUP BY kind"))

    def _writable(self) -> list[Change]:
        if self._changes is None:
            raise RuntimeError("write outside a transaction")
        return self._changes


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix + "\U0010ffff"


class Store:
    def __init__(self, path: Path | str, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from the event-loop thread; check_same_thread is off so
        # shutdown hooks on other threads can close it.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._conn.execute("PRAGMA foreign_keys=OFF")
        self._conn.executescript(SCHEMA)
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        self._subscribers: list[Callable[[list[Change]], None]] = []
        self._lock = threading.RLock()
        self._depth = 0
        self._reader = Txn(self._conn, None)

    @property
    def read(self) -> Txn:
        """A read-only view (each statement sees the latest committed state)."""
        return self._reader

    @contextmanager
    def transaction(self) -> Iterator[Txn]:
        """One atomic unit of change; subscribers hear of it after commit."""
        with self._lock:
            if self._depth:  # nested: join the outer transaction
                raise RuntimeError("transactions do not nest; pass the Txn down instead")
            changes: list[Change] = []
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield Txn(self._conn, changes)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth -= 1
        if changes:
            for subscriber in list(self._subscribers):
                subscriber(changes)

    def subscribe(self, callback: Callable[[list[Change]], None]) -> Callable[[], None]:
        """Hear of every committed change (data planes rebuild their snapshots)."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def close(self) -> None:
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()
