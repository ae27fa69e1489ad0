"""ElastiCache cluster mode enabled: joining a replication group's Valkey nodes into one
Valkey cluster, run as an ``engines:job`` (op ``valkey-cluster``) once they all run.

The job names its shards by node key: ``{"shards": [{"primary": key, "replicas": [key…],
"slots": [[lo, hi], …]}, …]}``.  Nodes announce their own loopback addresses, so the
MOVED/ASK redirects and ``CLUSTER SLOTS``/``CLUSTER SHARDS`` replies name addresses any
local client reaches.  Forming is idempotent: after a restart each node's ``nodes.conf``
already holds the cluster.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .drivers import EngineError, Valkey, form_cluster

if TYPE_CHECKING:
    from . import EnginesPlane


async def form_cluster_job(plane: "EnginesPlane", job: dict[str, Any]) -> None:
    from . import SPEC

    keys = [k for shard in job["shards"] for k in [shard["primary"], *shard["replicas"]]]
    for _ in range(1200):
        states = [plane._status(k).get("state") for k in keys]
        if all(s == "running" for s in states):
            break
        if "failed" in states:
            raise EngineError("a node of the cluster failed to start")
        await asyncio.sleep(0.05)
    else:
        raise EngineError("the cluster's nodes did not start")
    specs = {k: plane.store.read.get(SPEC, k) for k in keys}
    if any(v is None for v in specs.values()):
        raise EngineError("a node of the cluster was deleted")
    shards = [{"primary": (specs[s["primary"]]["address"], specs[s["primary"]]["port"]),
               "replicas": [(specs[r]["address"], specs[r]["port"]) for r in s["replicas"]], "slots": s["slots"]}
              for s in job["shards"]]
    await form_cluster(shards, Valkey.creds(specs[keys[0]]))


async def reshard_job(plane: "EnginesPlane", job: dict[str, Any]) -> None:
    """ModifyReplicationGroupShardConfiguration (scale out): join the new shards' nodes to
    the cluster, then move slot ranges to them with Valkey's atomic slot migration
    (``CLUSTER MIGRATESLOTS``), keys included.  Idempotent if run again after a restart."""
    from . import SPEC
    from .drivers import info_fields, resp, slots_cover

    gone = {k for k in job.get("drain") or [] if plane.store.read.get(SPEC, k) is None}  # drained in an earlier run
    shards = [s for s in job["shards"] if s["primary"] not in gone]
    keys = [k for shard in shards for k in [shard["primary"], *shard["replicas"]]]
    for _ in range(1200):
        states = [plane._status(k).get("state") for k in keys]
        if all(s == "running" for s in states):
            break
        if "failed" in states:
            raise EngineError("a node of the cluster failed to start")
        await asyncio.sleep(0.05)
    else:
        raise EngineError("the cluster's nodes did not start")
    specs = {k: plane.store.read.get(SPEC, k) for k in keys}
    if any(v is None for v in specs.values()):
        raise EngineError("a node of the cluster was deleted")
    creds = Valkey.creds(specs[keys[0]])
    addr = {k: (specs[k]["address"], specs[k]["port"]) for k in keys}

    async def cmd(key: str, *args: str, timeout: float = 10) -> Any:
        return await resp(*addr[key], *args, timeout=timeout, **creds)

    ids = {k: await cmd(k, "CLUSTER", "MYID") for k in keys}
    anchor = job["shards"][0]["primary"]
    known = str(await cmd(anchor, "CLUSTER", "NODES"))
    for k in keys:
        if k != anchor and f" {addr[k][0]}:{addr[k][1]}@" not in known:
            await cmd(anchor, "CLUSTER", "MEET", *map(str, addr[k]))
    deadline = asyncio.get_event_loop().time() + 60
    for shard in shards:
        for replica in shard["replicas"]:
            while True:
                role = await cmd(replica, "ROLE")
                if role and role[0] == "slave" and (role[1], int(role[2])) == addr[shard["primary"]]:
                    break
                try:
                    await cmd(replica, "CLUSTER", "REPLICATE", ids[shard["primary"]])
                    break
                except EngineError:
                    if asyncio.get_event_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.05)

    def owner_of(slots_reply: list, lo: int, hi: int) -> str | None:
        for entry in slots_reply:
            if entry[0] <= lo and hi <= entry[1]:
                return entry[2][2]
        return None

    for move in job["moves"]:
        source, target = move["from"], move["to"]
        if source in gone:
            continue
        pending = [r for r in move["ranges"] if owner_of(await cmd(source, "CLUSTER", "SLOTS"), *r) != ids[target]]
        if not pending:
            continue
        args = [str(v) for r in pending for v in r]
        while True:  # the source must first learn of the target (gossip)
            try:
                await cmd(source, "CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", *args, "NODE", ids[target], timeout=30)
                break
            except EngineError:
                if asyncio.get_event_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)
        while True:
            reply = await cmd(source, "CLUSTER", "SLOTS")
            if all(owner_of(reply, *r) == ids[target] for r in pending):
                break
            if asyncio.get_event_loop().time() > deadline + 240:
                raise EngineError("slot migration did not finish")
            await asyncio.sleep(0.05)
    drain = [k for k in job.get("drain") or [] if k in ids]
    if drain:  # removed shards, now empty: every other node forgets them, then they stop
        keys = [k for k in keys if k not in drain]
        for k in keys:
            for gone in drain:
                try:
                    await cmd(k, "CLUSTER", "FORGET", ids[gone])
                except EngineError as exc:
                    if "unknown node" not in str(exc).lower():
                        raise
        with plane.store.transaction() as txn:
            for gone in drain:
                txn.delete(SPEC, gone)
    replicas = [r for shard in shards for r in shard["replicas"] if r in keys]
    while True:
        states = [info_fields(await cmd(k, "CLUSTER", "INFO")) for k in keys]
        links = [info_fields(await cmd(r, "INFO", "replication")).get("master_link_status") for r in replicas]
        if all(s.get("cluster_state") == "ok" and int(s.get("cluster_known_nodes", 0)) >= len(keys) for s in states) \
                and all(link == "up" for link in links) \
                and all([await slots_cover(cmd, k, [addr[n] for n in keys]) for k in keys]):
            return
        if asyncio.get_event_loop().time() > deadline + 300:
            raise EngineError("the Valkey cluster did not converge")
        await asyncio.sleep(0.05)


async def failover_job(plane: "EnginesPlane", job: dict[str, Any]) -> None:
    """TestFailover of a shard: a replica of it (whichever node is one now) takes over with
    ``CLUSTER FAILOVER``, a coordinated hand-over; the old primary becomes its replica."""
    from . import SPEC
    from .drivers import resp

    for key in job["nodes"]:
        spec = plane.store.read.get(SPEC, key)
        if spec is None:
            continue
        creds = Valkey.creds(spec)
        if (await resp(spec["address"], spec["port"], "ROLE", **creds))[0] != "slave":
            continue
        await resp(spec["address"], spec["port"], "CLUSTER", "FAILOVER", timeout=10, **creds)
        deadline = asyncio.get_event_loop().time() + 30
        while (await resp(spec["address"], spec["port"], "ROLE", **creds))[0] != "master":
            if asyncio.get_event_loop().time() > deadline:
                raise EngineError("the replica did not take over")
            await asyncio.sleep(0.05)
        return
    raise EngineError("the shard has no running replica")


async def run_job(plane: "EnginesPlane", job: dict[str, Any]) -> None:
    jobs = {"valkey-cluster": form_cluster_job, "valkey-reshard": reshard_job, "valkey-failover": failover_job}
    if job.get("op") not in jobs:
        raise EngineError(f"unknown job {job.get('op')}")
    await jobs[job["op"]](plane, job)
