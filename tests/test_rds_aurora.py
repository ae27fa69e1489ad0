"""Aurora custom endpoints (their own loopback address balancing over chosen members) and
cluster snapshots with the data, checked with psycopg (each engine's data directory tells
the instances apart)."""

from __future__ import annotations

import json
import time

import psycopg
import pymysql
import pytest
from botocore.exceptions import ClientError

from test_rds import PASSWORD, code, my, pg, wait_status

REGION = "ap-southeast-2"


@pytest.fixture(scope="module")
def rds(nimbus):
    return nimbus.client("rds", region=REGION)


def _connect(address: str):
    """A connection through an endpoint (a new endpoint's listener starts just after the API answers)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return pg({"Endpoint": {"Address": address, "Port": 5432}, "MasterUsername": "master"})
        except psycopg.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _servers(address: str, n: int = 6) -> list[str]:
    out = []
    for _ in range(n):
        with _connect(address) as conn:
            out.append(conn.execute("SELECT setting FROM pg_settings WHERE name='data_directory'").fetchone()[0])
    return out


def test_aurora_custom_endpoints_balance_over_their_members(rds, nimbus):
    rds.create_db_cluster(DBClusterIdentifier="cust", Engine="aurora-postgresql", MasterUsername="master",
                          MasterUserPassword=PASSWORD, DatabaseName="app")
    for ident in ("cust-1", "cust-2", "cust-3"):
        rds.create_db_instance(DBInstanceIdentifier=ident, DBClusterIdentifier="cust", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")
        if ident == "cust-1":
            wait_status(rds, ident)  # the writer first, then readers stream from it
    dirs = {}
    for ident in ("cust-1", "cust-2", "cust-3"):
        db = wait_status(rds, ident)
        dirs[ident] = _servers(db["Endpoint"]["Address"], 1)[0]
    # Bad input: nothing is created.
    for kw, want in [(dict(EndpointType="WRITER"), "InvalidParameterValue"),
                     (dict(EndpointType="ANY", StaticMembers=["cust-2"], ExcludedMembers=["cust-3"]), "InvalidParameterValue"),
                     (dict(EndpointType="ANY", StaticMembers=["not-a-member"]), "DBInstanceNotFound")]:
        with pytest.raises(ClientError) as exc:
            rds.create_db_cluster_endpoint(DBClusterIdentifier="cust", DBClusterEndpointIdentifier="bad", **kw)
        assert code(exc) == want, kw
    with pytest.raises(ClientError) as exc:
        rds.create_db_cluster_endpoint(DBClusterIdentifier="nope", DBClusterEndpointIdentifier="bad", EndpointType="ANY")
    assert code(exc) == "DBClusterNotFoundFault"
    # A static member list, with the AWS CLI.
    static = json.loads(nimbus.aws("rds", "create-db-cluster-endpoint", "--db-cluster-identifier", "cust",
                                   "--db-cluster-endpoint-identifier", "only-two", "--endpoint-type", "ANY",
                                   "--static-members", "cust-2", region=REGION).stdout)
    assert static["EndpointType"] == "CUSTOM" and static["CustomEndpointType"] == "ANY" and static["StaticMembers"] == ["cust-2"]
    assert set(_servers(static["Endpoint"], 4)) == {dirs["cust-2"]}
    with pytest.raises(ClientError) as exc:
        rds.create_db_cluster_endpoint(DBClusterIdentifier="cust", DBClusterEndpointIdentifier="only-two", EndpointType="ANY")
    assert code(exc) == "DBClusterEndpointAlreadyExistsFault"
    # Exclusion of a reader, READER type: the writer is left out too.
    readers = rds.create_db_cluster_endpoint(DBClusterIdentifier="cust", DBClusterEndpointIdentifier="no-three",
                                             EndpointType="READER", ExcludedMembers=["cust-3"])
    assert set(_servers(readers["Endpoint"], 4)) == {dirs["cust-2"]}
    # ANY with no list: every member, writer included.
    every = rds.create_db_cluster_endpoint(DBClusterIdentifier="cust", DBClusterEndpointIdentifier="every", EndpointType="ANY")
    assert set(_servers(every["Endpoint"], 6)) == set(dirs.values())
    assert len({static["Endpoint"], readers["Endpoint"], every["Endpoint"]}) == 3
    cluster = rds.describe_db_clusters(DBClusterIdentifier="cust")["DBClusters"][0]
    assert sorted(cluster["CustomEndpoints"]) == sorted([static["Endpoint"], readers["Endpoint"], every["Endpoint"]])
    listed = rds.describe_db_cluster_endpoints(DBClusterIdentifier="cust")["DBClusterEndpoints"]
    assert sorted(e["EndpointType"] for e in listed) == ["CUSTOM", "CUSTOM", "CUSTOM", "READER", "WRITER"]
    # Membership changes move connections.
    rds.modify_db_cluster_endpoint(DBClusterEndpointIdentifier="only-two", StaticMembers=["cust-3"])
    assert set(_servers(static["Endpoint"], 4)) == {dirs["cust-3"]}
    rds.delete_db_cluster_endpoint(DBClusterEndpointIdentifier="only-two")
    with pytest.raises(ClientError) as exc:
        rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="only-two")
    assert code(exc) == "DBClusterEndpointNotFoundFault"
    with pytest.raises(ClientError) as exc:
        rds.modify_db_cluster_endpoint(DBClusterEndpointIdentifier="only-two", EndpointType="ANY")
    assert code(exc) == "DBClusterEndpointNotFoundFault"
    # A cluster snapshot holds the writer's data; a cluster restored from it gets it back.
    cluster = rds.describe_db_clusters(DBClusterIdentifier="cust")["DBClusters"][0]
    with pg({"Endpoint": {"Address": cluster["Endpoint"], "Port": 5432}, "MasterUsername": "master"}) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('before snapshot')")
    snap = rds.create_db_cluster_snapshot(DBClusterIdentifier="cust", DBClusterSnapshotIdentifier="cust-snap")["DBClusterSnapshot"]
    assert snap["Engine"] == "aurora-postgresql" and snap["DBClusterIdentifier"] == "cust"
    deadline = time.monotonic() + 60
    while rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="cust-snap")["DBClusterSnapshots"][0]["Status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pg({"Endpoint": {"Address": cluster["Endpoint"], "Port": 5432}, "MasterUsername": "master"}) as conn:
        conn.execute("INSERT INTO kept VALUES ('after snapshot')")
    with pytest.raises(ClientError) as exc:
        rds.create_db_cluster_snapshot(DBClusterIdentifier="cust", DBClusterSnapshotIdentifier="cust-snap")
    assert code(exc) == "DBClusterSnapshotAlreadyExistsFault"
    with pytest.raises(ClientError) as exc:
        rds.restore_db_cluster_from_snapshot(DBClusterIdentifier="cust", SnapshotIdentifier="cust-snap", Engine="aurora-postgresql")
    assert code(exc) == "DBClusterAlreadyExistsFault"
    with pytest.raises(ClientError) as exc:
        rds.restore_db_cluster_from_snapshot(DBClusterIdentifier="cust-2c", SnapshotIdentifier="nope", Engine="aurora-postgresql")
    assert code(exc) == "DBClusterSnapshotNotFoundFault"
    restored = rds.restore_db_cluster_from_snapshot(DBClusterIdentifier="cust-copy", SnapshotIdentifier="cust-snap",
                                                    Engine="aurora-postgresql")["DBCluster"]
    assert restored["DBClusterMembers"] == [] and restored["Endpoint"] != cluster["Endpoint"]
    with pytest.raises(ClientError) as exc:  # no writer yet: nothing to snapshot
        rds.create_db_cluster_snapshot(DBClusterIdentifier="cust-copy", DBClusterSnapshotIdentifier="empty")
    assert code(exc) == "InvalidDBClusterStateFault"
    rds.create_db_instance(DBInstanceIdentifier="copy-1", DBClusterIdentifier="cust-copy", Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")
    wait_status(rds, "copy-1")
    with pg({"Endpoint": {"Address": restored["Endpoint"], "Port": 5432}, "MasterUsername": "master"}) as conn:
        assert [r[0] for r in conn.execute("SELECT v FROM kept")] == ["before snapshot"]
    rds.delete_db_instance(DBInstanceIdentifier="copy-1")
    rds.delete_db_cluster(DBClusterIdentifier="cust-copy", SkipFinalSnapshot=True)
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="cust-snap")
    with pytest.raises(ClientError) as exc:
        rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="cust-snap")
    assert code(exc) == "DBClusterSnapshotNotFoundFault"
    for ident in ("cust-1", "cust-2", "cust-3"):
        rds.delete_db_instance(DBInstanceIdentifier=ident)
    rds.delete_db_cluster(DBClusterIdentifier="cust", SkipFinalSnapshot=True)
    assert rds.describe_db_cluster_endpoints()["DBClusterEndpoints"] == []  # the cluster took its endpoints along


def _my_connect(address: str):
    """A pymysql connection through a cluster endpoint (retried while a new listener starts)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return my({"Endpoint": {"Address": address, "Port": 3306}, "MasterUsername": "master"})
        except pymysql.err.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _my_one(conn, sql: str):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def _my_rows(conn, n: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _my_one(conn, "SELECT COUNT(*) FROM t") == n:
                return
        except pymysql.err.ProgrammingError:  # the table has not replicated yet
            pass
        assert time.monotonic() < deadline, f"{n} rows never replicated"
        time.sleep(0.05)


def test_aurora_mysql_readers_replicate_and_fail_over(rds):
    cluster = rds.create_db_cluster(DBClusterIdentifier="amy", Engine="aurora-mysql", MasterUsername="master",
                                    MasterUserPassword=PASSWORD, DatabaseName="shop")["DBCluster"]
    rds.create_db_instance(DBInstanceIdentifier="amy-1", DBClusterIdentifier="amy", Engine="aurora-mysql",
                           DBInstanceClass="db.r6g.large")
    wait_status(rds, "amy-1")
    writer = _my_connect(cluster["Endpoint"])
    with writer.cursor() as cur:
        cur.execute("CREATE TABLE t (v INT)")
        cur.execute("INSERT INTO t VALUES (1)")
    for ident in ("amy-2", "amy-3"):
        rds.create_db_instance(DBInstanceIdentifier=ident, DBClusterIdentifier="amy", Engine="aurora-mysql",
                               DBInstanceClass="db.r6g.large")
    with pytest.raises(ClientError) as exc:  # bad input: a reader of another engine
        rds.create_db_instance(DBInstanceIdentifier="amy-x", DBClusterIdentifier="amy", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")
    assert code(exc) == "InvalidParameterCombination"
    for ident in ("amy-2", "amy-3"):
        wait_status(rds, ident)
    with writer.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (2)")
    writer.close()
    members = rds.describe_db_clusters(DBClusterIdentifier="amy")["DBClusters"][0]["DBClusterMembers"]
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in members} == {"amy-1": True, "amy-2": False, "amy-3": False}
    servers = set()
    for _ in range(6):  # the reader endpoint balances over both readers, read-only binlog replicas
        conn = _my_connect(cluster["ReaderEndpoint"])
        _my_rows(conn, 2)
        assert _my_one(conn, "SELECT @@read_only") == 1
        with pytest.raises(pymysql.err.OperationalError) as exc:
            conn.cursor().execute("INSERT INTO t VALUES (9)")
        assert exc.value.args[0] == 1290
        servers.add(_my_one(conn, "SELECT @@server_id"))
        conn.close()
    assert len(servers) == 2
    with pytest.raises(ClientError) as exc:
        rds.failover_db_cluster(DBClusterIdentifier="amy", TargetDBInstanceIdentifier="amy-1")
    assert code(exc) == "InvalidDBInstanceState"
    rds.failover_db_cluster(DBClusterIdentifier="amy", TargetDBInstanceIdentifier="amy-3")
    amy3 = wait_status(rds, "amy-3")
    deadline = time.monotonic() + 30
    while True:  # the cluster endpoint follows the new writer
        try:
            conn = _my_connect(cluster["Endpoint"])
            if _my_one(conn, "SELECT @@read_only") == 0:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO t VALUES (3)")
                break
        except pymysql.err.Error:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _my_one(conn, "SELECT @@server_id") == _my_one(my(amy3), "SELECT @@server_id")
    conn.close()
    members = rds.describe_db_clusters(DBClusterIdentifier="amy")["DBClusters"][0]["DBClusterMembers"]
    assert [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]] == ["amy-3"]
    for ident in ("amy-1", "amy-2"):  # the others replicate from the new writer
        conn = my(wait_status(rds, ident))
        _my_rows(conn, 3)
        assert _my_one(conn, "SELECT @@read_only") == 1
        conn.close()
    for ident in ("amy-1", "amy-2", "amy-3"):
        rds.delete_db_instance(DBInstanceIdentifier=ident)
    rds.delete_db_cluster(DBClusterIdentifier="amy", SkipFinalSnapshot=True)
