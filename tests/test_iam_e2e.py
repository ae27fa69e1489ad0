"""IAM, STS and the policy engine, driven as a new user would: the AWS CLI and boto3
against a real server (the issue's "Done when"), plus the bad inputs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
import uuid

import boto3
import pyotp
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from nimbus_process import NimbusServer, aws_cli

ACCOUNT = "000000000000"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client_with(server, service, creds, **kw):
    return boto3.client(
        service, endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"), config=BotoConfig(retries={"max_attempts": 1}, parameter_validation=False), **kw,
    )


def cli_as(server, creds, *args, check=False):
    env = server.cli_env()
    env.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"])
    if creds.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = creds["SessionToken"]
    return subprocess.run([aws_cli(), "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True, timeout=120, check=check)


def error_code(info) -> str:
    return info.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def alice(nimbus):
    """The issue's set-up, done with the AWS CLI as root: group developers with
    ReadOnlyAccess, user alice in it, access keys, a virtual MFA device enabled with real codes."""
    group, name = uid("developers"), uid("alice")
    nimbus.aws("iam", "create-group", "--group-name", group)
    nimbus.aws("iam", "attach-group-policy", "--group-name", group, "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
    nimbus.aws("iam", "create-user", "--user-name", name)
    nimbus.aws("iam", "add-user-to-group", "--group-name", group, "--user-name", name)
    key = json.loads(nimbus.aws("iam", "create-access-key", "--user-name", name).stdout)["AccessKey"]
    outdir = nimbus.data_dir.parent / uid("mfa")
    outdir.mkdir()
    device = json.loads(nimbus.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
                                   "--outfile", str(outdir / "seed.txt"), "--bootstrap-method", "Base32StringSeed").stdout)
    serial = device["VirtualMFADevice"]["SerialNumber"]
    seed = (outdir / "seed.txt").read_text().strip()
    totp = pyotp.TOTP(seed)
    now = time.time()
    nimbus.aws("iam", "enable-mfa-device", "--user-name", name, "--serial-number", serial,
               "--authentication-code1", totp.at(now - 60), "--authentication-code2", totp.at(now - 30))
    return {"name": name, "group": group, "key": key, "serial": serial, "totp": totp,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}"}


def test_alice_lists_with_readonly_and_is_refused_mb_with_aws_message(nimbus, alice):
    nimbus.client("s3").create_bucket(Bucket=uid("visible"))
    listed = cli_as(nimbus, alice["key"], "s3", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "visible-" in listed.stdout
    bucket = uid("forbidden")
    made = cli_as(nimbus, alice["key"], "s3", "mb", f"s3://{bucket}")
    assert made.returncode != 0
    assert (f"User: {alice['arn']} is not authorized to perform: s3:CreateBucket on resource: arn:aws:s3:::{bucket} "
            "because no identity-based policy allows the s3:CreateBucket action") in made.stderr
    assert "AccessDenied" in made.stderr
    assert bucket not in [b["Name"] for b in nimbus.client("s3").list_buckets()["Buckets"]]  # nothing changed
    who = json.loads(cli_as(nimbus, alice["key"], "sts", "get-caller-identity", check=True).stdout)
    assert who["Arn"] == alice["arn"]


def test_bucket_policy_grants_put_object(nimbus, alice):
    s3_root = nimbus.client("s3")
    bucket = uid("drop")
    s3_root.create_bucket(Bucket=bucket)
    s3 = client_with(nimbus, "s3", alice["key"])
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="a.txt", Body=b"no")
    assert error_code(info) == "AccessDenied"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": alice["arn"]},
                                                      "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    s3_root.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"yes")
    assert s3_root.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"yes"
    upload = nimbus.data_dir.parent / uid("upload")
    upload.write_bytes(b"from the cli")
    copied = cli_as(nimbus, alice["key"], "s3", "cp", str(upload), f"s3://{bucket}/cli.txt")
    assert copied.returncode == 0, copied.stderr
    with pytest.raises(ClientError) as info:  # the policy grants PutObject only
        s3.delete_object(Bucket=bucket, Key="a.txt")
    assert error_code(info) == "AccessDenied"


def test_mfa_condition_requires_an_mfa_session(nimbus, alice):
    iam = nimbus.client("iam")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:CreateBucket", "Resource": "*",
                                                      "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}
    iam.put_user_policy(UserName=alice["name"], PolicyName="create-with-mfa", PolicyDocument=json.dumps(policy))
    try:
        with pytest.raises(ClientError) as info:
            client_with(nimbus, "s3", alice["key"]).create_bucket(Bucket=uid("nomfa"))
        assert error_code(info) == "AccessDenied"
        sts = client_with(nimbus, "sts", alice["key"])
        plain = sts.get_session_token(DurationSeconds=900)["Credentials"]
        with pytest.raises(ClientError):
            client_with(nimbus, "s3", plain).create_bucket(Bucket=uid("nomfa"))
        with pytest.raises(ClientError) as info:  # a wrong code
            sts.get_session_token(SerialNumber=alice["serial"], TokenCode="000000" if alice["totp"].now() != "000000" else "111111")
        assert error_code(info) == "AccessDenied"
        creds = sts.get_session_token(SerialNumber=alice["serial"], TokenCode=alice["totp"].now())["Credentials"]
        assert creds["AccessKeyId"].startswith("ASIA")
        bucket = uid("withmfa")
        client_with(nimbus, "s3", creds).create_bucket(Bucket=bucket)
        made = cli_as(nimbus, creds, "s3", "mb", f"s3://{uid('climfa')}")
        assert made.returncode == 0, made.stderr
        with pytest.raises(ClientError) as info:  # session credentials cannot mint more
            client_with(nimbus, "sts", creds).get_session_token()
        assert error_code(info) == "AccessDenied"
    finally:
        iam.delete_user_policy(UserName=alice["name"], PolicyName="create-with-mfa")


def test_assume_role_trust_accepted_and_refused(nimbus, alice):
    iam = nimbus.client("iam")
    trusted, untrusted = uid("deployer"), uid("other")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": alice["arn"]}, "Action": "sts:AssumeRole",
                                                     "Condition": {"StringEquals": {"sts:ExternalId": "xyz"}}}]}
    role = iam.create_role(RoleName=trusted, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.attach_role_policy(RoleName=trusted, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    nobody = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone-else"}, "Action": "sts:AssumeRole"}]}
    other = iam.create_role(RoleName=untrusted, AssumeRolePolicyDocument=json.dumps(nobody))["Role"]
    sts = client_with(nimbus, "sts", alice["key"])
    with pytest.raises(ClientError) as info:  # ExternalId is part of the trust
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert error_code(info) == "AccessDenied"
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", ExternalId="xyz", DurationSeconds=900)
    creds = out["Credentials"]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{trusted}/s1"
    who = client_with(nimbus, "sts", creds).get_caller_identity()
    assert who["Arn"] == out["AssumedRoleUser"]["Arn"] and who["UserId"].startswith(role["RoleId"] + ":")
    client_with(nimbus, "s3", creds).create_bucket(Bucket=uid("as-role"))  # the role's permissions
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "iam", creds).list_users()
    assert error_code(info) == "AccessDenied"
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=other["Arn"], RoleSessionName="s2")
    assert error_code(info) == "AccessDenied"
    assert f"is not authorized to perform: sts:AssumeRole on resource: {other['Arn']}" in info.value.response["Error"]["Message"]
    refused = cli_as(nimbus, alice["key"], "sts", "assume-role", "--role-arn", other["Arn"], "--role-session-name", "cli")
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    with pytest.raises(ClientError) as info:
        nimbus.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="root")
    assert "root" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s3", ExternalId="xyz", DurationSeconds=7200)
    assert error_code(info) == "ValidationError"
    # a session policy narrows the session
    narrowed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s4", ExternalId="xyz",
                               Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}))
    narrow_s3 = client_with(nimbus, "s3", narrowed["Credentials"])
    narrow_s3.list_buckets()
    with pytest.raises(ClientError) as info:
        narrow_s3.create_bucket(Bucket=uid("narrow"))
    assert "because no session policy allows" in info.value.response["Error"]["Message"]


def test_credential_report_and_access_advisor(nimbus, alice):
    client_with(nimbus, "sts", alice["key"]).get_caller_identity()
    iam = nimbus.client("iam")
    assert iam.generate_credential_report()["State"] in ("STARTED", "COMPLETE")
    report = iam.get_credential_report()
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(report["Content"].decode()))}
    row = rows[alice["name"]]
    assert row["arn"] == alice["arn"]
    assert row["mfa_active"] == "true"
    assert row["access_key_1_active"] == "true"
    assert row["access_key_1_last_used_date"] not in ("N/A", "")
    assert row["access_key_1_last_used_service"] in ("sts", "s3")
    assert row["access_key_1_last_used_region"] == "us-east-1"
    assert "<root_account>" in rows
    last = iam.get_access_key_last_used(AccessKeyId=alice["key"]["AccessKeyId"])
    assert last["UserName"] == alice["name"] and last["AccessKeyLastUsed"]["Region"] == "us-east-1"
    job = iam.generate_service_last_accessed_details(Arn=alice["arn"])["JobId"]
    details = iam.get_service_last_accessed_details(JobId=job, MaxItems=1000)
    assert details["JobStatus"] == "COMPLETED"
    by_ns = {s["ServiceNamespace"]: s for s in details["ServicesLastAccessed"]}
    assert by_ns["s3"].get("LastAuthenticatedEntity") == alice["arn"]
    assert "ec2" in by_ns  # allowed by ReadOnlyAccess, never used
    assert "LastAuthenticated" not in by_ns["ec2"]


def test_wrong_secret_and_wrong_token_are_refused(nimbus, alice):
    bad = dict(alice["key"], SecretAccessKey="x" * 40)
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "sts", bad).get_caller_identity()
    assert error_code(info) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "s3", bad).list_buckets()
    assert error_code(info) == "SignatureDoesNotMatch"
    creds = client_with(nimbus, "sts", alice["key"]).get_session_token(DurationSeconds=900)["Credentials"]
    forged = dict(creds, SessionToken=creds["SessionToken"][:-4] + "AAAA")
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "sts", forged).get_caller_identity()
    assert error_code(info) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "s3", forged).list_buckets()
    assert error_code(info) == "InvalidToken"
    missing = {k: v for k, v in creds.items() if k != "SessionToken"}
    with pytest.raises(ClientError) as info:
        client_with(nimbus, "kms", missing).list_keys()
    assert error_code(info) == "UnrecognizedClientException"
    # an inactive key is refused; active again, it works
    iam = nimbus.client("iam")
    iam.update_access_key(UserName=alice["name"], AccessKeyId=alice["key"]["AccessKeyId"], Status="Inactive")
    try:
        with pytest.raises(ClientError) as info:
            client_with(nimbus, "sts", alice["key"]).get_caller_identity()
        assert error_code(info) == "InvalidClientTokenId"
    finally:
        iam.update_access_key(UserName=alice["name"], AccessKeyId=alice["key"]["AccessKeyId"], Status="Active")
    client_with(nimbus, "sts", alice["key"]).get_caller_identity()


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs libfaketime (apt install faketime)")
def test_expired_session_token_is_refused(tmp_path):
    """Expiry is real time.  Rather than sleep 15 minutes (AWS's 900 s minimum), the
    credentials are issued by a server whose clock — and its client's — runs 20 minutes
    in the past (libfaketime), then used against the same data on the real clock."""
    import sys

    data = tmp_path / "data"
    faketime = shutil.which("faketime")
    real_python = sys.executable
    wrapper = tmp_path / "python-in-the-past"
    # FAKETIME_DISABLE_SHM: no shared-memory semaphore, which a killed process can leave behind
    wrapper.write_text(f"#!/bin/sh\nFAKETIME_DISABLE_SHM=1 exec {faketime} -f -20m {real_python} \"$@\"\n")
    wrapper.chmod(0o755)
    past = NimbusServer(data)
    sys.executable = str(wrapper)  # NimbusServer starts `sys.executable -m nimbus`
    try:
        past.start()
    finally:
        sys.executable = real_python
    try:
        # a client on the same past clock as the server
        script = (
            "import boto3,json,sys;"
            f"c=boto3.client('iam',endpoint_url='{past.endpoint}',region_name='us-east-1',aws_access_key_id='test',aws_secret_access_key='test');"
            "c.create_user(UserName='temp');k=c.create_access_key(UserName='temp')['AccessKey'];"
            f"s=boto3.client('sts',endpoint_url='{past.endpoint}',region_name='us-east-1',aws_access_key_id=k['AccessKeyId'],aws_secret_access_key=k['SecretAccessKey']);"
            "print(json.dumps(s.get_session_token(DurationSeconds=900)['Credentials'],default=str))"
        )
        out = subprocess.run([faketime, "-f", "-20m", real_python, "-c", script], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "FAKETIME_DISABLE_SHM": "1"})
        assert out.returncode == 0, out.stderr
        creds = json.loads(out.stdout)
    finally:
        past.stop()
    present = NimbusServer(data).start()
    try:
        with pytest.raises(ClientError) as info:
            client_with(present, "sts", creds).get_caller_identity()
        assert error_code(info) == "ExpiredToken"
        assert info.value.response["Error"]["Message"] == "The security token included in the request is expired"
        with pytest.raises(ClientError) as info:
            client_with(present, "s3", creds).list_buckets()
        assert error_code(info) == "ExpiredToken"
        with pytest.raises(ClientError) as info:
            client_with(present, "kms", creds).list_keys()
        assert error_code(info) == "ExpiredTokenException"
        refused = cli_as(present, creds, "sts", "get-caller-identity")
        assert refused.returncode != 0 and "ExpiredToken" in refused.stderr
    finally:
        present.stop()


def test_bad_input_changes_nothing(nimbus, alice):
    iam = nimbus.client("iam")
    name = uid("bob")
    iam.create_user(UserName=name)
    with pytest.raises(ClientError) as info:
        iam.create_user(UserName=name)
    assert error_code(info) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as info:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}')
    assert error_code(info) == "MalformedPolicyDocument" and "resources" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument="{not json")
    assert error_code(info) == "MalformedPolicyDocument"
    huge = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'x' * 50}/{i}"} for i in range(200)]})
    with pytest.raises(ClientError) as info:
        iam.create_policy(PolicyName=uid("huge"), PolicyDocument=huge)
    assert error_code(info) == "MalformedPolicyDocument"
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    with pytest.raises(ClientError) as info:  # a group is not a user: groups never nest
        iam.add_user_to_group(GroupName=alice["group"], UserName=alice["group"])
    assert error_code(info) == "NoSuchEntity"
    iam.create_access_key(UserName=name)
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as info:
        iam.create_access_key(UserName=name)
    assert error_code(info) == "LimitExceeded"
    assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 2
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireNumbers=True, RequireSymbols=True)
    try:
        with pytest.raises(ClientError) as info:
            iam.create_login_profile(UserName=name, Password="short1!")
        assert error_code(info) == "PasswordPolicyViolation"
        with pytest.raises(ClientError) as info:
            iam.get_login_profile(UserName=name)
        assert error_code(info) == "NoSuchEntity"
        iam.create_login_profile(UserName=name, Password="a-long-enough-pass-1!")
    finally:
        iam.delete_account_password_policy()
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=uid("dev"))["VirtualMFADevice"]
    with pytest.raises(ClientError) as info:
        iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1="123456", AuthenticationCode2="654321")
    assert error_code(info) == "InvalidAuthenticationCode"
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName=uid("r"), AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}))
    assert error_code(info) == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as info:
        iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    assert error_code(info) == "NoSuchEntity"
    with pytest.raises(ClientError) as info:
        iam.delete_user(UserName=name)
    assert error_code(info) == "DeleteConflict"
    with pytest.raises(ClientError) as info:
        iam.get_user(UserName=uid("ghost"))
    assert error_code(info) == "NoSuchEntity"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_policy_versions_and_simulator(nimbus):
    iam = nimbus.client("iam")
    doc_v1 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}
    arn = iam.create_policy(PolicyName=uid("p"), PolicyDocument=json.dumps(doc_v1))["Policy"]["Arn"]
    doc_v2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc_v2), SetAsDefault=True)["PolicyVersion"]["VersionId"] == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"] == doc_v1
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc_v1))
    with pytest.raises(ClientError) as info:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc_v1))
    assert error_code(info) == "LimitExceeded"
    user = uid("sim")
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    results = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/{user}",
                                            ActionNames=["s3:PutObject", "ec2:RunInstances"])["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny"]
    custom = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})],
        ActionNames=["s3:DeleteBucket"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.1.1"], "ContextKeyType": "ip"}],
    )["EvaluationResults"]
    assert custom[0]["EvalDecision"] == "explicitDeny"


def test_ec2_denial_is_encoded_and_decodable(nimbus, alice):
    ec2 = client_with(nimbus, "ec2", alice["key"])
    ec2.describe_regions()  # ReadOnlyAccess allows Describe*
    with pytest.raises(ClientError) as info:
        ec2.create_tags(Resources=["i-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert error_code(info) == "UnauthorizedOperation"
    message = info.value.response["Error"]["Message"]
    encoded = message.split("Encoded authorization failure message: ", 1)[1]
    with pytest.raises(ClientError):  # decoding needs sts:DecodeAuthorizationMessage
        client_with(nimbus, "sts", alice["key"]).decode_authorization_message(EncodedMessage=encoded)
    decoded = json.loads(nimbus.client("sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False
    assert decoded["context"]["action"] == "ec2:CreateTags"
    assert decoded["context"]["principal"]["arn"] == alice["arn"]
    with pytest.raises(ClientError) as info:
        nimbus.client("sts").decode_authorization_message(EncodedMessage="garbage")
    assert error_code(info) == "InvalidAuthorizationMessageException"


def test_kms_key_policy_decides(nimbus):
    iam, kms = nimbus.client("iam"), nimbus.client("kms")
    admin = uid("keyadmin")
    iam.create_user(UserName=admin)
    iam.attach_user_policy(UserName=admin, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName=admin)["AccessKey"]
    open_key = kms.create_key()["KeyMetadata"]["KeyId"]
    user_kms = client_with(nimbus, "kms", key)
    user_kms.encrypt(KeyId=open_key, Plaintext=b"ok")  # default key policy delegates to the account
    closed = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{admin}"}, "Action": "kms:Encrypt", "Resource": "*"}]}))["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as info:
        user_kms.encrypt(KeyId=closed, Plaintext=b"no")
    assert error_code(info) == "AccessDeniedException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    kms.encrypt(KeyId=closed, Plaintext=b"root still may")


def test_cloudtrail_lookup_events_records_decisions(nimbus, alice):
    bucket = uid("audited")
    for _ in range(2):
        client_with(nimbus, "sts", alice["key"]).get_caller_identity()
    with pytest.raises(ClientError):
        client_with(nimbus, "s3", alice["key"]).create_bucket(Bucket=bucket)
    ct = nimbus.client("cloudtrail")
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": f"arn:aws:s3:::{bucket}"}])["Events"]
    assert len(events) == 1
    record = json.loads(events[0]["CloudTrailEvent"])
    assert events[0]["EventName"] == "CreateBucket" and events[0]["Username"] == alice["name"]
    assert record["errorCode"] == "AccessDenied"
    assert record["userIdentity"]["arn"] == alice["arn"] and record["userIdentity"]["accessKeyId"] == alice["key"]["AccessKeyId"]
    assert record["sourceIPAddress"] == "127.0.0.1" and record["eventSource"] == "s3.amazonaws.com"
    assert record["authorization"] == {"action": "s3:CreateBucket", "decision": "Deny"}
    by_user = ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": alice["name"]}], MaxResults=2)
    assert len(by_user["Events"]) == 2 and "NextToken" in by_user
    more = ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": alice["name"]}], MaxResults=2, NextToken=by_user["NextToken"])
    assert {e["EventId"] for e in more["Events"]}.isdisjoint({e["EventId"] for e in by_user["Events"]})
    with pytest.raises(ClientError) as info:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "Nope", "AttributeValue": "x"}])
    assert error_code(info) in ("ValidationException", "InvalidLookupAttributesException")  # an unknown key fails the model's enum
    with pytest.raises(ClientError) as info:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "a"}, {"AttributeKey": "EventName", "AttributeValue": "b"}])
    assert error_code(info) == "InvalidLookupAttributesException"


def test_enforcement_can_be_turned_off(fresh_nimbus):
    server = fresh_nimbus(NIMBUS_ENFORCE_IAM="0")
    iam = server.client("iam")
    iam.create_user(UserName="loose")
    key = iam.create_access_key(UserName="loose")["AccessKey"]
    client_with(server, "s3", key).create_bucket(Bucket="made-without-policies")
    anonymous = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                             config=BotoConfig(signature_version=__import__("botocore").UNSIGNED))
    with pytest.raises(ClientError):  # authentication still applies
        anonymous.list_buckets()


def test_audit_events_survive_shutdown(fresh_nimbus, tmp_path):
    server = fresh_nimbus()
    server.client("sts").get_caller_identity()
    server.stop()  # buffered events are flushed at shutdown
    again = fresh_nimbus(data_dir=server.data_dir)
    events = again.client("cloudtrail").lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}])["Events"]
    assert events
