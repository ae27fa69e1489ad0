"""EBS: AWS's volume limits, same-AZ attachment, multi-attach, VolumeInUse, snapshots, encryption."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _code(e):
    return e.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def setup(nimbus):
    region = "eu-central-1"
    ec2 = nimbus.client("ec2", region=region)
    ami = nimbus.client("ssm", region=region).get_parameter(Name=AL2023)["Parameter"]["Value"]
    run = ec2.run_instances(ImageId=ami, MinCount=2, MaxCount=2, InstanceType="m5.large", Placement={"AvailabilityZone": f"{region}a"})
    other = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", Placement={"AvailabilityZone": f"{region}b"})
    nimbus.advance_clock(10)
    return ec2, [i["InstanceId"] for i in run["Instances"]], other["Instances"][0]["InstanceId"], region


@pytest.mark.parametrize("kwargs,code", [
    (dict(VolumeType="gp2", Size=0), "InvalidParameterValue"),
    (dict(VolumeType="gp2", Size=16385), "InvalidParameterValue"),
    (dict(VolumeType="gp2", Size=10, Iops=300), "InvalidParameterCombination"),
    (dict(VolumeType="gp3", Size=10, Iops=2000), "InvalidParameterValue"),
    (dict(VolumeType="gp3", Size=100, Iops=16001), "InvalidParameterValue"),
    (dict(VolumeType="gp3", Size=100, Throughput=1001), "InvalidParameterValue"),
    (dict(VolumeType="gp3", Size=100, Iops=3000, Throughput=1000), "InvalidParameterValue"),  # > 0.25 MiB/s per IOPS
    (dict(VolumeType="io1", Size=3, Iops=100), "InvalidParameterValue"),
    (dict(VolumeType="io1", Size=10, Iops=501), "InvalidParameterValue"),  # 50:1
    (dict(VolumeType="io1", Size=2000, Iops=64001), "InvalidParameterValue"),
    (dict(VolumeType="io2", Size=10, Iops=10001), "InvalidParameterValue"),
    (dict(VolumeType="io2", Size=65537, Iops=1000), "InvalidParameterValue"),
    (dict(VolumeType="io2", Size=10), "MissingParameter"),
    (dict(VolumeType="st1", Size=124), "InvalidParameterValue"),
    (dict(VolumeType="sc1", Size=16385), "InvalidParameterValue"),
    (dict(VolumeType="gp3", Size=10, MultiAttachEnabled=True), "InvalidParameterCombination"),
])
def test_volume_limits(setup, kwargs, code):
    ec2, _, _, region = setup
    before = len(ec2.describe_volumes()["Volumes"])
    with pytest.raises(ClientError) as e:
        ec2.create_volume(AvailabilityZone=f"{region}a", **kwargs)
    assert _code(e) == code, e.value.response["Error"]
    assert len(ec2.describe_volumes()["Volumes"]) == before


def test_limits_that_hold(setup):
    ec2, _, _, region = setup
    big = ec2.create_volume(AvailabilityZone=f"{region}a", VolumeType="io2", Size=65536, Iops=256000)
    assert big["Iops"] == 256000 and big["State"] == "creating"
    gp2 = ec2.create_volume(AvailabilityZone=f"{region}a", VolumeType="gp2", Size=100)
    assert gp2["Iops"] == 300
    gp3 = ec2.create_volume(AvailabilityZone=f"{region}a", VolumeType="gp3", Size=100)
    assert (gp3["Iops"], gp3["Throughput"]) == (3000, 125)
    for v in (big, gp2, gp3):
        ec2.delete_volume(VolumeId=v["VolumeId"])
    with pytest.raises(ClientError) as e:
        ec2.create_volume(AvailabilityZone=f"{region}z", Size=1)
    assert _code(e) == "InvalidZone.NotFound"


def test_attach_rules(setup, nimbus):
    ec2, (a, b), other, region = setup
    vol = ec2.create_volume(AvailabilityZone=f"{region}a", VolumeType="gp3", Size=20)["VolumeId"]
    nimbus.advance_clock(5)
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=vol, InstanceId=other, Device="/dev/sdf")
    assert _code(e) == "InvalidVolume.ZoneMismatch"
    ec2.attach_volume(VolumeId=vol, InstanceId=a, Device="/dev/sdf")
    assert ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "in-use"
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=vol, InstanceId=b, Device="/dev/sdf")
    assert _code(e) == "VolumeInUse"
    with pytest.raises(ClientError) as e:
        ec2.delete_volume(VolumeId=vol)
    assert _code(e) == "VolumeInUse"
    inst = ec2.describe_instances(InstanceIds=[a])["Reservations"][0]["Instances"][0]
    assert "/dev/sdf" in [m["DeviceName"] for m in inst["BlockDeviceMappings"]]
    ec2.detach_volume(VolumeId=vol)
    assert ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "available"
    ec2.delete_volume(VolumeId=vol)
    with pytest.raises(ClientError) as e:
        ec2.describe_volumes(VolumeIds=[vol])
    assert _code(e) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_volumes(VolumeIds=["vol-nope"])
    assert _code(e) == "InvalidVolume.Malformed"


def test_multi_attach_io2_same_az(setup, nimbus):
    ec2, (a, b), other, region = setup
    vol = ec2.create_volume(AvailabilityZone=f"{region}a", VolumeType="io2", Size=10, Iops=1000, MultiAttachEnabled=True)["VolumeId"]
    nimbus.advance_clock(5)
    ec2.attach_volume(VolumeId=vol, InstanceId=a, Device="/dev/sdg")
    ec2.attach_volume(VolumeId=vol, InstanceId=b, Device="/dev/sdg")
    attachments = ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["Attachments"]
    assert {x["InstanceId"] for x in attachments} == {a, b}
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=vol, InstanceId=other, Device="/dev/sdg")
    assert _code(e) == "InvalidVolume.ZoneMismatch"
    ec2.detach_volume(VolumeId=vol, InstanceId=a)
    ec2.detach_volume(VolumeId=vol, InstanceId=b)
    ec2.delete_volume(VolumeId=vol)


def test_snapshots_copy_and_encryption(nimbus):
    src = nimbus.client("ec2", region="us-east-2")
    dst = nimbus.client("ec2", region="ca-central-1")
    vol = src.create_volume(AvailabilityZone="us-east-2a", Size=40, VolumeType="gp3")
    snap = src.create_snapshot(VolumeId=vol["VolumeId"], Description="backup")
    assert snap["State"] == "pending" and snap["VolumeSize"] == 40
    with pytest.raises(ClientError) as e:
        src.create_volume(AvailabilityZone="us-east-2b", SnapshotId=snap["SnapshotId"])
    assert _code(e) == "IncorrectState"
    nimbus.advance_clock(60)
    assert src.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]["State"] == "completed"
    with pytest.raises(ClientError) as e:
        src.create_volume(AvailabilityZone="us-east-2b", SnapshotId=snap["SnapshotId"], Size=20)
    assert _code(e) == "InvalidParameterValue"
    restored = src.create_volume(AvailabilityZone="us-east-2b", SnapshotId=snap["SnapshotId"])  # another AZ via a snapshot
    assert restored["Size"] == 40 and restored["SnapshotId"] == snap["SnapshotId"]
    key = nimbus.client("kms", region="ca-central-1").create_key()["KeyMetadata"]["Arn"]
    copy = dst.copy_snapshot(SourceRegion="us-east-2", SourceSnapshotId=snap["SnapshotId"], Encrypted=True, KmsKeyId=key)
    copied = dst.describe_snapshots(SnapshotIds=[copy["SnapshotId"]])["Snapshots"][0]
    assert copied["Encrypted"] and copied["KmsKeyId"] == key
    nimbus.advance_clock(60)
    vol2 = dst.create_volume(AvailabilityZone="ca-central-1a", SnapshotId=copy["SnapshotId"])
    assert vol2["Encrypted"] and vol2["KmsKeyId"] == key
    # encryption by default
    assert not dst.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]
    dst.enable_ebs_encryption_by_default()
    vol3 = dst.create_volume(AvailabilityZone="ca-central-1a", Size=1)
    assert vol3["Encrypted"] and ":key/" in vol3["KmsKeyId"]
    dst.disable_ebs_encryption_by_default()
    # modify: grow only
    with pytest.raises(ClientError) as e:
        src.modify_volume(VolumeId=restored["VolumeId"], Size=10)
    assert _code(e) == "InvalidParameterValue"
    mod = src.modify_volume(VolumeId=restored["VolumeId"], Size=100, VolumeType="io2", Iops=5000)["VolumeModification"]
    assert mod["ModificationState"] == "modifying" and mod["TargetVolumeType"] == "io2"
    nimbus.advance_clock(120)
    assert src.describe_volumes_modifications(VolumeIds=[restored["VolumeId"]])["VolumesModifications"][0]["ModificationState"] == "completed"
    assert src.describe_volumes(VolumeIds=[restored["VolumeId"]])["Volumes"][0]["Size"] == 100
    src.delete_snapshot(SnapshotId=snap["SnapshotId"])
    with pytest.raises(ClientError) as e:
        src.delete_snapshot(SnapshotId=snap["SnapshotId"])
    assert _code(e) == "InvalidSnapshot.NotFound"
