"""The CloudTrail-style record of every request, written in batches.

Each request appends one event to an in-memory buffer; the buffer is committed in one
transaction every ``interval`` seconds or every ``max_batch`` events, whichever comes
first, and at shutdown — never a SQLite commit per request.  A ``kill -9`` can lose at
most the last interval's events (acknowledged *resources* are unaffected: they commit
with their request).

Events are ``cloudtrail:event`` records scoped by account, keyed newest-first
(inverted milliseconds + a sequence number) so LookupEvents reads them in order.  The
same batch keeps ``iam:key-used`` (each access key's last use: date, region, service)
for GetAccessKeyLastUsed and the credential report.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from .records import KEY_USED

EVENT = "cloudtrail:event"
_INVERT = 10**14
log = logging.getLogger("nimbus.audit")


def event_key(time: float, seq: int) -> str:
    return f"{_INVERT - int(time * 1000):014d}-{seq:010d}"


class AuditLog:
    def __init__(self, store: Any, *, interval: float = 0.2, max_batch: int = 500) -> None:
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self._buffer: list[dict[str, Any]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self.closed = False

    def record(self, event: dict[str, Any]) -> None:
        event["seq"] = next(self._seq)
        self._buffer.append(event)
        if len(self._buffer) >= self.max_batch:
            self.flush()
        elif self._handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (tools, tests of the library): flushed on demand
            self._handle = loop.call_later(self.interval, self._timer)

    def _timer(self) -> None:
        self._handle = None
        try:
            self.flush()
        except Exception:  # never let the audit log take the server down
            log.exception("could not write audit events")

    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        last_used: dict[str, dict[str, Any]] = {}
        with self.store.transaction() as txn:
            for event in batch:
                account = event.get("account") or ""
                txn.put(EVENT, event_key(event["time"], event.pop("seq")), event, account)
                key = event.get("access_key")
                if key and event.get("authenticated"):
                    last_used[key] = {"date": event["time"], "region": event.get("region", ""), "service": event.get("prefix", "")}
            for key, doc in last_used.items():
                txn.put(KEY_USED, key, doc)

    def close(self) -> None:
        self.flush()
        self.closed = True


__all__ = ["EVENT", "AuditLog", "event_key"]
