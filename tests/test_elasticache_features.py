"""ElastiCache beyond the basics, on real engines: cluster mode enabled (a real Valkey
cluster behind a configuration endpoint), AUTH tokens and RBAC users as Valkey ACLs,
parameter groups applied to the engine, subnet/security group checks, and Valkey data
that survives kill -9 of Nimbus (append-only persistence).
"""

from __future__ import annotations

import json
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from pymemcache.client.base import Client as Memcache
from redis.retry import Retry
from botocore.exceptions import ClientError

from test_elasticache import code, eventually, wait_cluster, wait_group


NO_RETRY = Retry(NoBackoff(), 0)  # redis-py retries failed AUTH (a ConnectionError) with back-off otherwise


@pytest.fixture(scope="module")
def ec(nimbus):
    return nimbus.client("elasticache")


def node_endpoints(ec, group: dict) -> dict[str, tuple[str, int]]:
    out = {}
    for member in group["MemberClusters"]:
        c = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)["CacheClusters"][0]
        ep = c["CacheNodes"][0]["Endpoint"]
        out[member] = (ep["Address"], ep["Port"])
    return out


def test_cluster_mode_enabled_with_configuration_endpoint(nimbus, ec):
    out = nimbus.aws("elasticache", "create-replication-group", "--replication-group-id", "shards",
                     "--replication-group-description", "sharded", "--engine", "valkey", "--cache-node-type", "cache.t3.micro",
                     "--num-node-groups", "3", "--replicas-per-node-group", "1")
    created = json.loads(out.stdout)["ReplicationGroup"]
    assert created["ClusterEnabled"] is True and created["ClusterMode"] == "enabled"
    group = wait_group(ec, "shards")
    cfg = group["ConfigurationEndpoint"]
    assert cfg["Port"] == 6379
    assert [ng["NodeGroupId"] for ng in group["NodeGroups"]] == ["0001", "0002", "0003"]
    assert [ng["Slots"] for ng in group["NodeGroups"]] == ["0-5460", "5461-10921", "10922-16383"]
    assert all(len(ng["NodeGroupMembers"]) == 2 for ng in group["NodeGroups"])
    assert len(group["MemberClusters"]) == 6 and group["MemberClusters"][0] == "shards-0001-001"
    nodes = node_endpoints(ec, group)
    assert cfg["Address"] not in {a for a, _ in nodes.values()}
    # The cluster client starts at the configuration endpoint and learns every node's own address.
    rc = RedisCluster(host=cfg["Address"], port=cfg["Port"], socket_timeout=5)
    for i in range(60):
        rc.set(f"key:{i}", str(i))
    assert [rc.get(f"key:{i}") for i in range(60)] == [str(i).encode() for i in range(60)]
    learned = {(n.host, n.port) for n in rc.get_nodes()}
    assert set(nodes.values()) <= learned | {(cfg["Address"], cfg["Port"])}
    primaries = {(n.host, n.port) for n in rc.get_primaries()}
    assert primaries == {nodes[f"shards-000{i}-001"] for i in (1, 2, 3)}
    assert all(redis.Redis(host=h, port=p).dbsize() > 0 for h, p in primaries)  # keys really spread over the shards
    # A plain client on a node that does not own the key is redirected to a reachable node address.
    first = redis.Redis(host=nodes["shards-0001-001"][0], port=6379, socket_timeout=5)
    key = next(k for k in (f"elsewhere:{i}" for i in range(1000)) if rc.keyslot(k) > 5460)
    with pytest.raises(redis.exceptions.ResponseError) as exc:
        first.set(key, "x")
    host, _, port = str(exc.value).split()[-1].rpartition(":")  # "MOVED <slot> <address>:<port>"
    assert (host, int(port)) in set(nodes.values()) and (host, int(port)) != nodes["shards-0001-001"]
    # Replicas follow their shard's primary.
    replica = redis.Redis(host=nodes["shards-0002-002"][0], port=6379, socket_timeout=5)
    assert replica.execute_command("ROLE")[0] == b"slave"
    rc.close()
    # Online resharding: a fourth shard takes slots (and their keys) from the others.
    with pytest.raises(ClientError) as exc:  # decreasing needs the node groups to remove (or retain)
        ec.modify_replication_group_shard_configuration(ReplicationGroupId="shards", NodeGroupCount=2, ApplyImmediately=True)
    assert code(exc) == "InvalidParameterCombination"
    out = ec.modify_replication_group_shard_configuration(ReplicationGroupId="shards", NodeGroupCount=4, ApplyImmediately=True)
    assert out["ReplicationGroup"]["Status"] == "modifying"

    def resharded():
        g = ec.describe_replication_groups(ReplicationGroupId="shards")["ReplicationGroups"][0]
        assert g["Status"] in ("modifying", "available"), g["Status"]
        return g if g["Status"] == "available" else None

    group = eventually(resharded, timeout=60)
    assert [ng["Slots"] for ng in group["NodeGroups"]] == ["0-4095", "4096-8191", "8192-12287", "12288-16383"]
    nodes = node_endpoints(ec, group)
    rc = RedisCluster(host=cfg["Address"], port=cfg["Port"], socket_timeout=5)
    assert [rc.get(f"key:{i}") for i in range(60)] == [str(i).encode() for i in range(60)]
    assert {(n.host, n.port) for n in rc.get_primaries()} == {nodes[f"shards-000{i}-001"] for i in (1, 2, 3, 4)}
    assert redis.Redis(host=nodes["shards-0004-001"][0], port=6379).dbsize() > 0
    rc.close()
    # Scale in: shard 0003's slots and keys move to the others, its nodes leave and stop.
    ec.modify_replication_group_shard_configuration(ReplicationGroupId="shards", NodeGroupCount=3, ApplyImmediately=True,
                                                    NodeGroupsToRemove=["0003"])
    group = eventually(resharded, timeout=60)
    assert [ng["NodeGroupId"] for ng in group["NodeGroups"]] == ["0001", "0002", "0004"]
    assert [ng["Slots"] for ng in group["NodeGroups"]] == ["0-5460", "5461-10921", "10922-16383"]
    assert "shards-0003-001" not in group["MemberClusters"] and len(group["MemberClusters"]) == 6
    rc = RedisCluster(host=cfg["Address"], port=cfg["Port"], socket_timeout=5)
    assert [rc.get(f"key:{i}") for i in range(60)] == [str(i).encode() for i in range(60)]
    assert nodes["shards-0003-001"] not in {(n.host, n.port) for n in rc.get_nodes()}
    rc.close()

    def stopped():
        try:
            redis.Redis(host=nodes["shards-0003-001"][0], port=6379, socket_timeout=1, retry=NO_RETRY).ping()
            return False
        except redis.exceptions.ConnectionError:
            return True

    assert eventually(stopped)
    # TestFailover: the shard's replica takes over; the cluster client follows.
    with pytest.raises(ClientError) as exc:
        ec.test_failover(ReplicationGroupId="shards", NodeGroupId="0009")
    assert code(exc) == "NodeGroupNotFoundFault"
    ec.test_failover(ReplicationGroupId="shards", NodeGroupId="0002")
    replica = redis.Redis(host=nodes["shards-0002-002"][0], port=6379, socket_timeout=5)
    assert eventually(lambda: replica.execute_command("ROLE")[0] == b"master")
    rc = RedisCluster(host=cfg["Address"], port=cfg["Port"], socket_timeout=5)
    assert eventually(lambda: nodes["shards-0002-002"] in {(n.host, n.port) for n in rc.get_primaries()} or rc.nodes_manager.initialize())
    assert [rc.get(f"key:{i}") for i in range(60)] == [str(i).encode() for i in range(60)]
    rc.set("after-failover", "1")
    rc.close()
    ec.delete_replication_group(ReplicationGroupId="shards")
    with pytest.raises(ClientError) as exc:
        ec.describe_replication_groups(ReplicationGroupId="shards")
    assert code(exc) == "ReplicationGroupNotFoundFault"


def test_cluster_mode_with_node_group_configuration_slots(ec):
    ec.create_replication_group(ReplicationGroupId="slots", ReplicationGroupDescription="d", Engine="redis",
                                CacheParameterGroupName="default.redis7.cluster.on", NumNodeGroups=2,
                                NodeGroupConfiguration=[{"NodeGroupId": "0001", "Slots": "0-999", "ReplicaCount": 0},
                                                        {"NodeGroupId": "0002", "Slots": "1000-16383", "ReplicaCount": 0}])
    group = wait_group(ec, "slots")
    assert [ng["Slots"] for ng in group["NodeGroups"]] == ["0-999", "1000-16383"]
    nodes = node_endpoints(ec, group)
    shards = redis.Redis(host=nodes["slots-0001-001"][0], port=6379).execute_command("CLUSTER", "SLOTS")
    assert sorted((s[0], s[1]) for s in shards) == [(0, 999), (1000, 16383)]
    ec.delete_replication_group(ReplicationGroupId="slots")


def test_auth_token_rotate_and_set(ec):
    with pytest.raises(ClientError) as exc:
        ec.create_replication_group(ReplicationGroupId="authed", ReplicationGroupDescription="d", NumCacheClusters=2,
                                    AuthToken="short")
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec.create_replication_group(ReplicationGroupId="authed", ReplicationGroupDescription="d", NumCacheClusters=2,
                                    AuthToken="first-token-0123456789", TransitEncryptionEnabled=True)
    assert code(exc) == "InvalidParameterCombination"
    ec.create_replication_group(ReplicationGroupId="authed", ReplicationGroupDescription="d", NumCacheClusters=2,
                                AuthToken="first-token-0123456789")
    group = wait_group(ec, "authed")
    assert group["AuthTokenEnabled"] is True and "AuthTokenLastModifiedDate" in group
    ep = group["NodeGroups"][0]["PrimaryEndpoint"]
    reader = group["NodeGroups"][0]["ReaderEndpoint"]

    def client(password=None, endpoint=ep):
        return redis.Redis(host=endpoint["Address"], port=endpoint["Port"], password=password, socket_timeout=5,
                           retry=NO_RETRY)

    with pytest.raises(redis.exceptions.AuthenticationError):
        client().set("k", "v")
    with pytest.raises(redis.exceptions.AuthenticationError):
        client("wrong-token-0123456789").ping()
    client("first-token-0123456789").set("k", "v")
    # The replica (authenticated as Nimbus's own user) replicates.
    assert eventually(lambda: client("first-token-0123456789", reader).get("k") == b"v")
    with pytest.raises(ClientError) as exc:  # SET only after ROTATE
        ec.modify_replication_group(ReplicationGroupId="authed", AuthToken="second-token-0123456789",
                                    AuthTokenUpdateStrategy="SET", ApplyImmediately=True)
    assert code(exc) == "InvalidParameterCombination"
    ec.modify_replication_group(ReplicationGroupId="authed", AuthToken="second-token-0123456789",
                                AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
    assert eventually(lambda: client("second-token-0123456789").ping())
    assert client("first-token-0123456789").ping()  # both accepted while rotating
    ec.modify_replication_group(ReplicationGroupId="authed", AuthToken="second-token-0123456789",
                                AuthTokenUpdateStrategy="SET", ApplyImmediately=True)

    def old_refused():
        try:
            client("first-token-0123456789").ping()
            return False
        except redis.exceptions.AuthenticationError:
            return True

    assert eventually(old_refused)
    assert client("second-token-0123456789").get("k") == b"v"
    assert client("second-token-0123456789", reader).get("k") == b"v"
    ec.delete_replication_group(ReplicationGroupId="authed")
    # A single-node cluster takes an AUTH token too, and rotates it with ModifyCacheCluster.
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="mc-auth", Engine="memcached", NumCacheNodes=1, AuthToken="first-token-0123456789")
    assert code(exc) == "InvalidParameterCombination"
    ec.create_cache_cluster(CacheClusterId="solo-auth", Engine="valkey", NumCacheNodes=1, AuthToken="first-token-0123456789")
    cluster = wait_cluster(ec, "solo-auth")
    assert cluster["AuthTokenEnabled"] is True
    node = {"Address": cluster["CacheNodes"][0]["Endpoint"]["Address"], "Port": 6379}
    assert client("first-token-0123456789", node).ping()
    ec.modify_cache_cluster(CacheClusterId="solo-auth", AuthToken="third-token-0123456789",
                            AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
    assert eventually(lambda: client("third-token-0123456789", node).ping())
    assert client("first-token-0123456789", node).ping()
    ec.delete_cache_cluster(CacheClusterId="solo-auth")


def test_rbac_users_and_user_groups(nimbus, ec):
    users = ec.describe_users(UserId="default")["Users"]
    assert users[0]["AccessString"] == "on ~* +@all" and users[0]["Authentication"]["Type"] == "no-password"
    ec.create_user(UserId="app-user", UserName="app", Engine="valkey", Passwords=["app-password-0123456789"],
                   AccessString="on ~app:* +@all")
    nimbus.aws("elasticache", "create-user", "--user-id", "locked-default", "--user-name", "default", "--engine", "valkey",
               "--no-password-required", "--access-string", "off -@all")
    with pytest.raises(ClientError) as exc:
        ec.create_user(UserId="app-user", UserName="x", Engine="valkey", NoPasswordRequired=True, AccessString="on ~* +@all")
    assert code(exc) == "UserAlreadyExists"
    with pytest.raises(ClientError) as exc:
        ec.create_user(UserId="bad", UserName="x", Engine="valkey", NoPasswordRequired=True, AccessString="on ~* +@all >pw")
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec.create_user_group(UserGroupId="no-default", Engine="valkey", UserIds=["app-user"])
    assert code(exc) == "DefaultUserRequired"
    with pytest.raises(ClientError) as exc:
        ec.create_user_group(UserGroupId="two-defaults", Engine="valkey", UserIds=["default", "locked-default"])
    assert code(exc) == "DuplicateUserName"
    ec.create_user_group(UserGroupId="app-group", Engine="valkey", UserIds=["locked-default", "app-user"])
    ec.create_replication_group(ReplicationGroupId="rbac", ReplicationGroupDescription="d", Engine="valkey",
                                NumCacheClusters=2, UserGroupIds=["app-group"])
    group = wait_group(ec, "rbac")
    assert group["UserGroupIds"] == ["app-group"]
    assert ec.describe_user_groups(UserGroupId="app-group")["UserGroups"][0]["ReplicationGroups"] == ["rbac"]
    ep = group["NodeGroups"][0]["PrimaryEndpoint"]
    reader_ep = group["NodeGroups"][0]["ReaderEndpoint"]
    app = redis.Redis(host=ep["Address"], port=ep["Port"], username="app", password="app-password-0123456789", socket_timeout=5)
    app.set("app:1", "one")
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.set("other:1", "x")
    with pytest.raises(redis.exceptions.RedisError):  # the default user is off
        redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5, retry=NO_RETRY).get("app:1")
    reader = redis.Redis(host=reader_ep["Address"], port=reader_ep["Port"], username="app",
                         password="app-password-0123456789", socket_timeout=5)
    assert eventually(lambda: reader.get("app:1") == b"one")
    # Changing the user's access string reaches the engine.
    ec.modify_user(UserId="app-user", AccessString="on ~* +@all")
    assert eventually(lambda: app.set("other:1", "x"))
    with pytest.raises(ClientError) as exc:
        ec.delete_user_group(UserGroupId="app-group")
    assert code(exc) == "InvalidUserGroupState"
    with pytest.raises(ClientError) as exc:
        ec.delete_user(UserId="locked-default")
    assert code(exc) == "DefaultUserAssociatedToUserGroup"
    with pytest.raises(ClientError) as exc:
        ec.modify_user(UserId="default", AccessString="off")
    assert code(exc) == "InvalidUserState"
    # A user deleted leaves its groups and can no longer connect.
    ec.delete_user(UserId="app-user")
    assert ec.describe_user_groups(UserGroupId="app-group")["UserGroups"][0]["UserIds"] == ["locked-default"]

    def refused():
        try:
            redis.Redis(host=ep["Address"], port=ep["Port"], username="app", password="app-password-0123456789",
                        retry=NO_RETRY).ping()
            return False
        except redis.exceptions.AuthenticationError:
            return True

    assert eventually(refused)
    ec.delete_replication_group(ReplicationGroupId="rbac")
    ec.delete_user_group(UserGroupId="app-group")
    ec.delete_user(UserId="locked-default")


def test_parameter_groups_reach_the_engine(nimbus, ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="lru", CacheParameterGroupFamily="valkey8", Description="d")
    with pytest.raises(ClientError) as exc:
        ec.create_cache_parameter_group(CacheParameterGroupName="lru", CacheParameterGroupFamily="valkey8", Description="d")
    assert code(exc) == "CacheParameterGroupAlreadyExists"
    with pytest.raises(ClientError) as exc:
        ec.create_cache_parameter_group(CacheParameterGroupName="bad-family", CacheParameterGroupFamily="redis99", Description="d")
    assert code(exc) == "InvalidParameterValue"
    ec.modify_cache_parameter_group(CacheParameterGroupName="lru", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}])
    for bad in ({"ParameterName": "maxmemory-policy", "ParameterValue": "sometimes"},
                {"ParameterName": "no-such-thing", "ParameterValue": "1"}, {"ParameterName": "timeout", "ParameterValue": "x"}):
        with pytest.raises(ClientError) as exc:
            ec.modify_cache_parameter_group(CacheParameterGroupName="lru", ParameterNameValues=[bad])
        assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec.modify_cache_parameter_group(CacheParameterGroupName="default.valkey8", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": "30"}])
    assert code(exc) == "InvalidCacheParameterGroupState"
    out = json.loads(nimbus.aws("elasticache", "describe-cache-parameters", "--cache-parameter-group-name", "lru",
                                "--source", "user").stdout)
    assert [(p["ParameterName"], p["ParameterValue"]) for p in out["Parameters"]] == [("maxmemory-policy", "allkeys-lru")]
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="pg-wrong", Engine="memcached", NumCacheNodes=1, CacheParameterGroupName="lru")
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="pg-missing", Engine="valkey", NumCacheNodes=1, CacheParameterGroupName="nope")
    assert code(exc) == "CacheParameterGroupNotFound"
    ec.create_cache_cluster(CacheClusterId="pg-node", Engine="valkey", NumCacheNodes=1, CacheParameterGroupName="lru")
    cluster = wait_cluster(ec, "pg-node")
    assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == "lru"
    ep = cluster["CacheNodes"][0]["Endpoint"]
    node = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
    assert node.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    # A change to the group reaches running nodes at once (a dynamic parameter).
    ec.modify_cache_parameter_group(CacheParameterGroupName="lru", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"},
        {"ParameterName": "notify-keyspace-events", "ParameterValue": "KEA"}])
    assert eventually(lambda: node.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lfu")
    assert set(node.config_get("notify-keyspace-events")["notify-keyspace-events"]) == set("AKE")
    with pytest.raises(ClientError) as exc:
        ec.delete_cache_parameter_group(CacheParameterGroupName="lru")
    assert code(exc) == "InvalidCacheParameterGroupState"
    ec.reset_cache_parameter_group(CacheParameterGroupName="lru", ResetAllParameters=True)
    assert ec.describe_cache_parameters(CacheParameterGroupName="lru", Source="user")["Parameters"] == []
    ec.delete_cache_cluster(CacheClusterId="pg-node")
    ec.delete_cache_parameter_group(CacheParameterGroupName="lru")
    # Memcached's parameters are static: they are the server's flags at start.
    ec.create_cache_parameter_group(CacheParameterGroupName="mc-big", CacheParameterGroupFamily="memcached1.6", Description="d")
    ec.modify_cache_parameter_group(CacheParameterGroupName="mc-big", ParameterNameValues=[
        {"ParameterName": "max_item_size", "ParameterValue": "2097152"}])
    ec.create_cache_cluster(CacheClusterId="mc-pg", Engine="memcached", NumCacheNodes=1, CacheParameterGroupName="mc-big")
    ep = wait_cluster(ec, "mc-pg")["CacheNodes"][0]["Endpoint"]
    client = Memcache((ep["Address"], ep["Port"]))
    assert client.stats("settings")[b"item_size_max"] == 2097152
    client.close()
    ec.delete_cache_cluster(CacheClusterId="mc-pg")
    ec.delete_cache_parameter_group(CacheParameterGroupName="mc-big")


def test_subnet_and_security_groups_are_checked(nimbus, ec):
    ec2 = nimbus.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
               for i, az in enumerate(["us-east-1a", "us-east-1b"])]
    sg = ec2.create_security_group(GroupName="cache", Description="d", VpcId=vpc)["GroupId"]
    foreign = ec2.create_security_group(GroupName="cache-other", Description="d", VpcId=other_vpc)["GroupId"]
    ec.create_cache_subnet_group(CacheSubnetGroupName="cache-net", CacheSubnetGroupDescription="d", SubnetIds=subnets)
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="net-1", Engine="valkey", NumCacheNodes=1, CacheSubnetGroupName="missing")
    assert code(exc) == "CacheSubnetGroupNotFoundFault"
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="net-1", Engine="valkey", NumCacheNodes=1, CacheSubnetGroupName="cache-net",
                                SecurityGroupIds=["sg-0123456789abcdef0"])
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="net-1", Engine="valkey", NumCacheNodes=1, CacheSubnetGroupName="cache-net",
                                SecurityGroupIds=[foreign])
    assert code(exc) == "InvalidVPCNetworkStateFault"
    with pytest.raises(ClientError) as exc:
        ec.create_cache_cluster(CacheClusterId="net-1", Engine="valkey", NumCacheNodes=1, CacheSubnetGroupName="cache-net",
                                PreferredAvailabilityZone="us-east-1c")
    assert code(exc) == "InvalidParameterValue"
    ec.create_cache_cluster(CacheClusterId="net-1", Engine="valkey", NumCacheNodes=1, CacheSubnetGroupName="cache-net",
                            SecurityGroupIds=[sg])
    cluster = wait_cluster(ec, "net-1")
    assert cluster["CacheSubnetGroupName"] == "cache-net" and cluster["PreferredAvailabilityZone"] in ("us-east-1a", "us-east-1b")
    assert cluster["SecurityGroups"] == [{"SecurityGroupId": sg, "Status": "active"}]
    with pytest.raises(ClientError) as exc:
        ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-net")
    assert code(exc) == "CacheSubnetGroupInUse"
    ec.delete_cache_cluster(CacheClusterId="net-1")
    ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-net")


def test_valkey_writes_survive_kill_9(fresh_nimbus, tmp_path):
    server = fresh_nimbus(tmp_path / "data")
    ec = server.client("elasticache")
    ec.create_cache_cluster(CacheClusterId="durable", Engine="valkey", NumCacheNodes=1)
    ep = wait_cluster(ec, "durable")["CacheNodes"][0]["Endpoint"]
    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
    r.set("before-snapshot", "1")
    ec.create_snapshot(CacheClusterId="durable", SnapshotName="durable-snap")
    eventually(lambda: ec.describe_snapshots(SnapshotName="durable-snap")["Snapshots"][0]["SnapshotStatus"] == "available")
    for i in range(200):
        r.set(f"acked:{i}", i)  # acknowledged writes after the last RDB save
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    ec.create_cache_cluster(CacheClusterId="restored", Engine="valkey", NumCacheNodes=1, SnapshotName="durable-snap")
    rep = wait_cluster(ec, "restored")["CacheNodes"][0]["Endpoint"]
    restored = redis.Redis(host=rep["Address"], port=rep["Port"], socket_timeout=5)
    assert restored.get("before-snapshot") == b"1"  # the RDB was loaded, then AOF turned on
    assert restored.config_get("appendonly") == {"appendonly": "yes"}
    restored.set("after-restore", "1")
    server.kill()
    server = fresh_nimbus(tmp_path / "data")
    ec = server.client("elasticache")
    wait_cluster(ec, "durable")
    wait_cluster(ec, "restored")
    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
    assert eventually(lambda: r.ping())
    assert [r.get(f"acked:{i}") for i in range(200)] == [str(i).encode() for i in range(200)]
    restored = redis.Redis(host=rep["Address"], port=rep["Port"], socket_timeout=5)
    assert restored.get("before-snapshot") == b"1" and restored.get("after-restore") == b"1"
