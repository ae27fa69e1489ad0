"""Amazon EC2: one provider composed of per-area operation mixins.

``Ec2Provider`` inherits the operations of each area module (regions here, networking in
``networking``, compute in ``compute`` …); each area keeps its records and rules in its
own modules and shares ids (``ids``), tags (``tags``) and filters (``filters``).
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import availability_zones, opt_in_required, regions
from ..base import Provider
from . import tags
from .filters import apply_filters


class RegionOperations:
    """Regions and availability zones, from botocore's endpoint data."""

    def describe_regions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        names = params.get("RegionNames") or []
        known = regions()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ServiceError("InvalidParameterValue", f"Invalid region names: {', '.join(unknown)}", 400)
        all_regions = params.get("AllRegions", False)
        items = []
        for name in sorted(known):
            if names and name not in names:
                continue
            opt_in = opt_in_required(name)
            # An account is opted in to the original regions only, as a new AWS account is.
            if opt_in and not all_regions and not names:
                continue
            items.append(
                {
                    "RegionName": name,
                    "Endpoint": f"ec2.{name}.amazonaws.com",
                    "OptInStatus": "not-opted-in" if opt_in else "opt-in-not-required",
                }
            )
        items = apply_filters(
            items,
            params.get("Filters"),
            {"endpoint": "Endpoint", "region-name": "RegionName", "opt-in-status": "OptInStatus"},
        )
        return {"Regions": items}

    def describe_availability_zones(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zones = [
            {
                "ZoneName": z["ZoneName"],
                "ZoneId": z["ZoneId"],
                "State": "available",
                "OptInStatus": "opt-in-not-required",
                "Messages": [],
                "RegionName": ctx.region,
                "GroupName": ctx.region,
                "NetworkBorderGroup": ctx.region,
                "ZoneType": "availability-zone",
            }
            for z in availability_zones(ctx.region)
        ]
        names = params.get("ZoneNames") or []
        ids = params.get("ZoneIds") or []
        for wanted, key in ((names, "ZoneName"), (ids, "ZoneId")):
            missing = [w for w in wanted if w not in {z[key] for z in zones}]
            if missing:
                raise ServiceError(
                    "InvalidParameterValue",
                    f"The {'zone names' if key == 'ZoneName' else 'zone ids'} {', '.join(missing)} are not valid in {ctx.region}",
                    400,
                )
            if wanted:
                zones = [z for z in zones if z[key] in wanted]
        zones = apply_filters(
            zones,
            params.get("Filters"),
            {
                "zone-name": "ZoneName",
                "zone-id": "ZoneId",
                "state": "State",
                "region-name": "RegionName",
                "group-name": "GroupName",
                "opt-in-status": "OptInStatus",
                "zone-type": "ZoneType",
                "network-border-group": "NetworkBorderGroup",
            },
        )
        return {"AvailabilityZones": zones}


class TagOperations:
    def create_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return tags.create_tags(ctx, params)

    def delete_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return tags.delete_tags(ctx, params)

    def describe_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return tags.describe_tags(ctx, params)


def _areas() -> tuple[type, ...]:
    """Operation mixins of every EC2 area that exists (areas land one by one)."""
    import importlib

    found: list[type] = []
    for module_name, class_name in (("networking", "NetworkingOperations"), ("compute", "ComputeOperations")):
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module_name}":
                raise
            continue
        found.append(getattr(module, class_name))
    return tuple(found)


class Ec2Provider(*_areas(), RegionOperations, TagOperations, Provider):  # type: ignore[misc]
    service = "ec2"
