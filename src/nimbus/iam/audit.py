"""The CloudTrail-style record of every request, written in batches.

Each request appends one event to an in-memory buffer; the buffer is committed in one
transaction every ``interval`` seconds or every ``max_batch`` events, whichever comes
first, and at shutdown — never a SQLite commit per request.  A ``kill -9`` can lose at
most the last interval's events (acknowledged *resources* are unaffected: they commit
with their request).

Events are ``cloudtrail:event`` records scoped by account, keyed newest-first
(inverted milliseconds + a sequence number) so LookupEvents reads them in order.
Events older than the retention window (``NIMBUS_AUDIT_RETENTION_DAYS``, 90 days like
CloudTrail's event history) on the simulation clock are pruned: after a batch once per
simulated hour, and whenever the clock is moved, so the log stays bounded.  The
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
PRUNE_EVERY = 3600.0  # simulated seconds between prunes driven by new events
log = logging.getLogger("nimbus.audit")


def event_key(time: float, seq: int) -> str:
    return f"{_INVERT - int(time * 1000):014d}-{seq:010d}"


class AuditLog:
    def __init__(self, store: Any, *, interval: float = 0.2, max_batch: int = 500, clock: Any = None,
                 retention: float = 0.0) -> None:
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self.clock = clock
        self.retention = retention  # seconds of simulated time events are kept; 0 keeps them all
        self._pruned_at: float | None = None
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
        if self.retention > 0 and self.clock is not None:
            now = self.clock.time()
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                self.prune(now)

    def cutoff(self, now: float | None = None) -> float | None:
        """Events older than this (simulated epoch seconds) are past retention."""
        if self.retention <= 0 or self.clock is None:
            return None
        return (self.clock.time() if now is None else now) - self.retention

    def on_clock(self, now: float) -> None:
        """The simulation clock moved: drop what fell out of the window."""
        try:
            self.prune(now)
        except Exception:  # never let the audit log take the server down
            log.exception("could not prune audit events")

    def prune(self, now: float | None = None, *, batch: int = 5000) -> int:
        """Delete every event older than the retention window; the number deleted."""
        cutoff = self.cutoff(now)
        if cutoff is None:
            return 0
        self._pruned_at = self.clock.time() if now is None else now
        # keys are inverted times: everything older than the cutoff sorts after this key
        boundary = f"{_INVERT - int(cutoff * 1000):014d}-9999999999"
        deleted = 0
        for scope in list(self.store.read.scopes(EVENT)):
            while True:
                keys = [k for k, _ in self.store.read.scan(EVENT, scope, start_after=boundary, limit=batch)]
                if not keys:
                    break
                with self.store.transaction() as txn:
                    for key in keys:
                        txn.delete(EVENT, key, scope)
                deleted += len(keys)
                if len(keys) < batch:
                    break
        return deleted

    def close(self) -> None:
        self.flush()
        self.closed = True


__all__ = ["EVENT", "AuditLog", "event_key"]
