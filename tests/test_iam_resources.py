"""IAM resources beyond users, groups and roles, driven with boto3 and the AWS CLI: virtual
MFA devices' QR codes, tags of instance profiles / MFA devices / server certificates /
policies, server certificates, service-linked roles, permissions boundaries, context
keys, and the audit log's retention on the simulation clock."""

from __future__ import annotations

import datetime
import json
import struct
import time
import uuid
import zlib

import boto3
import pyotp
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACCOUNT = "000000000000"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(info) -> str:
    return info.value.response["Error"]["Code"]


def client_with(server, service, creds):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"), config=BotoConfig(retries={"max_attempts": 1}))


def png_pixels(data: bytes) -> list[list[int]]:
    """Decode a grayscale or palette PNG (what QR encoders write) into rows of 0/1 (1 = dark)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header, palette = 8, b"", None, None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + chunk) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"PLTE":
            palette = [chunk[i:i + 3] for i in range(0, len(chunk), 3)]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert color in (0, 3) and interlace == 0
    raw = zlib.decompress(idat)
    stride = (width * depth + 7) // 8
    rows, prev, i = [], bytes(stride), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            left = line[x - 1] if x else 0
            up, ul = prev[x], prev[x - 1] if x else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        prev = bytes(line)
        values = [(line[(x * depth) // 8] >> (8 - depth - (x * depth) % 8)) & ((1 << depth) - 1) for x in range(width)]
        if palette is not None:
            rows.append([1 if sum(palette[v]) < 384 else 0 for v in values])
        else:
            rows.append([1 if v < (1 << depth) // 2 else 0 for v in values])
    return rows


def qr_modules(pixels: list[list[int]], scale: int, border: int) -> list[list[int]]:
    size = len(pixels) // scale - 2 * border
    return [[pixels[(border + r) * scale][(border + c) * scale] for c in range(size)] for r in range(size)]


def test_virtual_mfa_device_qr_png_and_seed(nimbus, tmp_path):
    import segno

    iam = nimbus.client("iam")
    name, user = uid("phone"), uid("mfa-user")
    iam.create_user(UserName=user)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Tags=[{"Key": "kind", "Value": "phone"}])["VirtualMFADevice"]
    png, seed = device["QRCodePNG"], device["Base32StringSeed"].decode()
    uri = f"otpauth://totp/{name}@{ACCOUNT}?secret={seed}"
    pixels = png_pixels(png)
    assert len(pixels) == len(pixels[0])
    expected = segno.make(uri, error="m", micro=False)
    modules = qr_modules(pixels, 4, 4)
    assert modules == [[1 if v else 0 for v in row] for row in expected.matrix]  # the PNG encodes the otpauth URI
    # the finder patterns are where a scanner looks for them
    assert modules[0][:7] == [1] * 7 and modules[6][:7] == [1] * 7 and modules[3][2:5] == [1, 1, 1]
    # the seed works in an authenticator (pyotp): two consecutive codes enable the device
    totp = pyotp.TOTP(seed)
    now = time.time()
    iam.enable_mfa_device(UserName=user, SerialNumber=device["SerialNumber"], AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
    got = iam.get_mfa_device(SerialNumber=device["SerialNumber"])
    assert got["UserName"] == user and got["SerialNumber"] == device["SerialNumber"]
    assert iam.list_mfa_device_tags(SerialNumber=device["SerialNumber"])["Tags"] == [{"Key": "kind", "Value": "phone"}]
    iam.tag_mfa_device(SerialNumber=device["SerialNumber"], Tags=[{"Key": "owner", "Value": user}])
    iam.untag_mfa_device(SerialNumber=device["SerialNumber"], TagKeys=["kind"])
    assert iam.list_mfa_device_tags(SerialNumber=device["SerialNumber"])["Tags"] == [{"Key": "owner", "Value": user}]
    # the AWS CLI writes the PNG to a file
    out = tmp_path / "qr.png"
    nimbus.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", uid("cli"), "--outfile", str(out), "--bootstrap-method", "QRCodePNG")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_pixels(out.read_bytes())
    with pytest.raises(ClientError) as info:
        iam.get_mfa_device(SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/{uid('ghost')}")
    assert code(info) == "NoSuchEntity"


def _self_signed(cn: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())


def test_server_certificates_and_tags(nimbus):
    iam = nimbus.client("iam")
    name = uid("www")
    body, key = _self_signed("www.example.test")
    meta = iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=body, PrivateKey=key, Path="/web/",
                                         Tags=[{"Key": "env", "Value": "test"}])["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/web/{name}"
    got = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    assert got["CertificateBody"].strip() == body.strip()
    assert name in [m["ServerCertificateName"] for m in iam.list_server_certificates(PathPrefix="/web/")["ServerCertificateMetadataList"]]
    iam.tag_server_certificate(ServerCertificateName=name, Tags=[{"Key": "team", "Value": "edge"}])
    assert {t["Key"] for t in iam.list_server_certificate_tags(ServerCertificateName=name)["Tags"]} == {"env", "team"}
    iam.untag_server_certificate(ServerCertificateName=name, TagKeys=["env"])
    renamed = uid("www2")
    iam.update_server_certificate(ServerCertificateName=name, NewServerCertificateName=renamed, NewPath="/edge/")
    with pytest.raises(ClientError) as info:
        iam.get_server_certificate(ServerCertificateName=name)
    assert code(info) == "NoSuchEntity"
    moved = iam.get_server_certificate(ServerCertificateName=renamed)["ServerCertificate"]["ServerCertificateMetadata"]
    assert moved["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/edge/{renamed}"
    assert iam.list_server_certificate_tags(ServerCertificateName=renamed)["Tags"] == [{"Key": "team", "Value": "edge"}]
    with pytest.raises(ClientError) as info:
        iam.upload_server_certificate(ServerCertificateName=uid("bad"), CertificateBody="not a cert", PrivateKey=key)
    assert code(info) == "MalformedCertificate"
    with pytest.raises(ClientError) as info:
        iam.upload_server_certificate(ServerCertificateName=renamed, CertificateBody=body, PrivateKey=key)
    assert code(info) == "EntityAlreadyExists"
    iam.delete_server_certificate(ServerCertificateName=renamed)
    # instance profiles and customer managed policies are tagged too
    profile = uid("web-profile")
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.tag_instance_profile(InstanceProfileName=profile, Tags=[{"Key": "app", "Value": "web"}])
    assert iam.list_instance_profile_tags(InstanceProfileName=profile)["Tags"] == [{"Key": "app", "Value": "web"}]
    assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Tags"] == [{"Key": "app", "Value": "web"}]
    iam.untag_instance_profile(InstanceProfileName=profile, TagKeys=["app"])
    assert iam.list_instance_profile_tags(InstanceProfileName=profile)["Tags"] == []
    with pytest.raises(ClientError) as info:
        iam.tag_instance_profile(InstanceProfileName=uid("ghost"), Tags=[{"Key": "a", "Value": "b"}])
    assert code(info) == "NoSuchEntity"
    with pytest.raises(ClientError) as info:
        iam.tag_instance_profile(InstanceProfileName=profile, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert code(info) in ("LimitExceeded", "ValidationError")
    arn = iam.create_policy(PolicyName=uid("tagged"), PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}), Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])["Policy"]["Arn"]
    iam.untag_policy(PolicyArn=arn, TagKeys=["a"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_service_linked_roles(nimbus):
    iam = nimbus.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"
    assert role["Path"] == "/aws-service-role/elasticloadbalancing.amazonaws.com/"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "elasticloadbalancing.amazonaws.com"}
    with pytest.raises(ClientError) as info:
        iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")
    assert code(info) == "InvalidInput"
    custom = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web")["Role"]
    assert custom["RoleName"] == "AWSServiceRoleForAutoScaling_web"
    task = iam.delete_service_linked_role(RoleName=custom["RoleName"])["DeletionTaskId"]
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as info:
        iam.get_role(RoleName=custom["RoleName"])
    assert code(info) == "NoSuchEntity"
    plain = uid("plain")
    iam.create_role(RoleName=plain, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    with pytest.raises(ClientError) as info:
        iam.delete_service_linked_role(RoleName=plain)
    assert code(info) == "InvalidInput"


def test_permissions_boundary_caps_a_user(nimbus):
    iam = nimbus.client("iam")
    name = uid("bounded")
    iam.create_user(UserName=name, PermissionsBoundary="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    s3 = client_with(nimbus, "s3", key)
    s3.list_buckets()
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=uid("capped"))
    assert "because no permissions boundary allows the s3:CreateBucket action" in info.value.response["Error"]["Message"]
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    iam.delete_user_permissions_boundary(UserName=name)
    s3.create_bucket(Bucket=uid("uncapped"))
    with pytest.raises(ClientError) as info:
        iam.delete_user_permissions_boundary(UserName=name)
    assert code(info) == "NoSuchEntity"


def test_context_keys_of_policies(nimbus):
    iam = nimbus.client("iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[doc])["ContextKeyNames"]
    assert sorted(k.lower() for k in keys) == ["aws:multifactorauthpresent", "aws:sourceip", "aws:username"]
    user = uid("ctx")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc)
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/{user}")["ContextKeyNames"]
    assert "aws:SourceIp" in keys
    with pytest.raises(ClientError) as info:
        iam.get_context_keys_for_custom_policy(PolicyInputList=["{nope"])
    assert code(info) == "MalformedPolicyDocument"


def test_audit_log_retention_on_the_simulation_clock(fresh_nimbus):
    server = fresh_nimbus(NIMBUS_AUDIT_RETENTION_DAYS="90")
    sts, ct = server.client("sts"), server.client("cloudtrail")
    for _ in range(5):
        sts.get_caller_identity()
    old = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}])["Events"]
    assert len(old) == 5
    count = lambda: server_status(server)["cloudtrail"]["event"]  # noqa: E731
    before = count()
    assert before >= 5
    server.advance_clock(89 * 86400)  # still inside the window
    assert len(ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}])["Events"]) == 5
    server.advance_clock(2 * 86400)  # now 91 days old: pruned when the clock moves
    sts.get_caller_identity()
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}])["Events"]
    assert len(events) == 1 and events[0]["EventId"] not in {e["EventId"] for e in old}
    assert count() < before  # the records are gone, not just hidden


def server_status(server) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{server.endpoint}/_nimbus/status", timeout=5) as r:
        return json.loads(r.read())["resources"]
