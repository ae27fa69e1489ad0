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


def _mariadbd_pid(datadir: str) -> int:
    import psutil

    for proc in psutil.process_iter(["name", "cmdline", "pid"]):
        if f"--datadir={datadir.rstrip('/')}" in (proc.info["cmdline"] or []):
            return proc.info["pid"]
    raise AssertionError(f"no mariadbd serves {datadir}")


def _datadir(db: dict) -> str:
    conn = _connect(db)
    with conn.cursor() as cur:
        cur.execute("SELECT @@datadir")
        return cur.fetchone()[0]


def _connect(db: dict, timeout: float = 10.0):
    """Connect, riding out the brief refusals a client sees while an endpoint fails over
    (AWS's own Multi-AZ failovers drop connections for a while too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return my(db)
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_mariadb_multi_az_standby_fails_over_on_the_same_endpoint(rds):
    db = create(rds, "my-maz", engine="mysql", DBName="shop", MultiAZ=True)
    assert db["MultiAZ"] is True
    db = wait_status(rds, "my-maz")
    assert db["SecondaryAvailabilityZone"] != db["AvailabilityZone"]
    conn = my(db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO orders VALUES (1)")
    conn.close()
    first = _datadir(db)
    with pytest.raises(ClientError) as exc:  # bad input: Multi-AZ with a chosen zone
        create(rds, "my-maz-bad", engine="mariadb", MultiAZ=True, AvailabilityZone=db["AvailabilityZone"])
    assert code(exc) == "InvalidParameterValue"
    deadline = time.monotonic() + 30
    while rds.describe_db_instances(DBInstanceIdentifier="my-maz")["DBInstances"][0]["DBInstanceStatus"] != "available" \
            or not _standby_dirs(first):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rds.reboot_db_instance(DBInstanceIdentifier="my-maz", ForceFailover=True)
    after = wait_status(rds, "my-maz")
    assert after["Endpoint"] == db["Endpoint"] and after["AvailabilityZone"] == db["SecondaryAvailabilityZone"]
    second = _datadir(after)
    assert second != first  # the former standby, now writable on the same endpoint
    conn = _connect(after)
    assert _count(conn) == 1
    with conn.cursor() as cur:
        cur.execute("SELECT @@read_only")
        assert cur.fetchone()[0] == 0
        cur.execute("INSERT INTO orders VALUES (2)")
    conn.close()
    events = [e["Message"] for e in rds.describe_events(SourceIdentifier="my-maz", SourceType="db-instance")["Events"]]
    assert any("failover completed" in m for m in events)
    # Kill the primary: the standby rebuilt after the first failover takes over.
    deadline = time.monotonic() + 30
    while not _standby_dirs(second):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    standby = _standby_dirs(second)[0]
    conn = my(after)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (3)")
    conn.close()
    deadline = time.monotonic() + 30
    while _standby_rows(standby) != 3:  # a later write reaches it by binlog replication
        assert time.monotonic() < deadline
        time.sleep(0.05)
    import psutil

    psutil.Process(_mariadbd_pid(second)).kill()
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = my(after)
            if _count(conn) == 3:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO orders VALUES (4)")
                    cur.execute("SELECT @@datadir")
                    assert cur.fetchone()[0] not in (first, second)
                break
        except pymysql.err.Error:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rds.modify_db_instance(DBInstanceIdentifier="my-maz", MultiAZ=False, ApplyImmediately=True)
    assert "SecondaryAvailabilityZone" not in rds.describe_db_instances(DBInstanceIdentifier="my-maz")["DBInstances"][0]
    rds.delete_db_instance(DBInstanceIdentifier="my-maz", SkipFinalSnapshot=True)


def _standby_dirs(primary_datadir: str) -> list[str]:
    """Data dirs of running mariadbd standbys (socket only) beside the primary's node dir."""
    import psutil

    root = str(__import__("pathlib").Path(primary_datadir.rstrip("/")).parent.parent)
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "--skip-networking" in cmd:
            found = [a.split("=", 1)[1] for a in cmd if a.startswith("--datadir=")]
            if found and found[0].startswith(root) and not found[0].startswith(primary_datadir.rstrip("/")):
                out.append(found[0])
    return out


def _standby_rows(datadir: str) -> int | None:
    """Rows of shop.orders on a standby, through its private socket (it has no TCP listener)."""
    import subprocess

    for proc in __import__("psutil").process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if f"--datadir={datadir}" in cmd:
            sock = [a.split("=", 1)[1] for a in cmd if a.startswith("--socket=")][0]
            out = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-N", "-B", "-e",
                                  "SELECT COUNT(*) FROM shop.orders"], capture_output=True, text=True)
            return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None
    return None
