"""The evaluation logic, against a real store (no server): explicit deny, boundaries,
session policies, resource policies within and across accounts, root and anonymous."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nimbus.accounts import ANONYMOUS, Principal
from nimbus.clock import Clock
from nimbus.iam import records as R
from nimbus.iam.actions import operation_map, resources_for
from nimbus.iam.engine import Engine
from nimbus.state import Store

ACCOUNT = "111111111111"
OTHER = "222222222222"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def put_user(store, name, *, inline=(), attached=(), boundary=None, groups=(), account=ACCOUNT):
    with store.transaction() as txn:
        txn.put(R.USER, name, {"name": name, "id": "AIDA" + name.upper(), "arn": f"arn:aws:iam::{account}:user/{name}", "path": "/",
                               "created": 0, "tags": [{"Key": "team", "Value": "red"}], "groups": list(groups),
                               "inline": {f"p{i}": t for i, t in enumerate(inline)}, "attached": list(attached),
                               "boundary": boundary, "keys": [], "mfa": []}, account)


def user(name, account=ACCOUNT, session=None):
    return Principal(account_id=account, arn=f"arn:aws:iam::{account}:user/{name}", user_id="AIDA" + name.upper(),
                     kind="user", name=name, access_key="AKIA" + name, session=session)


def ctx_for(principal, service="s3", operation="GetObject", region="us-east-1"):
    return SimpleNamespace(principal=principal, service=service, operation=operation, region=region, account_id=principal.account_id,
                           source_ip="10.0.0.1", secure=True, user_agent="test", headers={}, clock=Clock(), store=None)


def decide(engine, principal, service, operation, params):
    ctx = ctx_for(principal, service, operation)
    action, resources, decision = engine.authorize_request(ctx, params)
    return decision


def put_bucket(store, name, owner, policy=None):
    with store.transaction() as txn:
        txn.put("s3:bucket", name, {"name": name, "owner": owner, "region": "us-east-1", **({"policy": policy} if policy else {})})


def test_identity_allow_and_explicit_deny(store):
    engine = Engine(store)
    put_user(store, "alice", inline=[doc(allow("s3:*")), doc(deny("s3:DeleteObject", "arn:aws:s3:::b/keep/*"))])
    put_bucket(store, "b", ACCOUNT)
    alice = user("alice")
    assert decide(engine, alice, "s3", "GetObject", {"Bucket": "b", "Key": "x"}).allowed
    d = decide(engine, alice, "s3", "DeleteObject", {"Bucket": "b", "Key": "keep/x"})
    assert not d.allowed and d.reason == "explicit-deny-identity"
    assert decide(engine, alice, "s3", "DeleteObject", {"Bucket": "b", "Key": "other"}).allowed
    d = decide(engine, alice, "ec2", "DescribeInstances", {})
    assert not d.allowed and d.reason == "no-identity"


def test_cache_is_invalidated_by_changes(store):
    engine = Engine(store)
    put_user(store, "bob")
    bob = user("bob")
    assert not decide(engine, bob, "sts", "GetFederationToken", {"Name": "x"}).allowed
    put_user(store, "bob", attached=["arn:aws:iam::aws:policy/AdministratorAccess"])
    assert decide(engine, bob, "sts", "GetFederationToken", {"Name": "x"}).allowed


def test_groups_and_managed_policies(store):
    engine = Engine(store)
    with store.transaction() as txn:
        txn.put(R.GROUP, "devs", {"name": "devs", "inline": {}, "attached": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}, ACCOUNT)
    put_user(store, "carol", groups=["devs"])
    put_bucket(store, "b", ACCOUNT)
    carol = user("carol")
    assert decide(engine, carol, "s3", "ListBuckets", {}).allowed
    assert decide(engine, carol, "s3", "GetObject", {"Bucket": "b", "Key": "k"}).allowed
    assert not decide(engine, carol, "s3", "CreateBucket", {"Bucket": "c"}).allowed


def test_permissions_boundary_limits(store):
    engine = Engine(store)
    with store.transaction() as txn:
        txn.put(R.POLICY, "only-s3-read", {"name": "only-s3-read", "arn": f"arn:aws:iam::{ACCOUNT}:policy/only-s3-read", "default": "v1",
                                             "versions": {"v1": {"document": doc(allow("s3:Get*"))}}}, ACCOUNT)
    put_user(store, "dave", attached=["arn:aws:iam::aws:policy/AdministratorAccess"], boundary=f"arn:aws:iam::{ACCOUNT}:policy/only-s3-read")
    put_bucket(store, "b", ACCOUNT)
    dave = user("dave")
    assert decide(engine, dave, "s3", "GetObject", {"Bucket": "b", "Key": "k"}).allowed
    d = decide(engine, dave, "s3", "PutObject", {"Bucket": "b", "Key": "k"})
    assert not d.allowed and d.reason == "no-boundary"


def test_bucket_policy_same_account_grants_without_identity_policy(store):
    engine = Engine(store)
    put_user(store, "erin")
    put_bucket(store, "b", ACCOUNT, doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/erin"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}))
    erin = user("erin")
    assert decide(engine, erin, "s3", "PutObject", {"Bucket": "b", "Key": "k"}).allowed
    assert not decide(engine, erin, "s3", "GetObject", {"Bucket": "b", "Key": "k"}).allowed


def test_bucket_policy_naming_the_account_delegates_to_identity_policies(store):
    engine = Engine(store)
    put_user(store, "frank")
    put_bucket(store, "b", ACCOUNT, doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}))
    assert not decide(engine, user("frank"), "s3", "GetObject", {"Bucket": "b", "Key": "k"}).allowed


def test_cross_account_needs_both_sides(store):
    engine = Engine(store)
    put_user(store, "gina", inline=[doc(allow("s3:GetObject"))], account=OTHER)
    put_bucket(store, "theirs", ACCOUNT)
    gina = user("gina", OTHER)
    d = decide(engine, gina, "s3", "GetObject", {"Bucket": "theirs", "Key": "k"})
    assert not d.allowed and d.reason == "no-resource"
    put_bucket(store, "theirs", ACCOUNT, doc({"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::theirs/*"}))
    assert decide(engine, gina, "s3", "GetObject", {"Bucket": "theirs", "Key": "k"}).allowed
    put_user(store, "gina", account=OTHER)  # identity side withdrawn
    assert not decide(engine, gina, "s3", "GetObject", {"Bucket": "theirs", "Key": "k"}).allowed


def test_root_and_resource_policy_denies(store):
    engine = Engine(store)
    root = Principal(account_id=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:root", user_id=ACCOUNT, kind="root")
    put_bucket(store, "b", ACCOUNT, doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}))
    assert not decide(engine, root, "s3", "GetObject", {"Bucket": "b", "Key": "k"}).allowed
    assert decide(engine, root, "s3", "DeleteBucketPolicy", {"Bucket": "b"}).allowed  # the owner can always unlock
    assert decide(engine, root, "ec2", "RunInstances", {"ImageId": "ami-1"}).allowed
    other_root = Principal(account_id=OTHER, arn=f"arn:aws:iam::{OTHER}:root", user_id=OTHER, kind="root")
    put_bucket(store, "c", ACCOUNT)
    assert not decide(engine, other_root, "s3", "GetObject", {"Bucket": "c", "Key": "k"}).allowed


def test_anonymous_only_public_grants(store):
    engine = Engine(store)
    put_bucket(store, "private", ACCOUNT)
    put_bucket(store, "public", ACCOUNT, doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public/*"}))
    assert not decide(engine, ANONYMOUS, "s3", "GetObject", {"Bucket": "private", "Key": "k"}).allowed
    assert decide(engine, ANONYMOUS, "s3", "GetObject", {"Bucket": "public", "Key": "k"}).allowed
    assert not decide(engine, ANONYMOUS, "s3", "PutObject", {"Bucket": "public", "Key": "k"}).allowed


def test_session_policies_and_mfa(store):
    engine = Engine(store)
    put_user(store, "hal", inline=[doc(allow("s3:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))])
    put_bucket(store, "b", ACCOUNT)
    params = {"Bucket": "b", "Key": "k"}
    assert not decide(engine, user("hal"), "s3", "GetObject", params).allowed  # long-term keys: key absent
    assert not decide(engine, user("hal", session={"mfa_time": None, "issued": 1}), "s3", "GetObject", params).allowed
    assert decide(engine, user("hal", session={"mfa_time": 1.0, "issued": 1}), "s3", "GetObject", params).allowed


def test_kms_key_policy_is_required(store):
    engine = Engine(store)
    put_user(store, "ivy", attached=["arn:aws:iam::aws:policy/AdministratorAccess"])
    key_doc = {"KeyId": "k1", "Policy": doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"})}
    with store.transaction() as txn:
        txn.put("kms:key", "k1", key_doc, f"{ACCOUNT}/us-east-1")
        txn.put("kms:key", "k2", {"KeyId": "k2", "Policy": doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nobody"}, "Action": "kms:*", "Resource": "*"})}, f"{ACCOUNT}/us-east-1")
    ivy = user("ivy")
    assert decide(engine, ivy, "kms", "Encrypt", {"KeyId": "k1"}).allowed
    d = decide(engine, ivy, "kms", "Encrypt", {"KeyId": "k2"})
    assert not d.allowed and d.reason == "no-resource"


def test_action_tables():
    assert operation_map("s3", "ListObjectsV2").action == "s3:ListBucket"
    assert operation_map("s3", "HeadObject").action == "s3:GetObject"
    assert operation_map("s3", "UploadPart").action == "s3:PutObject"
    assert operation_map("s3", "CompleteMultipartUpload").action == "s3:PutObject"
    assert operation_map("cloudwatch", "PutMetricData").action == "cloudwatch:PutMetricData"
    assert operation_map("efs", "CreateFileSystem").action == "elasticfilesystem:CreateFileSystem"
    ctx = ctx_for(user("x"), "ec2", "RunInstances")
    arns = resources_for(operation_map("ec2", "RunInstances"), {"ImageId": "ami-1", "SubnetId": "subnet-1", "SecurityGroupIds": ["sg-1", "sg-2"]}, ctx)
    assert "arn:aws:ec2:us-east-1::image/ami-1" in arns
    assert "arn:aws:ec2:us-east-1:111111111111:security-group/sg-2" in arns
    assert "arn:aws:ec2:us-east-1:111111111111:instance/*" in arns
    from nimbus.services import KNOWN_SERVICES
    from nimbus.iam.actions import load_table

    for service in KNOWN_SERVICES:
        assert load_table(service)["operations"], service
