"""EC2 compute: key pairs, instance types, images, spot interruption, reserved instances."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _code(e):
    return e.value.response["Error"]["Code"]


def test_key_pair_fingerprints_by_aws_rules(nimbus, tmp_path):
    ec2 = nimbus.client("ec2", region="sa-east-1")
    created = ec2.create_key_pair(KeyName="rsa-made")
    key = serialization.load_pem_private_key(created["KeyMaterial"].encode(), None)
    assert created["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert created["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.sha1(pkcs8).digest())

    ed = ec2.create_key_pair(KeyName="ed-made", KeyType="ed25519")
    pem = tmp_path / "ed.pem"
    pem.write_text(ed["KeyMaterial"] + "\n")
    pem.chmod(0o600)
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(pem)], capture_output=True, text=True, check=True).stdout.split()
    assert public[0] == "ssh-ed25519"
    assert ed["KeyFingerprint"] == base64.b64encode(hashlib.sha256(base64.b64decode(public[1])).digest()).decode()

    ppk = ec2.create_key_pair(KeyName="ppk-made", KeyFormat="ppk")
    assert ppk["KeyMaterial"].startswith("PuTTY-User-Key-File-2: ssh-rsa")

    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    openssh = mine.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    imported = ec2.import_key_pair(KeyName="rsa-imported", PublicKeyMaterial=openssh)
    der = mine.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert imported["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())

    edk = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_imported = ec2.import_key_pair(KeyName="ed-imported", PublicKeyMaterial=edk.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    assert ed_imported["KeyFingerprint"].endswith("=")

    with pytest.raises(ClientError) as e:
        ec2.create_key_pair(KeyName="rsa-made")
    assert _code(e) == "InvalidKeyPair.Duplicate"
    with pytest.raises(ClientError) as e:
        ec2.import_key_pair(KeyName="junk", PublicKeyMaterial=b"not a key")
    assert _code(e) == "InvalidKey.Format"
    names = {k["KeyName"]: k for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert set(names) == {"rsa-made", "ed-made", "ppk-made", "rsa-imported", "ed-imported"}
    assert names["ed-made"]["KeyType"] == "ed25519"
    ec2.delete_key_pair(KeyName="rsa-made")
    with pytest.raises(ClientError) as e:
        ec2.describe_key_pairs(KeyNames=["rsa-made"])
    assert _code(e) == "InvalidKeyPair.NotFound"
    # keys are regional
    assert nimbus.client("ec2", region="us-east-1").describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["ed-made"]}])["KeyPairs"] == []


def test_instance_types_catalogue(nimbus):
    ec2 = nimbus.client("ec2")
    t = ec2.describe_instance_types(InstanceTypes=["m5.2xlarge", "t4g.micro", "i4i.large", "p4d.24xlarge"])["InstanceTypes"]
    by = {x["InstanceType"]: x for x in t}
    assert by["m5.2xlarge"]["VCpuInfo"]["DefaultVCpus"] == 8 and by["m5.2xlarge"]["MemoryInfo"]["SizeInMiB"] == 32768
    assert by["t4g.micro"]["ProcessorInfo"]["SupportedArchitectures"] == ["arm64"] and by["t4g.micro"]["BurstablePerformanceSupported"]
    assert by["i4i.large"]["InstanceStorageInfo"]["TotalSizeInGB"] == 468
    assert by["p4d.24xlarge"]["GpuInfo"]["Gpus"][0]["Count"] == 8
    arm = ec2.describe_instance_types(Filters=[{"Name": "processor-info.supported-architecture", "Values": ["arm64"]},
                                               {"Name": "instance-type", "Values": ["c7g.*"]}], MaxResults=100)["InstanceTypes"]
    assert {x["InstanceType"] for x in arm} >= {"c7g.medium", "c7g.16xlarge"} and all(x["InstanceType"].startswith("c7g.") for x in arm)
    families = set()
    paginator = ec2.get_paginator("describe_instance_types")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        families |= {x["InstanceType"].split(".")[0] for x in page["InstanceTypes"]}
    assert {"t2", "t3", "t3a", "t4g", "m5", "m6i", "m6g", "m7i", "m7g", "c5", "c6i", "c6g", "c7g", "r5", "r6i", "r6g", "r7g",
            "i3", "i4i", "d3", "g4dn", "g5", "p3", "p4d", "inf2", "trn1"} <= families
    with pytest.raises(ClientError) as e:
        ec2.describe_instance_types(InstanceTypes=["m5.huge"])
    assert _code(e) == "InvalidInstanceType"
    offers = ec2.describe_instance_type_offerings(LocationType="availability-zone",
                                                  Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}])["InstanceTypeOfferings"]
    assert {o["Location"] for o in offers} >= {"us-east-1a", "us-east-1b"}


def test_images_create_copy_share_deregister(nimbus):
    ec2 = nimbus.client("ec2", region="eu-west-2")
    ami = nimbus.client("ssm", region="eu-west-2").get_parameter(Name=AL2023)["Parameter"]["Value"]
    public = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert public["Public"] and public["Architecture"] == "x86_64" and public["OwnerId"] == "137112412989"
    ubuntu = ec2.describe_images(Owners=["099720109477"], Filters=[{"Name": "name", "Values": ["ubuntu/images/*noble-24.04-amd64*"]}])["Images"]
    assert len(ubuntu) == 1
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    nimbus.advance_clock(10)
    image = ec2.create_image(InstanceId=iid, Name="my-web-server")["ImageId"]
    with pytest.raises(ClientError) as e:
        ec2.create_image(InstanceId=iid, Name="my-web-server")
    assert _code(e) == "InvalidAMIName.Duplicate"
    mine = ec2.describe_images(Owners=["self"])["Images"]
    assert [i["ImageId"] for i in mine] == [image] and mine[0]["State"] == "pending"
    nimbus.advance_clock(60)
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "available"
    snap = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    with pytest.raises(ClientError) as e:
        ec2.delete_snapshot(SnapshotId=snap)
    assert _code(e) == "InvalidSnapshot.InUse"
    # launch from it; then copy it to another region and launch there
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    west = nimbus.client("ec2", region="eu-west-3")
    with pytest.raises(ClientError) as e:
        west.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    assert _code(e) == "InvalidAMIID.NotFound"
    copied = west.copy_image(SourceImageId=image, SourceRegion="eu-west-2", Name="my-web-server-copy")["ImageId"]
    nimbus.advance_clock(60)
    west.run_instances(ImageId=copied, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    # launch permissions: another account sees it only once shared
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": "111122223333"}]})
    perms = ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"UserId": "111122223333"}]
    ec2.deregister_image(ImageId=image)
    with pytest.raises(ClientError) as e:
        ec2.describe_images(ImageIds=[image])
    assert _code(e) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.deregister_image(ImageId="ami-12")
    assert _code(e) == "InvalidAMIID.Malformed"


def test_spot_instance_interrupted_when_price_exceeds_max(nimbus):
    ec2 = nimbus.client("ec2", region="us-west-1")
    ami = nimbus.client("ssm", region="us-west-1").get_parameter(Name=AL2023)["Parameter"]["Value"]
    history = ec2.describe_spot_price_history(InstanceTypes=["m5.large"], AvailabilityZone="us-west-1a",
                                              ProductDescriptions=["Linux/UNIX"])["SpotPriceHistory"]
    assert history and all(h["AvailabilityZone"] == "us-west-1a" for h in history)
    current = float(history[0]["SpotPrice"])
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", Placement={"AvailabilityZone": "us-west-1a"},
                          InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"MaxPrice": f"{current / 2:.6f}"}})
    assert _code(e) == "SpotMaxPriceTooLow"
    run = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", Placement={"AvailabilityZone": "us-west-1a"},
                            InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"MaxPrice": f"{current:.6f}"}})
    inst = run["Instances"][0]
    iid, sir = inst["InstanceId"], inst["SpotInstanceRequestId"]
    assert inst["InstanceLifecycle"] == "spot"
    with pytest.raises(ClientError) as e:
        ec2.stop_instances(InstanceIds=[iid])
    assert _code(e) == "UnsupportedOperation"
    request = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[sir])["SpotInstanceRequests"][0]
    assert request["State"] == "active" and request["InstanceId"] == iid
    for _ in range(48):  # the market moves hourly; it passes the current price within a day
        nimbus.advance_clock(3600)
        request = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[sir])["SpotInstanceRequests"][0]
        if request["Status"]["Code"] != "fulfilled":
            break
    assert request["Status"]["Code"] == "instance-terminated-by-price"
    nimbus.advance_clock(121)  # the instance keeps running through its two-minute notice
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("shutting-down", "terminated")
    assert state["StateReason"]["Code"] == "Server.SpotInstanceTermination"
    breach_time = request["Status"]["UpdateTime"]
    prices = ec2.describe_spot_price_history(InstanceTypes=["m5.large"], AvailabilityZone="us-west-1a", StartTime=breach_time,
                                             EndTime=breach_time)["SpotPriceHistory"]
    assert float(prices[0]["SpotPrice"]) > current


def test_spot_request_below_market_stays_open(nimbus):
    ec2 = nimbus.client("ec2", region="ap-northeast-1")
    ami = nimbus.client("ssm", region="ap-northeast-1").get_parameter(Name=AL2023)["Parameter"]["Value"]
    out = ec2.request_spot_instances(SpotPrice="0.000001", InstanceCount=1,
                                     LaunchSpecification={"ImageId": ami, "InstanceType": "c5.large"})["SpotInstanceRequests"][0]
    assert out["State"] == "open" and out["Status"]["Code"] == "price-too-low"
    ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[out["SpotInstanceRequestId"]])
    got = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[out["SpotInstanceRequestId"]])["SpotInstanceRequests"][0]
    assert got["State"] == "cancelled"


def test_reserved_instances(nimbus):
    ec2 = nimbus.client("ec2", region="us-east-1")
    offers = ec2.describe_reserved_instances_offerings(InstanceType="m5.large", ProductDescription="Linux/UNIX",
                                                       OfferingClass="standard", OfferingType="All Upfront")["ReservedInstancesOfferings"]
    assert {o["Duration"] for o in offers} == {31536000, 94608000}
    one_year = next(o for o in offers if o["Duration"] == 31536000)
    assert one_year["FixedPrice"] > 0 and one_year["RecurringCharges"] == []
    ri = ec2.purchase_reserved_instances_offering(ReservedInstancesOfferingId=one_year["ReservedInstancesOfferingId"], InstanceCount=2)
    got = ec2.describe_reserved_instances(ReservedInstancesIds=[ri["ReservedInstancesId"]])["ReservedInstances"][0]
    assert got["State"] == "active" and got["InstanceCount"] == 2 and got["InstanceType"] == "m5.large"
    with pytest.raises(ClientError) as e:
        ec2.purchase_reserved_instances_offering(ReservedInstancesOfferingId="00000000-0000-0000-0000-000000000000", InstanceCount=1)
    assert _code(e) == "InvalidReservedInstancesOfferingId"
