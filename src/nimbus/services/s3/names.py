"""S3's bucket naming rules (general purpose buckets)."""

from __future__ import annotations

import ipaddress
import re

from ...errors import ServiceError

_VALID = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid bucket name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return "Bucket names must be between 3 and 63 characters long"
    if not _VALID.match(name):
        return "Bucket names can consist only of lowercase letters, numbers, dots and hyphens, and must begin and end with a letter or number"
    if ".." in name:
        return "Bucket names must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
        return "Bucket names must not be formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "Bucket names must not use a prefix or suffix reserved by Amazon S3"
    return None


def check_bucket_name(name: str) -> None:
    problem = bucket_name_problem(name)
    if problem:
        raise ServiceError("InvalidBucketName", "The specified bucket is not valid.", 400, fields={"BucketName": name})
