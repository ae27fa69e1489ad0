"""RDS storage autoscaling, evaluated on the simulation clock against the engine's real
disk use (the size of its data directory).

An instance with ``MaxAllocatedStorage`` above ``AllocatedStorage`` grows, as RDS does,
when all of these hold: free space is below 10 % of the allocated storage; it has been so
for at least 5 minutes; at least 6 hours have passed since the last storage change (a
``ModifyDBInstance`` of ``AllocatedStorage`` counts).  It then grows by the greater of
10 GiB and 10 % of the allocated storage, never past ``MaxAllocatedStorage``.

``NIMBUS_RDS_GIB_BYTES`` says how many bytes of real disk one GiB of allocated storage
stands for (1 GiB by default; tests make it small so a few megabytes fill an instance).
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Any

from ...planes.engines import STATUS, node_dir_name

INSTANCE = "rds:db-instance"
RDS_EVENT = "rds:event"
LOW_FOR = 300.0  # seconds free space must stay low
SINCE_CHANGE = 6 * 3600.0  # seconds since the last storage change


def data_dir_bytes(runtime: Any, doc: dict[str, Any]) -> int:
    """The engine's real disk use: the files of its data directory."""
    status = runtime.store.read.get(STATUS, doc["NodeKey"]) or {}
    node = Path(status["dir"]) if status.get("dir") else runtime.config.data_dir / "engines" / "nodes" / node_dir_name(doc["NodeKey"])
    total = 0
    for path in (node / "data").rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            pass
    return total


def growth(allocated: int, maximum: int) -> int:
    return min(maximum, allocated + max(10, math.ceil(allocated * 0.1)))


class StorageController:
    interval = 60.0

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def tick(self, now: float) -> None:
        store = self.runtime.store
        gib = max(1, int(getattr(self.runtime.config, "rds_gib_bytes", 1 << 30)))
        for scope in list(store.read.scopes(INSTANCE)):
            for key, doc in list(store.read.scan(INSTANCE, scope)):
                maximum = doc.get("MaxAllocatedStorage") or 0
                if maximum <= doc["AllocatedStorage"] or doc.get("DBClusterIdentifier"):
                    continue
                state = (store.read.get(STATUS, doc["NodeKey"]) or {}).get("state")
                if state != "running":
                    continue
                free = doc["AllocatedStorage"] * gib - data_dir_bytes(self.runtime, doc)
                low = free < 0.1 * doc["AllocatedStorage"] * gib
                with store.transaction() as txn:
                    fresh = txn.get(INSTANCE, key, scope)
                    if fresh is None:
                        continue
                    if not low:
                        if fresh.get("StorageLowSince") is not None:
                            fresh["StorageLowSince"] = None
                            txn.put(INSTANCE, key, fresh, scope)
                        continue
                    since = fresh.get("StorageLowSince")
                    if since is None:
                        fresh["StorageLowSince"] = since = now
                    last_change = fresh.get("StorageChanged", fresh["Created"])
                    if now - since >= LOW_FOR and now - last_change >= SINCE_CHANGE:
                        old = fresh["AllocatedStorage"]
                        fresh["AllocatedStorage"] = growth(old, maximum)
                        fresh["StorageChanged"] = now
                        fresh["StorageLowSince"] = None
                        txn.put(RDS_EVENT, f"{now:017.6f}-{secrets.token_hex(3)}", {
                            "SourceIdentifier": key, "SourceType": "db-instance", "EventCategories": ["notification"],
                            "Message": f"Applying autoscaling-initiated modification to allocated storage: {old} GiB to "
                                       f"{fresh['AllocatedStorage']} GiB (free storage space below 10 %).",
                            "Date": now, "SourceArn": "arn:aws:rds:{1}:{0}:db:{2}".format(*scope.split("/", 1), key)}, scope)
                    txn.put(INSTANCE, key, fresh, scope)
