"""Regions and availability zones, from botocore's endpoint data (the clients' own list)."""

from __future__ import annotations

import functools

import botocore.loaders

# AWS names zones a, b, c ...; most regions have three, some more.  botocore's data
# lists regions but not zones, so the zone count per region lives here.
_ZONE_COUNT = {"us-east-1": 6, "us-west-2": 4, "ap-northeast-1": 3, "ap-northeast-2": 4, "us-west-1": 2, "ca-central-1": 3}
_ZONE_IDS = {"us-east-1": "use1", "us-east-2": "use2", "us-west-1": "usw1", "us-west-2": "usw2"}


@functools.lru_cache(maxsize=1)
def _endpoints() -> dict:
    return botocore.loaders.Loader().load_data("endpoints")


@functools.lru_cache(maxsize=None)
def regions(partition: str = "aws") -> dict[str, str]:
    """Region name → description for a partition."""
    for p in _endpoints()["partitions"]:
        if p["partition"] == partition:
            return {name: info.get("description", name) for name, info in p["regions"].items()}
    return {}


@functools.lru_cache(maxsize=None)
def all_regions() -> frozenset[str]:
    names: set[str] = set()
    for p in _endpoints()["partitions"]:
        names.update(p["regions"])
    return frozenset(names)


def is_region(name: str) -> bool:
    return name in all_regions()


def partition_of(region: str) -> str:
    for p in _endpoints()["partitions"]:
        if region in p["regions"]:
            return p["partition"]
    return "aws"


def opt_in_required(region: str) -> bool:
    """Regions launched after March 2019 need opting in (af-, ap-east-1, me-, ...)."""
    legacy = {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
        "eu-west-3", "eu-central-1", "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ap-southeast-1", "ap-southeast-2", "ap-south-1", "sa-east-1",
    }
    return region not in legacy


def zone_id_prefix(region: str) -> str:
    if region in _ZONE_IDS:
        return _ZONE_IDS[region]
    parts = region.split("-")
    return "".join(p[:3] if i == 0 else p[0] for i, p in enumerate(parts[:-1])) + parts[-1]


def availability_zones(region: str) -> list[dict[str, str]]:
    count = _ZONE_COUNT.get(region, 3)
    prefix = zone_id_prefix(region)
    return [
        {"ZoneName": f"{region}{chr(ord('a') + i)}", "ZoneId": f"{prefix}-az{i + 1}"}
        for i in range(count)
    ]
