"""STS sessions beyond AssumeRole's basics: session tags checked against the trust
policy (sts:TagSession) and usable as aws:PrincipalTag, SourceIdentity
(sts:SetSourceIdentity, kept through role chaining), GetFederationToken's federated
users, and what AWS refuses to some temporary credentials."""

from __future__ import annotations

import json
import subprocess
import uuid

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from nimbus_process import aws_cli

ACCOUNT = "000000000000"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client_with(server, service, creds):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"),
                        config=BotoConfig(retries={"max_attempts": 1}, parameter_validation=False))


def code(info) -> str:
    return info.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def bob(nimbus):
    """A user allowed to assume roles and get federation tokens."""
    iam = nimbus.client("iam")
    name = uid("bob")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="sts", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity", "sts:GetFederationToken"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:*", "iam:ListUsers"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"name": name, "arn": arn, "key": key}


def make_role(nimbus, principal_arn, actions, policy=None):
    iam = nimbus.client("iam")
    name = uid("role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": actions}]}))["Role"]
    if policy:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return role


TEAM_BUCKETS = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:CreateBucket", "Resource": "arn:aws:s3:::${aws:PrincipalTag/team}-*"},
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*",
     "Condition": {"StringEquals": {"aws:SourceIdentity": "bob@example.com"}}}]}


def test_session_tags_need_tag_session_in_the_trust_policy(nimbus, bob):
    sts = client_with(nimbus, "sts", bob["key"])
    plain = make_role(nimbus, bob["arn"], "sts:AssumeRole", TEAM_BUCKETS)
    sts.assume_role(RoleArn=plain["Arn"], RoleSessionName="untagged")  # no tags: AssumeRole suffices
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=plain["Arn"], RoleSessionName="tagged", Tags=[{"Key": "team", "Value": "blue"}])
    assert code(info) == "AccessDenied"
    assert f"User: {bob['arn']} is not authorized to perform: sts:TagSession on resource: {plain['Arn']}" in info.value.response["Error"]["Message"]
    # the CLI says the same
    env = nimbus.cli_env()
    env.update(AWS_ACCESS_KEY_ID=bob["key"]["AccessKeyId"], AWS_SECRET_ACCESS_KEY=bob["key"]["SecretAccessKey"])
    out = subprocess.run([aws_cli(), "--endpoint-url", nimbus.endpoint, "sts", "assume-role", "--role-arn", plain["Arn"],
                          "--role-session-name", "cli", "--tags", "Key=team,Value=blue"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "sts:TagSession" in out.stderr


def test_principal_tags_from_session_tags_and_source_identity(nimbus, bob):
    sts = client_with(nimbus, "sts", bob["key"])
    role = make_role(nimbus, bob["arn"], ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"], TEAM_BUCKETS)
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="blue", Tags=[{"Key": "team", "Value": "blue"}],
                          TransitiveTagKeys=["team"], SourceIdentity="bob@example.com")
    assert out["SourceIdentity"] == "bob@example.com" and 0 < out["PackedPolicySize"] <= 100
    s3 = client_with(nimbus, "s3", out["Credentials"])
    s3.create_bucket(Bucket=uid("blue"))
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=uid("red"))
    assert code(info) == "AccessDenied"
    s3.list_buckets()  # aws:SourceIdentity matches
    # role chaining keeps the transitive tag and the source identity
    chained = client_with(nimbus, "sts", out["Credentials"])
    second = make_role(nimbus, role["Arn"], ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"], TEAM_BUCKETS)
    again = chained.assume_role(RoleArn=second["Arn"], RoleSessionName="chained")
    assert again["SourceIdentity"] == "bob@example.com"
    client_with(nimbus, "s3", again["Credentials"]).create_bucket(Bucket=uid("blue"))
    with pytest.raises(ClientError) as info:  # a transitive tag cannot be overridden
        chained.assume_role(RoleArn=second["Arn"], RoleSessionName="x", Tags=[{"Key": "team", "Value": "red"}])
    assert code(info) == "ValidationError"
    with pytest.raises(ClientError) as info:  # nor the source identity changed
        chained.assume_role(RoleArn=second["Arn"], RoleSessionName="x", SourceIdentity="mallory")
    assert code(info) == "ValidationError"
    # SourceIdentity needs sts:SetSourceIdentity in the trust policy
    tag_only = make_role(nimbus, bob["arn"], ["sts:AssumeRole", "sts:TagSession"])
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=tag_only["Arn"], RoleSessionName="si", SourceIdentity="bob@example.com")
    assert code(info) == "AccessDenied" and "sts:SetSourceIdentity" in info.value.response["Error"]["Message"], info.value.response["Error"]
    # the source identity is in the CloudTrail record of the session's calls
    events = nimbus.client("cloudtrail").lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": out["Credentials"]["AccessKeyId"]}])["Events"]
    assert any(json.loads(e["CloudTrailEvent"])["userIdentity"].get("sessionContext", {}).get("sourceIdentity") == "bob@example.com" for e in events)


def test_bad_session_tags_and_source_identity(nimbus, bob):
    sts = client_with(nimbus, "sts", bob["key"])
    role = make_role(nimbus, bob["arn"], ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"])
    bad = [
        dict(Tags=[{"Key": "aws:team", "Value": "x"}]),
        dict(Tags=[{"Key": "Team", "Value": "x"}, {"Key": "team", "Value": "y"}]),
        dict(Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]),
        dict(Tags=[{"Key": "team", "Value": "v" * 257}]),
        dict(TransitiveTagKeys=["team"]),
        dict(SourceIdentity="aws:me"),
        dict(SourceIdentity="x"),
    ]
    for kwargs in bad:
        with pytest.raises(ClientError) as info:
            sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bad", **kwargs)
        assert code(info) == "ValidationError", kwargs
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="big", Tags=[{"Key": f"key{i:03d}" + "k" * 100, "Value": "v" * 250} for i in range(50)])
    assert code(info) == "PackedPolicyTooLarge"


def test_get_federation_token(nimbus, bob):
    sts = client_with(nimbus, "sts", bob["key"])
    bucket = uid("fed")
    nimbus.client("s3").create_bucket(Bucket=bucket)
    out = sts.get_federation_token(Name="carol", DurationSeconds=900, Tags=[{"Key": "dept", "Value": "eng"}], Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:PutObject", "iam:ListUsers"], "Resource": "*"}]}))
    assert out["FederatedUser"] == {"FederatedUserId": f"{ACCOUNT}:carol", "Arn": f"arn:aws:sts::{ACCOUNT}:federated-user/carol"}
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert client_with(nimbus, "sts", creds).get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/carol"
    s3 = client_with(nimbus, "s3", creds)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # allowed by bob's policy and the session policy
    s3.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as info:  # bob may, the session policy does not allow it
        s3.delete_object(Bucket=bucket, Key="k")
    assert code(info) == "AccessDenied" and "because no session policy allows" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:  # federated users never call IAM
        client_with(nimbus, "iam", creds).list_users()
    assert code(info) == "AccessDenied"
    with pytest.raises(ClientError) as info:  # nor STS beyond GetCallerIdentity
        client_with(nimbus, "sts", creds).get_federation_token(Name="dave")
    assert code(info) == "AccessDenied"
    # no policy passed: the federated user has no permissions at all
    none = sts.get_federation_token(Name="empty")["Credentials"]
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "s3", none).list_objects_v2(Bucket=bucket)
    assert code(info) == "AccessDenied"
    # managed policy ARNs as session policies
    managed = sts.get_federation_token(Name="reader", PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}])["Credentials"]
    client_with(nimbus, "s3", managed).get_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "s3", managed).put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert code(info) == "AccessDenied"
    # duration rules: 900 s to 36 h for users, 1 h for the root user
    with pytest.raises(ClientError) as info:
        sts.get_federation_token(Name="long", DurationSeconds=129601)
    assert code(info) == "ValidationError"
    with pytest.raises(ClientError) as info:
        sts.get_federation_token(Name="short", DurationSeconds=899)
    assert code(info) == "ValidationError"
    assert sts.get_federation_token(Name="longest", DurationSeconds=129600)["Credentials"]
    root = nimbus.client("sts")
    with pytest.raises(ClientError) as info:
        root.get_federation_token(Name="rootfed", DurationSeconds=7200)
    assert code(info) == "ValidationError"
    root.get_federation_token(Name="rootfed", DurationSeconds=3600)
    with pytest.raises(ClientError) as info:  # names: 2-32 characters of [\w+=,.@-]
        sts.get_federation_token(Name="x" * 33)
    assert code(info) == "ValidationError"
    with pytest.raises(ClientError) as info:
        sts.get_federation_token(Name="bad", Policy="{not json")
    assert code(info) == "MalformedPolicyDocument"
    # a user without sts:GetFederationToken is refused
    iam = nimbus.client("iam")
    plain = uid("plain")
    iam.create_user(UserName=plain)
    key = iam.create_access_key(UserName=plain)["AccessKey"]
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "sts", key).get_federation_token(Name="nope")
    assert code(info) == "AccessDenied"


def test_session_token_credentials_are_limited(nimbus, bob):
    session = client_with(nimbus, "sts", bob["key"]).get_session_token(DurationSeconds=900)["Credentials"]
    with pytest.raises(ClientError) as info:  # IAM needs MFA in a GetSessionToken session
        client_with(nimbus, "iam", session).list_users()
    assert code(info) == "AccessDenied"
    client_with(nimbus, "iam", bob["key"]).list_users()  # the long-term key may
    role = make_role(nimbus, bob["arn"], "sts:AssumeRole")
    client_with(nimbus, "sts", session).assume_role(RoleArn=role["Arn"], RoleSessionName="from-session")


def test_decode_authorization_message_needs_permission(nimbus, bob):
    ec2 = client_with(nimbus, "ec2", bob["key"])
    with pytest.raises(ClientError) as info:
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
    message = info.value.response["Error"]["Message"].split("Encoded authorization failure message: ", 1)[1]
    decoded = json.loads(nimbus.client("sts").decode_authorization_message(EncodedMessage=message)["DecodedMessage"])
    assert decoded["context"]["action"] == "ec2:CreateVpc" and decoded["context"]["principal"]["arn"] == bob["arn"]
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "sts", bob["key"]).decode_authorization_message(EncodedMessage=message)
    assert code(info) == "AccessDenied"
