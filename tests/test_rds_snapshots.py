"""RDS snapshots: CopyDBSnapshot with KMS encryption (the notes' recipe for encrypting an
unencrypted database), encryption rules, and snapshot sharing across accounts.

Every data check goes through a real client (psycopg) on the endpoint RDS hands out; the
copy is made with the AWS CLI (``--endpoint-url``).  Engines start in real time, so
waiting for ``available`` polls briefly; nothing sleeps through an AWS interval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from test_rds import PASSWORD, code, create, pg, wait_snapshot, wait_status

REGION = "us-east-2"  # apart from test_rds.py's instances
SECRET = "apple-secret-4711"


@pytest.fixture(scope="module")
def rds(nimbus):
    return nimbus.client("rds", region=REGION)


@pytest.fixture(scope="module")
def kms(nimbus):
    return nimbus.client("kms", region=REGION)


@pytest.fixture(scope="module")
def plain_db(rds):
    """An unencrypted PostgreSQL instance with rows."""
    create(rds, "plain-src", DBName="app", BackupRetentionPeriod=1)
    db = wait_status(rds, "plain-src")
    assert db["StorageEncrypted"] is False and "KmsKeyId" not in db
    with pg(db) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute(f"INSERT INTO items VALUES (1, '{SECRET}'), (2, 'pear')")
    rds.create_db_snapshot(DBInstanceIdentifier="plain-src", DBSnapshotIdentifier="plain-snap")
    snap = wait_snapshot(rds, "plain-snap")
    assert snap["Encrypted"] is False
    return db


def _snapshot_dirs(nimbus) -> list[Path]:
    root = Path(nimbus.data_dir) / "engines" / "snapshots"
    return [d for d in root.iterdir() if d.is_dir()] if root.exists() else []


def _holds(directory: Path, needle: bytes) -> bool:
    return any(needle in f.read_bytes() for f in directory.rglob("*") if f.is_file())


def _rows(db: dict) -> list[str]:
    with pg(db) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM items ORDER BY id")]


def test_copy_with_kms_key_encrypts_an_unencrypted_database(rds, kms, plain_db, nimbus):
    key = kms.create_key(Description="rds at rest")["KeyMetadata"]
    # Bad input first: nothing is created.
    with pytest.raises(ClientError) as exc:
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="plain-snap", TargetDBSnapshotIdentifier="enc-copy",
                             KmsKeyId="alias/no-such-key")
    assert code(exc) == "KMSKeyNotAccessibleFault"
    with pytest.raises(ClientError) as exc:
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="no-such-snap", TargetDBSnapshotIdentifier="enc-copy")
    assert code(exc) == "DBSnapshotNotFound"
    with pytest.raises(ClientError) as exc:
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="plain-snap", TargetDBSnapshotIdentifier="plain-snap")
    assert code(exc) == "DBSnapshotAlreadyExists"
    with pytest.raises(ClientError) as exc:
        rds.describe_db_snapshots(DBSnapshotIdentifier="enc-copy")
    assert code(exc) == "DBSnapshotNotFound"
    # The recipe, with the AWS CLI: copy the snapshot with a KMS key …
    out = json.loads(nimbus.aws("rds", "copy-db-snapshot", "--source-db-snapshot-identifier", "plain-snap",
                                "--target-db-snapshot-identifier", "enc-copy", "--kms-key-id", key["KeyId"],
                                region=REGION).stdout)["DBSnapshot"]
    assert out["Encrypted"] is True and out["KmsKeyId"] == key["Arn"]
    assert out["SourceDBSnapshotIdentifier"].endswith(":snapshot:plain-snap")
    copy = wait_snapshot(rds, "enc-copy")
    assert copy["Encrypted"] is True and copy["SnapshotType"] == "manual"
    # … whose data is ciphertext on disk (the plaintext snapshot holds the row, the copy does not).
    dirs = _snapshot_dirs(nimbus)
    encrypted = [d for d in dirs if (d / ".nimbus-encrypted").exists()]
    assert encrypted and any(_holds(d, SECRET.encode()) for d in dirs if d not in encrypted)
    assert not any(_holds(d, SECRET.encode()) for d in encrypted)
    # Restoring needs the key enabled.
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="enc-db", DBSnapshotIdentifier="enc-copy")
    assert code(exc) == "KMSKeyNotAccessibleFault"
    with pytest.raises(ClientError) as exc:
        rds.describe_db_instances(DBInstanceIdentifier="enc-db")
    assert code(exc) == "DBInstanceNotFound"
    kms.enable_key(KeyId=key["KeyId"])
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="enc-db", DBSnapshotIdentifier="enc-copy")
    enc = wait_status(rds, "enc-db")
    assert enc["StorageEncrypted"] is True and enc["KmsKeyId"] == key["Arn"]
    assert _rows(enc) == [SECRET, "pear"]
    # Snapshots of an encrypted instance inherit its encryption and key.
    rds.create_db_snapshot(DBInstanceIdentifier="enc-db", DBSnapshotIdentifier="enc-db-snap")
    inherited = wait_snapshot(rds, "enc-db-snap")
    assert inherited["Encrypted"] is True and inherited["KmsKeyId"] == key["Arn"]
    # A copy of an encrypted snapshot stays encrypted (same key unless another is given).
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier="enc-db-snap", TargetDBSnapshotIdentifier="enc-db-snap-2")
    assert wait_snapshot(rds, "enc-db-snap-2")["KmsKeyId"] == key["Arn"]
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="enc-db-2", DBSnapshotIdentifier="enc-db-snap-2")
    assert _rows(wait_status(rds, "enc-db-2")) == [SECRET, "pear"]
    # Encryption is chosen at creation only; replicas of an unencrypted primary can't be encrypted.
    with pytest.raises(ClientError) as exc:
        rds.create_db_instance_read_replica(DBInstanceIdentifier="enc-replica", SourceDBInstanceIdentifier="plain-src",
                                            KmsKeyId=key["Arn"])
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        create(rds, "enc-bad-key", StorageEncrypted=True, KmsKeyId="alias/missing")
    assert code(exc) == "KMSKeyNotAccessibleFault"
    created = create(rds, "enc-default", StorageEncrypted=True)  # the AWS managed aws/rds key
    managed = kms.describe_key(KeyId="alias/aws/rds")["KeyMetadata"]
    assert created["StorageEncrypted"] is True and created["KmsKeyId"] == managed["Arn"]
    for ident in ("enc-db", "enc-db-2", "enc-default"):
        rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)


def _other_account(nimbus) -> dict:
    from nimbus_process import ROOT

    out = subprocess.run([sys.executable, "-m", "nimbus", "accounts", "create", "--name", "rds-peer", "--data-dir",
                          str(nimbus.data_dir)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_snapshot_sharing_across_accounts(rds, kms, plain_db, nimbus):
    peer = _other_account(nimbus)
    other = nimbus.client("rds", region=REGION, key=peer["AccessKeyId"], secret=peer["SecretAccessKey"])
    other_kms = nimbus.client("kms", region=REGION, key=peer["AccessKeyId"], secret=peer["SecretAccessKey"])
    arn = rds.describe_db_snapshots(DBSnapshotIdentifier="plain-snap")["DBSnapshots"][0]["DBSnapshotArn"]
    # Not shared yet: the other account cannot see it.
    with pytest.raises(ClientError) as exc:
        other.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="peer-db", DBSnapshotIdentifier=arn)
    assert code(exc) == "DBSnapshotNotFound"
    assert other.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"] == []
    for bad in (["12345"], ["all", "abc"]):
        with pytest.raises(ClientError) as exc:
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="plain-snap", AttributeName="restore", ValuesToAdd=bad)
        assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="plain-snap", AttributeName="copy", ValuesToAdd=[peer["AccountId"]])
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:  # only the owner shares
        other.modify_db_snapshot_attribute(DBSnapshotIdentifier=arn, AttributeName="restore", ValuesToAdd=[peer["AccountId"]])
    assert code(exc) == "DBSnapshotNotFound"
    assert rds.describe_db_snapshot_attributes(DBSnapshotIdentifier="plain-snap")["DBSnapshotAttributesResult"][
        "DBSnapshotAttributes"] == [{"AttributeName": "restore", "AttributeValues": []}]
    # Shared: listed as shared, restorable by ARN with the rows.
    out = rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="plain-snap", AttributeName="restore",
                                           ValuesToAdd=[peer["AccountId"]])["DBSnapshotAttributesResult"]
    assert out["DBSnapshotAttributes"][0]["AttributeValues"] == [peer["AccountId"]]
    listed = other.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"]
    assert [s["DBSnapshotArn"] for s in listed] == [arn] and listed[0]["SnapshotType"] == "shared"
    assert arn not in [s["DBSnapshotArn"] for s in other.describe_db_snapshots()["DBSnapshots"]]
    other.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="peer-db", DBSnapshotIdentifier=arn)
    assert _rows(wait_status(other, "peer-db")) == [SECRET, "pear"]
    # An encrypted snapshot shared needs its key shared too.
    key = kms.create_key(Description="shared rds key")["KeyMetadata"]
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier="plain-snap", TargetDBSnapshotIdentifier="enc-shared", KmsKeyId=key["Arn"])
    enc_arn = wait_snapshot(rds, "enc-shared")["DBSnapshotArn"]
    with pytest.raises(ClientError) as exc:
        rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="enc-shared", AttributeName="restore", ValuesToAdd=["all"])
    assert code(exc) == "InvalidParameterValue"
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="enc-shared", AttributeName="restore", ValuesToAdd=[peer["AccountId"]])
    with pytest.raises(ClientError) as exc:
        other.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="peer-enc", DBSnapshotIdentifier=enc_arn)
    assert code(exc) == "KMSKeyNotAccessibleFault"
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append({"Sid": "peer", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{peer['AccountId']}:root"},
                                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"], "Resource": "*"})
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    other.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="peer-enc", DBSnapshotIdentifier=enc_arn)
    peer_enc = wait_status(other, "peer-enc")
    assert peer_enc["StorageEncrypted"] is True and peer_enc["KmsKeyId"] == key["Arn"]
    assert _rows(peer_enc) == [SECRET, "pear"]
    # The other account copies the shared encrypted snapshot under a key of its own.
    with pytest.raises(ClientError) as exc:
        other.copy_db_snapshot(SourceDBSnapshotIdentifier=enc_arn, TargetDBSnapshotIdentifier="mine")
    assert code(exc) == "InvalidParameterValue"
    own_key = other_kms.create_key(Description="peer key")["KeyMetadata"]
    other.copy_db_snapshot(SourceDBSnapshotIdentifier=enc_arn, TargetDBSnapshotIdentifier="mine", KmsKeyId=own_key["Arn"])
    mine = wait_snapshot(other, "mine")
    assert mine["Encrypted"] is True and mine["KmsKeyId"] == own_key["Arn"] and mine["SourceDBSnapshotIdentifier"] == enc_arn
    # Unshared again: gone from the other account's view.
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="plain-snap", AttributeName="restore",
                                     ValuesToRemove=[peer["AccountId"]])
    with pytest.raises(ClientError) as exc:
        other.describe_db_snapshots(DBSnapshotIdentifier=arn)
    assert code(exc) == "DBSnapshotNotFound"
    for ident in ("peer-db", "peer-enc"):
        other.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
