"""SSM Parameter Store: AWS's public AMI parameters and user parameters (SecureString via KMS)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def _code(e):
    return e.value.response["Error"]["Code"]


def test_public_ami_parameters_resolve_per_region(nimbus):
    east, west = nimbus.client("ssm"), nimbus.client("ssm", region="eu-west-1")
    name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    a, b = east.get_parameter(Name=name)["Parameter"], west.get_parameter(Name=name)["Parameter"]
    assert a["Value"].startswith("ami-") and a["Value"] != b["Value"]
    assert nimbus.client("ec2").describe_images(ImageIds=[a["Value"]])["Images"][0]["Name"].startswith("al2023-ami-")
    got = east.get_parameters(Names=[name, "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id", "/nope"])
    assert len(got["Parameters"]) == 2 and got["InvalidParameters"] == ["/nope"]
    listed = east.get_parameters_by_path(Path="/aws/service/ami-amazon-linux-latest", MaxResults=10)
    names = [p["Name"] for p in listed["Parameters"]]
    assert name in names or listed.get("NextToken")
    with pytest.raises(ClientError) as e:
        east.get_parameter(Name="/aws/service/ami-amazon-linux-latest/no-such")
    assert _code(e) == "ParameterNotFound"


def test_user_parameters(nimbus):
    ssm = nimbus.client("ssm", region="eu-north-1")
    assert ssm.put_parameter(Name="/app/db/host", Value="db.internal", Type="String")["Version"] == 1
    ssm.put_parameter(Name="/app/db/ports", Value="5432,5433", Type="StringList")
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/app/db/host", Value="other", Type="String")
    assert _code(e) == "ParameterAlreadyExists"
    assert ssm.put_parameter(Name="/app/db/host", Value="db2.internal", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name="/app/db/host")["Parameter"]["Value"] == "db2.internal"
    assert ssm.get_parameter(Name="/app/db/host:1")["Parameter"]["Value"] == "db.internal"
    ssm.put_parameter(Name="/app/db/password", Value="s3cret!", Type="SecureString")
    hidden = ssm.get_parameter(Name="/app/db/password")["Parameter"]
    assert hidden["Value"] != "s3cret!" and hidden["Type"] == "SecureString"
    assert ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]["Value"] == "s3cret!"
    key = nimbus.client("kms", region="eu-north-1").create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name="/app/api-key", Value="k-123", Type="SecureString", KeyId=key)
    assert ssm.get_parameter(Name="/app/api-key", WithDecryption=True)["Parameter"]["Value"] == "k-123"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/app/bad-key", Value="x", Type="SecureString", KeyId="alias/does-not-exist")
    assert _code(e) == "InvalidKeyId"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/aws/mine", Value="x", Type="String")
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/app/big", Value="x" * 4097, Type="String")
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/app/new", Value="x")
    assert _code(e) == "ValidationException"
    by_path = ssm.get_parameters_by_path(Path="/app", Recursive=True, WithDecryption=True)["Parameters"]
    assert {p["Name"]: p["Value"] for p in by_path}["/app/db/password"] == "s3cret!"
    one_level = ssm.get_parameters_by_path(Path="/app")["Parameters"]
    assert [p["Name"] for p in one_level] == ["/app/api-key"]
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])["Parameters"]
    assert {p["Name"] for p in described} == {"/app/db/password", "/app/api-key"}
    ssm.delete_parameter(Name="/app/db/host")
    with pytest.raises(ClientError) as e:
        ssm.delete_parameter(Name="/app/db/host")
    assert _code(e) == "ParameterNotFound"
    assert nimbus.client("ssm", region="eu-west-1").describe_parameters()["Parameters"] == []
