"""Read replicas and point-in-time restore beyond PostgreSQL in one region: MariaDB (the
mysql and mariadb engines) replicas by real binlog replication, promotion and
point-in-time restore by binlog replay; PostgreSQL replicas across regions.  Checked with
pymysql and psycopg on the endpoints RDS hands out."""

from __future__ import annotations

import time
from datetime import datetime

import pymysql
import pytest
from botocore.exceptions import ClientError

from test_rds import code, create, my, wait_status

REGION = "us-west-1"  # apart from the other RDS tests' instances


@pytest.fixture(scope="module")
def rds(nimbus):
    return nimbus.client("rds", region=REGION)


def _count(conn, table: str = "orders") -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return cur.fetchone()[0]


def _eventually(conn, n: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while _count(conn) != n:
        assert time.monotonic() < deadline, f"replica has {_count(conn)} rows, not {n}"
        time.sleep(0.05)


def test_mariadb_read_replica_replicates_and_promotes(rds, nimbus):
    create(rds, "my-primary", engine="mariadb", DBName="shop", BackupRetentionPeriod=1)
    primary = wait_status(rds, "my-primary")
    conn = my(primary)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(20))")
        cur.execute("INSERT INTO orders VALUES (1, 'tea'), (2, 'cake')")
    out = nimbus.aws("rds", "create-db-instance-read-replica", "--db-instance-identifier", "my-replica",
                     "--source-db-instance-identifier", "my-primary", region=REGION)
    assert '"ReadReplicaSourceDBInstanceIdentifier": "my-primary"' in out.stdout
    replica = wait_status(rds, "my-replica")
    assert replica["Engine"] == "mariadb" and replica["Endpoint"]["Address"] != primary["Endpoint"]["Address"]
    assert rds.describe_db_instances(DBInstanceIdentifier="my-primary")["DBInstances"][0]["ReadReplicaDBInstanceIdentifiers"] == ["my-replica"]
    rconn = my(replica)  # the master credentials came over with the data
    assert _count(rconn) == 2
    with conn.cursor() as cur:  # later writes arrive by binlog replication
        cur.execute("INSERT INTO orders VALUES (3, 'jam')")
        cur.execute("UPDATE orders SET item = 'scone' WHERE id = 2")
    _eventually(rconn, 3)
    deadline = time.monotonic() + 15
    with rconn.cursor() as cur:
        while True:  # the UPDATE follows the INSERT
            cur.execute("SELECT item FROM orders WHERE id = 2")
            if cur.fetchone()[0] == "scone":
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cur.execute("SELECT @@read_only")
        assert cur.fetchone()[0] == 1
        with pytest.raises(pymysql.err.OperationalError) as exc:
            cur.execute("INSERT INTO orders VALUES (9, 'nope')")
        assert exc.value.args[0] == 1290  # --read-only
    with pytest.raises(ClientError) as exc:
        rds.create_db_instance_read_replica(DBInstanceIdentifier="my-replica-2", SourceDBInstanceIdentifier="my-replica")
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        rds.stop_db_instance(DBInstanceIdentifier="my-primary")
    assert code(exc) == "InvalidDBInstanceState"
    # ReplicaLag (Seconds_Behind_Master) reaches CloudWatch each simulated minute.
    cloudwatch = nimbus.client("cloudwatch", region=REGION)
    dims = [{"Name": "DBInstanceIdentifier", "Value": "my-replica"}]
    deadline = time.monotonic() + 20
    names: set[str] = set()
    while "ReplicaLag" not in names:
        assert time.monotonic() < deadline, names
        nimbus.advance_clock(60)
        time.sleep(0.2)  # collection runs asynchronously after the tick
        names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="AWS/RDS", Dimensions=dims)["Metrics"]}
    # Promotion: the replica stops following and takes writes.
    rds.promote_read_replica(DBInstanceIdentifier="my-replica")
    deadline = time.monotonic() + 15
    while True:
        with rconn.cursor() as cur:
            cur.execute("SELECT @@read_only")
            if cur.fetchone()[0] == 0:
                break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with rconn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (4, 'bun')")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (5, 'pie')")
    time.sleep(0.3)  # what the former primary writes no longer arrives
    assert _count(rconn) == 4 and _count(conn) == 4
    assert "ReadReplicaSourceDBInstanceIdentifier" not in rds.describe_db_instances(DBInstanceIdentifier="my-replica")["DBInstances"][0]
    conn.close()
    rconn.close()
    for ident in ("my-primary", "my-replica"):
        rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)


def test_mariadb_point_in_time_restore_replays_the_binlog(rds, nimbus):
    create(rds, "my-ledger", engine="mysql", DBName="shop", BackupRetentionPeriod=1)
    db = wait_status(rds, "my-ledger")
    conn = my(db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE ledger (v INT)")
        cur.execute("INSERT INTO ledger VALUES (1), (2), (3)")
    time.sleep(1.1)  # binlog events carry whole seconds
    before_drop = datetime.fromisoformat(nimbus.advance_clock(0)["now"])
    nimbus.advance_clock(3600)  # restore times are simulation-clock times
    with conn.cursor() as cur:
        cur.execute("DROP TABLE ledger")
    conn.close()
    rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="my-ledger", TargetDBInstanceIdentifier="my-ledger-pitr",
                                             RestoreTime=before_drop)
    restored = wait_status(rds, "my-ledger-pitr")
    assert restored["Engine"] == "mysql"
    rconn = my(restored)
    with rconn.cursor() as cur:
        cur.execute("SELECT SUM(v) FROM ledger")
        assert cur.fetchone()[0] == 6
        cur.execute("INSERT INTO ledger VALUES (4)")  # standalone and writable
    rconn.close()
    with pytest.raises(ClientError) as exc:
        rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="my-ledger", TargetDBInstanceIdentifier="my-ledger-pitr",
                                                 UseLatestRestorableTime=True)
    assert code(exc) == "DBInstanceAlreadyExists"
    for ident in ("my-ledger", "my-ledger-pitr"):
        rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)


def test_postgres_cross_region_read_replica(nimbus):
    import psycopg

    from test_rds import pg

    east, west = nimbus.client("rds", region="eu-central-1"), nimbus.client("rds", region="eu-west-2")
    create(east, "xr-src", DBName="app", BackupRetentionPeriod=1)
    source = wait_status(east, "xr-src")
    with pg(source) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ClientError) as exc:  # a bare identifier names an instance of this region
        west.create_db_instance_read_replica(DBInstanceIdentifier="xr-replica", SourceDBInstanceIdentifier="xr-src")
    assert code(exc) == "DBInstanceNotFound"
    replica = west.create_db_instance_read_replica(DBInstanceIdentifier="xr-replica",
                                                   SourceDBInstanceIdentifier=source["DBInstanceArn"])["DBInstance"]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == source["DBInstanceArn"]
    replica = wait_status(west, "xr-replica")
    assert east.describe_db_instances(DBInstanceIdentifier="xr-src")["DBInstances"][0]["ReadReplicaDBInstanceIdentifiers"] == \
        [replica["DBInstanceArn"]]
    with pg(source) as conn:
        conn.execute("INSERT INTO t VALUES (2)")
    with pg(replica) as conn:
        deadline = time.monotonic() + 15
        while conn.execute("SELECT count(*) FROM t").fetchone()[0] != 2:  # streaming across regions
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO t VALUES (3)")
    west.promote_read_replica(DBInstanceIdentifier="xr-replica")
    assert east.describe_db_instances(DBInstanceIdentifier="xr-src")["DBInstances"][0]["ReadReplicaDBInstanceIdentifiers"] == []
    with pg(replica) as conn:
        deadline = time.monotonic() + 15
        while conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        conn.execute("INSERT INTO t VALUES (3)")
    west.delete_db_instance(DBInstanceIdentifier="xr-replica", SkipFinalSnapshot=True)
    east.delete_db_instance(DBInstanceIdentifier="xr-src", SkipFinalSnapshot=True)
