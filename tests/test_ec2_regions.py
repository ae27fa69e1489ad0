"""EC2's regions and availability zones come from botocore's endpoint data."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
import botocore.session


def test_describe_regions_matches_botocore(nimbus):
    ec2 = nimbus.client("ec2")
    names = {r["RegionName"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    expected = set(botocore.session.get_session().get_available_regions("ec2"))
    assert expected <= names
    default = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    assert "us-east-1" in default and "eu-west-1" in default
    assert "af-south-1" not in default, "opt-in regions are listed only with AllRegions"
    one = ec2.describe_regions(RegionNames=["eu-west-3"])["Regions"]
    assert one == [{"Endpoint": "ec2.eu-west-3.amazonaws.com", "RegionName": "eu-west-3", "OptInStatus": "opt-in-not-required"}]
    filtered = ec2.describe_regions(Filters=[{"Name": "region-name", "Values": ["eu-*"]}])["Regions"]
    assert filtered and all(r["RegionName"].startswith("eu-") for r in filtered)


def test_describe_regions_bad_name(nimbus):
    with pytest.raises(ClientError) as info:
        nimbus.client("ec2").describe_regions(RegionNames=["mars-north-1"])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_availability_zones_per_region(nimbus, region):
    zones = nimbus.client("ec2", region=region).describe_availability_zones()["AvailabilityZones"]
    assert len(zones) >= 2
    for letter, zone in zip("abcdef", zones):
        assert zone["ZoneName"] == f"{region}{letter}"
        assert zone["RegionName"] == region and zone["State"] == "available"


def test_availability_zone_filters_and_errors(nimbus):
    ec2 = nimbus.client("ec2", region="us-west-2")
    zones = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": ["us-west-2b"]}])["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-west-2b"]
    with pytest.raises(ClientError) as info:
        ec2.describe_availability_zones(ZoneNames=["us-west-2z"])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        ec2.describe_availability_zones(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_cli_describe_availability_zones(nimbus):
    result = nimbus.aws("ec2", "describe-availability-zones", "--query", "AvailabilityZones[].ZoneName",
                        "--output", "text", region="eu-central-1")
    assert result.stdout.split() == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
