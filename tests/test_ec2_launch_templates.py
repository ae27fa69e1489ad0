"""EC2 launch templates: versions, $Latest/$Default, and RunInstances merging a template."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
REGION = "eu-west-3"


def _code(e):
    return e.value.response["Error"]["Code"]


def _ami(nimbus, region=REGION):
    return nimbus.client("ssm", region=region).get_parameter(Name=AL2023)["Parameter"]["Value"]


def test_versions_default_latest_modify_delete(nimbus):
    ec2 = nimbus.client("ec2", region=REGION)
    ami = _ami(nimbus)
    created = ec2.create_launch_template(
        LaunchTemplateName="web-lt", VersionDescription="first",
        LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro", "Monitoring": {"Enabled": True},
                            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "blue"}]}])["LaunchTemplate"]
    lt_id = created["LaunchTemplateId"]
    assert lt_id.startswith("lt-") and len(lt_id) == 20
    assert created["DefaultVersionNumber"] == 1 and created["LatestVersionNumber"] == 1
    assert created["Tags"] == [{"Key": "team", "Value": "blue"}]

    v2 = ec2.create_launch_template_version(LaunchTemplateId=lt_id, SourceVersion="1", VersionDescription="bigger",
                                            LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    assert v2["VersionNumber"] == 2 and v2["DefaultVersion"] is False
    # SourceVersion: members not given are inherited from version 1
    assert v2["LaunchTemplateData"]["ImageId"] == ami and v2["LaunchTemplateData"]["Monitoring"] == {"Enabled": True}
    assert v2["LaunchTemplateData"]["InstanceType"] == "m5.large"
    v3 = ec2.create_launch_template_version(LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": ami, "InstanceType": "c5.large"})
    assert v3["LaunchTemplateVersion"]["VersionNumber"] == 3 and "Monitoring" not in v3["LaunchTemplateVersion"]["LaunchTemplateData"]

    got = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=["$Latest", "$Default"])["LaunchTemplateVersions"]
    assert [(v["VersionNumber"], v["DefaultVersion"]) for v in got] == [(1, True), (3, False)]
    ranged = ec2.describe_launch_template_versions(LaunchTemplateName="web-lt", MinVersion="2", MaxVersion="$Latest")["LaunchTemplateVersions"]
    assert [v["VersionNumber"] for v in ranged] == [2, 3]
    filtered = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Filters=[{"Name": "instance-type", "Values": ["m5.*"]}])
    assert [v["VersionNumber"] for v in filtered["LaunchTemplateVersions"]] == [2]
    paged = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, MaxResults=2)
    rest = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, MaxResults=2, NextToken=paged["NextToken"])
    assert [v["VersionNumber"] for v in paged["LaunchTemplateVersions"] + rest["LaunchTemplateVersions"]] == [1, 2, 3]
    assert "NextToken" not in rest

    modified = ec2.modify_launch_template(LaunchTemplateId=lt_id, DefaultVersion="2")["LaunchTemplate"]
    assert modified["DefaultVersionNumber"] == 2
    default = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=["$Default"])["LaunchTemplateVersions"]
    assert [v["VersionNumber"] for v in default] == [2] and default[0]["DefaultVersion"]

    deleted = ec2.delete_launch_template_versions(LaunchTemplateId=lt_id, Versions=["2", "3", "9"])
    assert [v["VersionNumber"] for v in deleted["SuccessfullyDeletedLaunchTemplateVersions"]] == [3]
    failures = {v["VersionNumber"]: v["ResponseError"]["Code"] for v in deleted["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert failures == {2: "unexpectedError", 9: "launchTemplateVersionDoesNotExist"}
    # a version number is never reused
    v4 = ec2.create_launch_template_version(LaunchTemplateId=lt_id, LaunchTemplateData={"ImageId": ami})["LaunchTemplateVersion"]
    assert v4["VersionNumber"] == 4

    listed = ec2.describe_launch_templates(Filters=[{"Name": "tag:team", "Values": ["blue"]}])["LaunchTemplates"]
    assert [t["LaunchTemplateId"] for t in listed] == [lt_id] and listed[0]["LatestVersionNumber"] == 4
    ec2.delete_launch_template(LaunchTemplateName="web-lt")
    with pytest.raises(ClientError) as e:
        ec2.describe_launch_templates(LaunchTemplateIds=[lt_id])
    assert _code(e) == "InvalidLaunchTemplateId.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_launch_template_versions(LaunchTemplateName="web-lt")
    assert _code(e) == "InvalidLaunchTemplateName.NotFoundException"


def test_bad_input_changes_nothing(nimbus):
    ec2 = nimbus.client("ec2", region=REGION)
    ami = _ami(nimbus)
    ec2.create_launch_template(LaunchTemplateName="dup-lt", LaunchTemplateData={"ImageId": ami})
    with pytest.raises(ClientError) as e:
        ec2.create_launch_template(LaunchTemplateName="dup-lt", LaunchTemplateData={"ImageId": ami, "InstanceType": "m5.large"})
    assert _code(e) == "InvalidLaunchTemplateName.AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        ec2.create_launch_template(LaunchTemplateName="x", LaunchTemplateData={"ImageId": ami})
    assert _code(e) == "InvalidLaunchTemplateName.MalformedException"
    with pytest.raises(ClientError) as e:
        ec2.create_launch_template(LaunchTemplateName="bad-type", LaunchTemplateData={"InstanceType": "z9.huge"})
    assert _code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.describe_launch_templates(LaunchTemplateIds=["lt-123"])
    assert _code(e) == "InvalidLaunchTemplateId.Malformed"
    with pytest.raises(ClientError) as e:
        ec2.describe_launch_templates(LaunchTemplateIds=["lt-0123456789abcdef0"])
    assert _code(e) == "InvalidLaunchTemplateId.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_launch_template_versions(LaunchTemplateName="dup-lt", Versions=["7"])
    assert _code(e) == "InvalidLaunchTemplateId.VersionNotFound"
    with pytest.raises(ClientError) as e:
        ec2.modify_launch_template(LaunchTemplateName="dup-lt", DefaultVersion="5")
    assert _code(e) == "InvalidLaunchTemplateId.VersionNotFound"
    with pytest.raises(ClientError) as e:
        ec2.create_launch_template(LaunchTemplateName="dry-lt", LaunchTemplateData={"ImageId": ami}, DryRun=True)
    assert _code(e) == "DryRunOperation"
    names = {t["LaunchTemplateName"]: t for t in ec2.describe_launch_templates()["LaunchTemplates"]}
    assert "dry-lt" not in names and "bad-type" not in names
    assert names["dup-lt"]["LatestVersionNumber"] == 1 and names["dup-lt"]["DefaultVersionNumber"] == 1
    # templates are regional
    assert nimbus.client("ec2", region="eu-west-2").describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": ["dup-lt"]}])["LaunchTemplates"] == []


def test_run_instances_merges_template(nimbus):
    ec2 = nimbus.client("ec2", region=REGION)
    ami = _ami(nimbus)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="lt-web", Description="web", VpcId=vpc)["GroupId"]
    user_data = base64.b64encode(b"#!/bin/bash\necho hi\n").decode()
    lt = ec2.create_launch_template(LaunchTemplateName="merge-lt", LaunchTemplateData={
        "ImageId": ami, "InstanceType": "t3.small", "SecurityGroupIds": [sg], "UserData": user_data,
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 3},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}, {"Key": "env", "Value": "dev"}]}],
    })["LaunchTemplate"]
    ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "m5.large"})

    # $Default (version 1), request overrides the type and one tag; the rest comes from the template
    run = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.medium",
                            LaunchTemplate={"LaunchTemplateName": "merge-lt"},
                            MetadataOptions={"HttpPutResponseHopLimit": 1},
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "env", "Value": "prod"}]}])
    inst = run["Instances"][0]
    assert inst["InstanceType"] == "t3.medium" and inst["ImageId"] == ami and inst["SubnetId"] == subnet
    assert [g["GroupId"] for g in inst["SecurityGroups"]] == [sg]
    assert inst["MetadataOptions"]["HttpTokens"] == "required" and inst["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["app"] == "web" and tags["env"] == "prod"
    assert tags["aws:ec2launchtemplate:id"] == lt["LaunchTemplateId"] and tags["aws:ec2launchtemplate:version"] == "1"
    attr = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
    assert attr["UserData"]["Value"] == user_data

    latest = ec2.run_instances(MinCount=2, MaxCount=2, SubnetId=subnet,
                               LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"})["Instances"]
    assert {i["InstanceType"] for i in latest} == {"m5.large"}
    assert {t["Value"] for i in latest for t in i["Tags"] if t["Key"] == "aws:ec2launchtemplate:version"} == {"2"}
    found = ec2.describe_instances(Filters=[{"Name": "tag:aws:ec2launchtemplate:id", "Values": [lt["LaunchTemplateId"]]}])
    assert sum(len(r["Instances"]) for r in found["Reservations"]) == 3

    # with the AWS CLI, by name and version number
    out = json.loads(nimbus.aws("ec2", "run-instances", "--launch-template", "LaunchTemplateName=merge-lt,Version=2",
                                "--subnet-id", subnet, region=REGION).stdout)
    assert out["Instances"][0]["InstanceType"] == "m5.large"

    before = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
    for template, code in (({"LaunchTemplateName": "merge-lt", "Version": "9"}, "InvalidLaunchTemplateId.VersionNotFound"),
                           ({"LaunchTemplateName": "no-such-lt"}, "InvalidLaunchTemplateName.NotFoundException"),
                           ({"LaunchTemplateId": "lt-0000000000000000f"}, "InvalidLaunchTemplateId.NotFound"),
                           ({"LaunchTemplateId": "lt-xyz"}, "InvalidLaunchTemplateId.Malformed")):
        with pytest.raises(ClientError) as e:
            ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet, LaunchTemplate=template)
        assert _code(e) == code, template
    # the template's type is checked like a request's
    ec2.create_launch_template_version(LaunchTemplateName="merge-lt", SourceVersion="1", LaunchTemplateData={"InstanceType": "m6g.large"})
    with pytest.raises(ClientError) as e:
        ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet, LaunchTemplate={"LaunchTemplateName": "merge-lt", "Version": "$Latest"})
    assert _code(e) == "InvalidParameterValue"
    assert sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]) == before
