"""ElastiCache on real engines: Memcached clusters and Valkey replication groups.

Clients are the ordinary ones (pymemcache, redis-py) on the endpoints ElastiCache hands
out: node endpoints, a Memcached configuration endpoint (auto-discovery), and a
replication group's primary and reader endpoints.
"""

from __future__ import annotations

import socket
import time

import psutil
import pytest
import redis
from botocore.exceptions import ClientError
from pymemcache.client.base import Client as Memcache


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def wait_cluster(ec, cluster_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        c = ec.describe_cache_clusters(CacheClusterId=cluster_id, ShowCacheNodeInfo=True)["CacheClusters"][0]
        if c["CacheClusterStatus"] == "available":
            return c
        assert time.monotonic() < deadline and c["CacheClusterStatus"] == "creating", c
        time.sleep(0.02)


def wait_group(ec, group_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        g = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
        if g["Status"] == "available":
            return g
        assert time.monotonic() < deadline and g["Status"] == "creating", g
        time.sleep(0.02)


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (redis.exceptions.RedisError, OSError):
            pass
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def ec(nimbus):
    return nimbus.client("elasticache")


def test_memcached_cluster_with_auto_discovery(ec):
    created = ec.create_cache_cluster(CacheClusterId="mc-1", Engine="memcached", CacheNodeType="cache.t3.micro", NumCacheNodes=2)
    assert created["CacheCluster"]["ConfigurationEndpoint"]["Port"] == 11211
    cluster = wait_cluster(ec, "mc-1")
    nodes = cluster["CacheNodes"]
    assert [n["CacheNodeId"] for n in nodes] == ["0001", "0002"]
    assert len({n["Endpoint"]["Address"] for n in nodes}) == 2
    for i, node in enumerate(nodes):
        client = Memcache((node["Endpoint"]["Address"], node["Endpoint"]["Port"]))
        client.set(f"k{i}", f"v{i}".encode())
        assert client.get(f"k{i}") == f"v{i}".encode()
        client.close()
    cfg = cluster["ConfigurationEndpoint"]
    with socket.create_connection((cfg["Address"], cfg["Port"]), timeout=5) as s:
        s.sendall(b"config get cluster\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += s.recv(4096)
    lines = data.decode().split("\r\n")
    assert lines[0].startswith("CONFIG cluster 0 ")
    listed = sorted(lines[1].split("\n")[1].split(" "))
    assert listed == sorted(f"{n['Endpoint']['Address']}|{n['Endpoint']['Address']}|11211" for n in nodes)
    # The configuration endpoint also serves ordinary commands (on the first node).
    client = Memcache((cfg["Address"], cfg["Port"]))
    assert client.get("k0") == b"v0"
    client.close()
    with pytest.raises(ClientError) as exc:
        ec.create_snapshot(CacheClusterId="mc-1", SnapshotName="nope")
    assert code(exc) == "SnapshotFeatureNotSupportedFault"
    ec.delete_cache_cluster(CacheClusterId="mc-1")
    with pytest.raises(ClientError) as exc:
        ec.describe_cache_clusters(CacheClusterId="mc-1")
    assert code(exc) == "CacheClusterNotFound"


def test_valkey_replication_group_primary_reader_and_failover(ec):
    ec.create_replication_group(ReplicationGroupId="rg-1", ReplicationGroupDescription="test", Engine="valkey",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3, AutomaticFailoverEnabled=True,
                                MultiAZEnabled=True)
    group = wait_group(ec, "rg-1")
    assert group["MemberClusters"] == ["rg-1-001", "rg-1-002", "rg-1-003"]
    ng = group["NodeGroups"][0]
    primary_ep, reader_ep = ng["PrimaryEndpoint"], ng["ReaderEndpoint"]
    assert primary_ep["Port"] == 6379 and primary_ep["Address"] != reader_ep["Address"]
    roles = {m["CacheClusterId"]: m["CurrentRole"] for m in ng["NodeGroupMembers"]}
    assert roles == {"rg-1-001": "primary", "rg-1-002": "replica", "rg-1-003": "replica"}
    primary = redis.Redis(host=primary_ep["Address"], port=primary_ep["Port"], socket_timeout=5)
    primary.set("greeting", "hello")
    reader = redis.Redis(host=reader_ep["Address"], port=reader_ep["Port"], socket_timeout=5)
    assert eventually(lambda: reader.get("greeting") == b"hello")
    assert reader.info("replication")["role"] == "slave"
    with pytest.raises(redis.exceptions.ReadOnlyError):
        reader.set("x", "1")
    replica_ep = next(m["ReadEndpoint"] for m in ng["NodeGroupMembers"] if m["CacheClusterId"] == "rg-1-003")
    direct = redis.Redis(host=replica_ep["Address"], port=replica_ep["Port"], socket_timeout=5)
    assert eventually(lambda: direct.get("greeting") == b"hello")
    # Failover: a replica becomes primary; the primary endpoint follows it.
    ec.test_failover(ReplicationGroupId="rg-1", NodeGroupId="0001")
    group = ec.describe_replication_groups(ReplicationGroupId="rg-1")["ReplicationGroups"][0]
    roles = {m["CacheClusterId"]: m["CurrentRole"] for m in group["NodeGroups"][0]["NodeGroupMembers"]}
    assert roles["rg-1-002"] == "primary" and roles["rg-1-001"] == "replica"
    assert group["NodeGroups"][0]["PrimaryEndpoint"] == primary_ep

    def writes_after_failover():
        fresh = redis.Redis(host=primary_ep["Address"], port=primary_ep["Port"], socket_timeout=5)
        fresh.set("after", "failover")
        return fresh.info("replication")["role"] == "master"

    assert eventually(writes_after_failover)
    assert eventually(lambda: direct.get("after") == b"failover")
    old_primary_ep = next(m["ReadEndpoint"] for m in ng["NodeGroupMembers"] if m["CacheClusterId"] == "rg-1-001")
    old = redis.Redis(host=old_primary_ep["Address"], port=old_primary_ep["Port"], socket_timeout=5)
    assert eventually(lambda: old.info("replication")["role"] == "slave" and old.get("after") == b"failover")
    # Automatic failover: the primary's process dies; a replica is promoted, the endpoint follows.
    current = next(m["ReadEndpoint"] for m in ng["NodeGroupMembers"] if m["CacheClusterId"] == "rg-1-002")
    assert eventually(lambda: all(redis.Redis(host=m["ReadEndpoint"]["Address"], port=6379, socket_timeout=5)
                                  .get("after") == b"failover" for m in ng["NodeGroupMembers"]))
    pid = redis.Redis(host=current["Address"], port=current["Port"], socket_timeout=5).info("server")["process_id"]
    psutil.Process(pid).kill()

    def promoted():
        fresh = redis.Redis(host=primary_ep["Address"], port=primary_ep["Port"], socket_timeout=5)
        fresh.set("after-crash", "yes")
        return fresh.info("replication")["role"] == "master" and fresh.info("server")["process_id"] != pid

    assert eventually(promoted)
    group = ec.describe_replication_groups(ReplicationGroupId="rg-1")["ReplicationGroups"][0]
    roles = {m["CacheClusterId"]: m["CurrentRole"] for m in group["NodeGroups"][0]["NodeGroupMembers"]}
    assert roles["rg-1-002"] == "replica" and list(roles.values()).count("primary") == 1
    restarted = redis.Redis(host=current["Address"], port=current["Port"], socket_timeout=5)
    assert eventually(lambda: restarted.info("replication")["role"] == "slave" and restarted.get("after-crash") == b"yes")


def test_valkey_snapshot_and_restore(ec):
    ec.create_cache_cluster(CacheClusterId="vk-1", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    cluster = wait_cluster(ec, "vk-1")
    node = cluster["CacheNodes"][0]["Endpoint"]
    r = redis.Redis(host=node["Address"], port=node["Port"], socket_timeout=5)
    assert r.ping()
    r.set("kept", "yes")
    ec.create_snapshot(CacheClusterId="vk-1", SnapshotName="vk-snap")
    eventually(lambda: ec.describe_snapshots(SnapshotName="vk-snap")["Snapshots"][0]["SnapshotStatus"] == "available")
    with pytest.raises(ClientError) as exc:
        ec.create_snapshot(CacheClusterId="vk-1", SnapshotName="vk-snap")
    assert code(exc) == "SnapshotAlreadyExistsFault"
    ec.create_cache_cluster(CacheClusterId="vk-2", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                            SnapshotName="vk-snap")
    restored = wait_cluster(ec, "vk-2")["CacheNodes"][0]["Endpoint"]
    assert redis.Redis(host=restored["Address"], port=restored["Port"], socket_timeout=5).get("kept") == b"yes"
    for cid in ("vk-1", "vk-2"):
        ec.delete_cache_cluster(CacheClusterId=cid)
    ec.delete_snapshot(SnapshotName="vk-snap")


def test_bad_input(ec):
    cases = [
        (lambda: ec.create_cache_cluster(CacheClusterId="1bad", Engine="redis", NumCacheNodes=1), "InvalidParameterValue"),
        (lambda: ec.create_cache_cluster(CacheClusterId="r-two", Engine="redis", NumCacheNodes=2), "InvalidParameterValue"),
        (lambda: ec.create_cache_cluster(CacheClusterId="x", Engine="mongodb", NumCacheNodes=1), "InvalidParameterValue"),
        (lambda: ec.create_replication_group(ReplicationGroupId="g", ReplicationGroupDescription="d", Engine="memcached"),
         "InvalidParameterValue"),
        (lambda: ec.create_replication_group(ReplicationGroupId="g", ReplicationGroupDescription="d", NumCacheClusters=1,
                                             AutomaticFailoverEnabled=True), "InvalidParameterCombination"),
        (lambda: ec.create_replication_group(ReplicationGroupId="g", ReplicationGroupDescription="d", NumCacheClusters=7),
         "InvalidParameterValue"),
        (lambda: ec.describe_replication_groups(ReplicationGroupId="missing"), "ReplicationGroupNotFoundFault"),
        (lambda: ec.test_failover(ReplicationGroupId="missing", NodeGroupId="0001"), "ReplicationGroupNotFoundFault"),
        (lambda: ec.delete_snapshot(SnapshotName="missing"), "SnapshotNotFoundFault"),
    ]
    for call, want in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == want
    with pytest.raises(ClientError) as exc:  # slots that do not cover the key space
        ec.create_replication_group(ReplicationGroupId="sharded", ReplicationGroupDescription="d", NumNodeGroups=2,
                                    NodeGroupConfiguration=[{"Slots": "0-100"}, {"Slots": "200-16383"}])
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec.create_replication_group(ReplicationGroupId="sharded", ReplicationGroupDescription="d", NumNodeGroups=2,
                                    NumCacheClusters=2)
    assert code(exc) == "InvalidParameterCombination"
    assert not any(g["ReplicationGroupId"] == "sharded" for g in ec.describe_replication_groups()["ReplicationGroups"])
    assert ec.describe_cache_clusters()["CacheClusters"] == [] or all(
        c["CacheClusterId"] not in ("1bad", "r-two", "x") for c in ec.describe_cache_clusters()["CacheClusters"])
