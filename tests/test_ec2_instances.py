"""EC2 instances: the notes' walkthrough with the AWS CLI, life cycle on the clock, bad input."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from botocore.exceptions import ClientError

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _ami(nimbus, region="us-east-1"):
    return nimbus.client("ssm", region=region).get_parameter(Name=AL2023)["Parameter"]["Value"]


def _code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def _instance(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_cli_walkthrough_key_user_data_stop_start_terminate(nimbus, tmp_path):
    ami = json.loads(nimbus.aws("ssm", "get-parameters", "--names", AL2023).stdout)["Parameters"][0]["Value"]
    pem = tmp_path / "EC2Tutorial.pem"
    material = nimbus.aws("ec2", "create-key-pair", "--key-name", "EC2Tutorial", "--query", "KeyMaterial", "--output", "text").stdout
    pem.write_text(material)
    pem.chmod(0o600)
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(pem)], capture_output=True, text=True, check=True).stdout
    assert public.startswith("ssh-rsa ")
    described = json.loads(nimbus.aws("ec2", "describe-key-pairs", "--key-names", "EC2Tutorial", "--include-public-key").stdout)
    assert described["KeyPairs"][0]["PublicKey"].split()[1] == public.split()[1]

    script = tmp_path / "user-data.sh"
    script.write_text("#!/bin/bash\nyum install -y httpd\nsystemctl start httpd\n")
    run = json.loads(nimbus.aws("ec2", "run-instances", "--image-id", ami, "--instance-type", "t2.micro", "--key-name", "EC2Tutorial",
                                "--user-data", f"file://{script}", "--count", "1",
                                "--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=MyFirstInstance}]").stdout)
    inst = run["Instances"][0]
    iid = inst["InstanceId"]
    assert inst["State"]["Name"] == "pending" and inst["KeyName"] == "EC2Tutorial"
    assert inst["Tags"] == [{"Key": "Name", "Value": "MyFirstInstance"}]
    first_ip = inst["PublicIpAddress"]
    assert first_ip.startswith("127.")
    ec2 = nimbus.client("ec2")
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    assert base64.b64decode(attr["UserData"]["Value"]).decode() == script.read_text()

    nimbus.advance_clock(10)
    assert _instance(ec2, iid)["State"]["Name"] == "running"
    stopped = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert (stopped["PreviousState"]["Name"], stopped["CurrentState"]["Name"]) == ("running", "stopping")
    nimbus.advance_clock(10)
    inst = _instance(ec2, iid)
    assert inst["State"]["Name"] == "stopped" and "PublicIpAddress" not in inst
    assert inst["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert inst["PrivateIpAddress"]  # the private address stays across stop/start
    private = inst["PrivateIpAddress"]

    ec2.start_instances(InstanceIds=[iid])
    nimbus.advance_clock(10)
    inst = _instance(ec2, iid)
    assert inst["State"]["Name"] == "running"
    assert inst["PublicIpAddress"].startswith("127.") and inst["PublicIpAddress"] != first_ip
    assert inst["PrivateIpAddress"] == private

    out = json.loads(nimbus.aws("ec2", "terminate-instances", "--instance-ids", iid).stdout)
    assert out["TerminatingInstances"][0]["CurrentState"]["Name"] == "shutting-down"
    nimbus.advance_clock(10)
    assert _instance(ec2, iid)["State"]["Name"] == "terminated"
    root = [v for v in ec2.describe_volumes()["Volumes"] if any(a["InstanceId"] == iid for a in v["Attachments"])]
    assert root == []  # delete-on-termination
    nimbus.advance_clock(3700)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=[iid])
    assert _code(e) == "InvalidInstanceID.NotFound"


def test_malformed_versus_not_found(nimbus):
    ec2 = nimbus.client("ec2")
    for bad in ("i-123", "instance-1", "i-0123456789abcdefg"):
        with pytest.raises(ClientError) as e:
            ec2.describe_instances(InstanceIds=[bad])
        assert _code(e) == "InvalidInstanceID.Malformed"
        assert f'"{bad}"' in e.value.response["Error"]["Message"]
    for missing in ("i-0123456789abcdef0", "i-12345678"):
        with pytest.raises(ClientError) as e:
            ec2.stop_instances(InstanceIds=[missing])
        assert _code(e) == "InvalidInstanceID.NotFound"
        assert e.value.response["Error"]["Message"] == f"The instance ID '{missing}' does not exist"
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId="ami-xyz", MinCount=1, MaxCount=1)
    assert _code(e) == "InvalidAMIID.Malformed"


def test_bad_launches_change_nothing(nimbus):
    ec2 = nimbus.client("ec2", region="eu-west-1")
    ami = _ami(nimbus, "eu-west-1")
    before = ec2.describe_instances()["Reservations"]
    volumes = len(ec2.describe_volumes()["Volumes"])
    cases = [
        (dict(UserData=base64.b64encode(b"x" * (16 * 1024 + 1)).decode()), "InvalidParameterValue"),
        (dict(ImageId=_ami(nimbus, "us-west-2")), "InvalidAMIID.NotFound"),  # an AMI of another region
        (dict(InstanceType="m6g.large"), "InvalidParameterValue"),  # arm64 type, x86_64 image
        (dict(InstanceType="m5.huge"), "InvalidParameterValue"),
        (dict(KeyName="nope"), "InvalidKeyPair.NotFound"),
        (dict(SubnetId="subnet-0123456789abcdef0"), "InvalidSubnetID.NotFound"),
        (dict(Placement={"AvailabilityZone": "eu-west-1z"}), "InvalidParameterValue"),
        (dict(IamInstanceProfile={"Name": "no-such-profile"}), "InvalidParameterValue"),
        (dict(BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "st1", "VolumeSize": 500}}]), "InvalidBlockDeviceMapping"),
        (dict(MinCount=3, MaxCount=2), "InvalidParameterValue"),
    ]
    for extra, code in cases:
        params = {"ImageId": ami, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro", **extra}
        with pytest.raises(ClientError) as e:
            ec2.run_instances(**params)
        assert _code(e) == code, (extra, e.value.response["Error"])
    assert ec2.describe_instances()["Reservations"] == before
    assert len(ec2.describe_volumes()["Volumes"]) == volumes


def test_modify_type_only_when_stopped_and_termination_protection(nimbus):
    ec2 = nimbus.client("ec2", region="us-west-2")
    iid = ec2.run_instances(ImageId=_ami(nimbus, "us-west-2"), MinCount=1, MaxCount=1, InstanceType="t3.micro",
                            DisableApiTermination=True)["Instances"][0]["InstanceId"]
    nimbus.advance_clock(10)
    with pytest.raises(ClientError) as e:
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.large"})
    assert _code(e) == "IncorrectInstanceState"
    assert _instance(ec2, iid)["InstanceType"] == "t3.micro"
    with pytest.raises(ClientError) as e:
        ec2.terminate_instances(InstanceIds=[iid])
    assert _code(e) == "OperationNotPermitted"
    ec2.stop_instances(InstanceIds=[iid])
    nimbus.advance_clock(10)
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.large"})
    assert _instance(ec2, iid)["InstanceType"] == "t3.large"
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])
    assert _instance(ec2, iid)["State"]["Name"] == "shutting-down"


def test_describe_pages_filters_and_status(nimbus):
    ec2 = nimbus.client("ec2", region="ap-southeast-2")
    ami = _ami(nimbus, "ap-southeast-2")
    run = ec2.run_instances(ImageId=ami, MinCount=12, MaxCount=12, InstanceType="t3.nano",
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "blue"}]}])
    ids = {i["InstanceId"] for i in run["Instances"]}
    other = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="c5.large")["Instances"][0]["InstanceId"]
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 5, **({"NextToken": token} if token else {})}
        page = ec2.describe_instances(**kwargs)
        batch = [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
        assert len(batch) <= 5
        seen += batch
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and set(seen) == ids | {other} and len(seen) == 13
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:team", "Values": ["bl*"]}])
    assert {i["InstanceId"] for r in tagged["Reservations"] for i in r["Instances"]} == ids
    by_type = ec2.describe_instances(Filters=[{"Name": "instance-type", "Values": ["c5.large"]},
                                              {"Name": "instance-state-name", "Values": ["pending"]}])
    assert [i["InstanceId"] for r in by_type["Reservations"] for i in r["Instances"]] == [other]
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert _code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(MaxResults=3)
    assert _code(e) == "InvalidParameterValue"
    assert ec2.describe_instance_status()["InstanceStatuses"] == []  # pending ones are not listed
    nimbus.advance_clock(10)
    status = ec2.describe_instance_status(InstanceIds=[other])["InstanceStatuses"][0]
    assert status["InstanceState"]["Name"] == "running" and status["InstanceStatus"]["Status"] == "initializing"
    nimbus.advance_clock(120)
    assert ec2.describe_instance_status(InstanceIds=[other])["InstanceStatuses"][0]["SystemStatus"]["Status"] == "ok"
    console = ec2.get_console_output(InstanceId=other)
    assert "cloud-init" in console["Output"]  # botocore decodes the base64 itself
    ec2.terminate_instances(InstanceIds=list(ids) + [other])


def test_instances_survive_restart(fresh_nimbus, tmp_path):
    server = fresh_nimbus(tmp_path / "d")
    ec2 = server.client("ec2")
    ami = _ami(server)
    ec2.create_key_pair(KeyName="kept")
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro", KeyName="kept")["Instances"][0]["InstanceId"]
    server.advance_clock(10)
    ip = _instance(ec2, iid)["PublicIpAddress"]
    server.kill()
    again = fresh_nimbus(tmp_path / "d")
    ec2 = again.client("ec2")
    inst = _instance(ec2, iid)
    assert inst["State"]["Name"] == "running" and inst["PublicIpAddress"] == ip and inst["KeyName"] == "kept"
    assert ec2.describe_key_pairs(KeyNames=["kept"])["KeyPairs"]
    assert len(ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]) == 1


def test_instance_profile_needs_pass_role(nimbus):
    iam = nimbus.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=trust)["Role"]
    iam.create_instance_profile(InstanceProfileName="web-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
    iam.create_user(UserName="deployer")
    run_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "ssm:GetParameter"], "Resource": "*"}]}
    iam.put_user_policy(UserName="deployer", PolicyName="ec2", PolicyDocument=json.dumps(run_only))
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    ec2 = nimbus.client("ec2", region="eu-south-1" if False else "us-east-1", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    ami = _ami(nimbus)
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro", IamInstanceProfile={"Name": "web-profile"})
    assert _code(e) == "UnauthorizedOperation" and "iam:PassRole" in e.value.response["Error"]["Message"]
    run_only["Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": role["Arn"]})
    iam.put_user_policy(UserName="deployer", PolicyName="ec2", PolicyDocument=json.dumps(run_only))
    inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro", IamInstanceProfile={"Name": "web-profile"})["Instances"][0]
    assert inst["IamInstanceProfile"]["Arn"].endswith(":instance-profile/web-profile")
    nimbus.client("ec2").terminate_instances(InstanceIds=[inst["InstanceId"]])
