"""Helpers shared by the compute modules: id checks with AWS's errors, pages, DryRun."""

from __future__ import annotations

import base64
from typing import Any, Iterable

from ...errors import ServiceError
from ...regions import availability_zones
from .ids import is_id

# prefix → (error noun, how the NotFound message names one and several)
_NOUNS: dict[str, tuple[str, str, str]] = {
    "i": ("InvalidInstanceID", "The instance ID '{}' does not exist", "The instance IDs '{}' do not exist"),
    "ami": ("InvalidAMIID", "The image id '[{}]' does not exist", "The image ids '[{}]' do not exist"),
    "vol": ("InvalidVolume", "The volume '{}' does not exist.", "The volumes '{}' do not exist."),
    "snap": ("InvalidSnapshot", "The snapshot '{}' does not exist.", "The snapshots '{}' do not exist."),
    "sir": ("InvalidSpotInstanceRequestID", "The spot instance request ID '{}' does not exist", "The spot instance request IDs '{}' do not exist"),
    "key": ("InvalidKeyPair", "The key pair ID '{}' does not exist", "The key pair IDs '{}' do not exist"),
}


def malformed(prefix: str, value: str) -> ServiceError:
    noun = _NOUNS[prefix][0]
    if prefix == "i":
        return ServiceError(f"{noun}.Malformed", f'Invalid id: "{value}"', 400)
    return ServiceError(f"{noun}.Malformed", f'Invalid id: "{value}" (expecting "{prefix}-...")', 400)


def not_found(prefix: str, values: Iterable[str]) -> ServiceError:
    values = list(values)
    noun, one, many = _NOUNS[prefix]
    if len(values) == 1:
        return ServiceError(f"{noun}.NotFound", one.format(values[0]), 400)
    return ServiceError(f"{noun}.NotFound", many.format(", ".join(values)), 400)


def check_ids(prefix: str, values: Iterable[str]) -> list[str]:
    values = list(values)
    for value in values:
        if not isinstance(value, str) or not is_id(value, prefix):
            raise malformed(prefix, str(value))
    return values


def dry_run(params: dict[str, Any]) -> None:
    """Called once every check has passed: DryRun answers success as an error, as AWS does."""
    if params.get("DryRun"):
        raise ServiceError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except Exception:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{token}' for nextToken", 400) from None


def max_results(params: dict[str, Any], *, minimum: int = 5, maximum: int = 1000, default: int | None = None,
                name: str = "MaxResults") -> int | None:
    value = params.get(name)
    if value is None:
        return default
    if not minimum <= value <= maximum:
        raise ServiceError("InvalidParameterValue", f"Value ( {value} ) for parameter maxResults is invalid. "
                           f"Expecting a value between {minimum} and {maximum}.", 400)
    return value


def page(items: list[dict[str, Any]], params: dict[str, Any], key: str, *, minimum: int = 5, maximum: int = 1000) -> tuple[list[dict[str, Any]], str | None]:
    """A page of ``items`` (sorted by ``key``) after the NextToken, and the next token."""
    limit = max_results(params, minimum=minimum, maximum=maximum)
    after = decode_token(params.get("NextToken"))
    if after is not None:
        items = [i for i in items if i[key] > after]
    if limit is None or len(items) <= limit:
        return items, None
    return items[:limit], encode_token(items[limit - 1][key])


def strip_internal(doc: dict[str, Any]) -> dict[str, Any]:
    if "_nimbus" in doc:
        doc = dict(doc)
        del doc["_nimbus"]
    return doc


def requested_zone(ctx: Any, params: dict[str, Any]) -> tuple[str, str]:
    """(zone name, zone id) a request names by ``AvailabilityZone`` or ``AvailabilityZoneId`` (required)."""
    zones = {z["ZoneName"]: z["ZoneId"] for z in availability_zones(ctx.region)}
    zone = params.get("AvailabilityZone")
    if not zone and params.get("AvailabilityZoneId"):
        zone = next((name for name, zid in zones.items() if zid == params["AvailabilityZoneId"]), None)
        if zone is None:
            raise ServiceError("InvalidParameterValue", f"Invalid availability zone ID: [{params['AvailabilityZoneId']}]", 400)
    if not zone:
        raise ServiceError("MissingParameter", "The request must contain the parameter AvailabilityZone", 400)
    if zone not in zones:
        raise ServiceError("InvalidParameterValue", f"Invalid availability zone: [{zone}]", 400)
    return zone, zones[zone]
