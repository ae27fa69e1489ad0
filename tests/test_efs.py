"""EFS: file systems through boto3 and the CLI."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError


def error_of(excinfo) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def efs(nimbus):
    return nimbus.client("efs")


def token() -> str:
    return f"tok-{uuid.uuid4().hex[:12]}"


def test_describe_is_empty_on_a_fresh_account(fresh_nimbus):
    server = fresh_nimbus()
    assert server.client("efs").describe_file_systems()["FileSystems"] == []
    out = server.aws("efs", "describe-file-systems", "--output", "json")
    assert json.loads(out.stdout)["FileSystems"] == []


def test_create_describe_delete(efs):
    tok = token()
    created = efs.create_file_system(
        CreationToken=tok, PerformanceMode="generalPurpose", ThroughputMode="bursting",
        Tags=[{"Key": "Name", "Value": "shared"}, {"Key": "env", "Value": "test"}],
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    fs_id = created["FileSystemId"]
    assert fs_id.startswith("fs-") and len(fs_id) == 20
    assert created["FileSystemArn"] == f"arn:aws:elasticfilesystem:us-east-1:000000000000:file-system/{fs_id}"
    assert created["LifeCycleState"] == "creating"
    assert created["Name"] == "shared" and created["OwnerId"] == "000000000000"
    assert created["SizeInBytes"]["Value"] == 6144 and created["NumberOfMountTargets"] == 0
    assert created["Encrypted"] is False and "KmsKeyId" not in created

    (described,) = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"]
    assert described["LifeCycleState"] == "available"
    assert described["CreationToken"] == tok and described["PerformanceMode"] == "generalPurpose"
    assert described["Tags"] == [{"Key": "Name", "Value": "shared"}, {"Key": "env", "Value": "test"}]
    assert [f["FileSystemId"] for f in efs.describe_file_systems(CreationToken=tok)["FileSystems"]] == [fs_id]
    arn = created["FileSystemArn"]
    assert efs.describe_file_systems(FileSystemId=arn)["FileSystems"][0]["FileSystemId"] == fs_id

    deleted = efs.delete_file_system(FileSystemId=fs_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        efs.describe_file_systems(FileSystemId=fs_id)
    assert error_of(err) == ("FileSystemNotFound", 404)
    with pytest.raises(ClientError) as err:
        efs.delete_file_system(FileSystemId=fs_id)
    assert error_of(err) == ("FileSystemNotFound", 404)
    assert efs.describe_file_systems(CreationToken=tok)["FileSystems"] == []
    # The token is free again once its file system is gone.
    efs.delete_file_system(FileSystemId=efs.create_file_system(CreationToken=tok)["FileSystemId"])


def test_creation_token_is_idempotency(efs):
    tok = token()
    fs_id = efs.create_file_system(CreationToken=tok)["FileSystemId"]
    with pytest.raises(ClientError) as err:
        efs.create_file_system(CreationToken=tok, PerformanceMode="maxIO")
    assert error_of(err) == ("FileSystemAlreadyExists", 409)
    assert err.value.response["FileSystemId"] == fs_id
    assert err.value.response["ErrorCode"] == "FileSystemAlreadyExists"


def test_encrypted_and_provisioned(efs, nimbus):
    default = efs.create_file_system(CreationToken=token(), Encrypted=True)
    kms = nimbus.client("kms")
    managed = kms.describe_key(KeyId="alias/aws/elasticfilesystem")["KeyMetadata"]
    assert default["KmsKeyId"] == managed["Arn"] and managed["KeyManager"] == "AWS"
    key = kms.create_key()["KeyMetadata"]
    custom = efs.create_file_system(CreationToken=token(), Encrypted=True, KmsKeyId=key["KeyId"],
                                    ThroughputMode="provisioned", ProvisionedThroughputInMibps=128.0)
    assert custom["KmsKeyId"] == key["Arn"] and custom["ProvisionedThroughputInMibps"] == 128.0
    updated = efs.update_file_system(FileSystemId=custom["FileSystemId"], ThroughputMode="elastic")
    assert updated["ThroughputMode"] == "elastic" and "ProvisionedThroughputInMibps" not in updated
    one_zone = efs.create_file_system(CreationToken=token(), AvailabilityZoneName="us-east-1a")
    assert one_zone["AvailabilityZoneName"] == "us-east-1a" and one_zone["AvailabilityZoneId"].startswith("use1-az")


def test_pagination(fresh_nimbus):
    server = fresh_nimbus()
    efs = server.client("efs")
    ids = {efs.create_file_system(CreationToken=f"t{i}")["FileSystemId"] for i in range(5)}
    page = efs.describe_file_systems(MaxItems=2)
    seen = [f["FileSystemId"] for f in page["FileSystems"]]
    assert len(seen) == 2 and page["NextMarker"]
    while "NextMarker" in page:
        page = efs.describe_file_systems(MaxItems=2, Marker=page["NextMarker"])
        assert page["Marker"]
        seen += [f["FileSystemId"] for f in page["FileSystems"]]
    assert sorted(seen) == sorted(ids)
    pages = efs.get_paginator("describe_file_systems").paginate(PaginationConfig={"PageSize": 3})
    assert sum(len(p["FileSystems"]) for p in pages) == 5
    out = json.loads(server.aws("efs", "describe-file-systems", "--output", "json").stdout)
    assert len(out["FileSystems"]) == 5
    status = json.loads(__import__("urllib.request").request.urlopen(f"{server.endpoint}/_nimbus/status").read())
    assert status["resources"]["efs"] == {"file-system": 5}


def test_tags_and_lifecycle(efs):
    fs_id = efs.create_file_system(CreationToken=token())["FileSystemId"]
    efs.tag_resource(ResourceId=fs_id, Tags=[{"Key": "a", "Value": "1"}])
    assert efs.list_tags_for_resource(ResourceId=fs_id)["Tags"] == [{"Key": "a", "Value": "1"}]
    efs.untag_resource(ResourceId=fs_id, TagKeys=["a"])
    assert efs.list_tags_for_resource(ResourceId=fs_id)["Tags"] == []
    policies = [{"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    assert efs.put_lifecycle_configuration(FileSystemId=fs_id, LifecyclePolicies=policies)["LifecyclePolicies"] == policies
    assert efs.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"] == policies


@pytest.mark.parametrize(
    "kwargs, code, status",
    [
        ({"ThroughputMode": "provisioned"}, "BadRequest", 400),
        ({"ThroughputMode": "bursting", "ProvisionedThroughputInMibps": 10.0}, "BadRequest", 400),
        ({"PerformanceMode": "turbo"}, "BadRequest", 400),
        ({"KmsKeyId": "alias/whatever"}, "BadRequest", 400),
        ({"Encrypted": True, "KmsKeyId": "alias/does-not-exist"}, "BadRequest", 400),
        ({"AvailabilityZoneName": "eu-west-1a"}, "BadRequest", 400),
        ({"Tags": [{"Key": "aws:x", "Value": "y"}]}, "BadRequest", 400),
    ],
    ids=["provisioned-without-rate", "rate-without-provisioned", "bad-mode", "key-unencrypted", "unknown-key", "wrong-zone", "aws-tag"],
)
def test_bad_create_inputs(efs, kwargs, code, status):
    with pytest.raises(ClientError) as err:
        efs.create_file_system(CreationToken=token(), **kwargs)
    assert error_of(err) == (code, status)


def test_bad_file_system_ids(efs):
    with pytest.raises(ClientError) as err:
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0")
    assert error_of(err) == ("FileSystemNotFound", 404)
    assert "fs-0123456789abcdef0" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        efs.delete_file_system(FileSystemId="not-an-id")
    assert error_of(err)[1] == 400
    with pytest.raises(ClientError) as err:
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0", CreationToken="x")
    assert error_of(err) == ("BadRequest", 400)
