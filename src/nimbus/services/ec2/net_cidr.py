"""CIDR rules of VPCs and subnets, as the VPC user guide states them."""

from __future__ import annotations

import ipaddress
from typing import Any

from ...errors import ServiceError

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_v4(cidr: Any, param: str = "cidrBlock") -> ipaddress.IPv4Network:
    try:
        if not isinstance(cidr, str) or "/" not in cidr:
            raise ValueError
        net = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        raise ServiceError("InvalidParameterValue", f"Value ({cidr}) for parameter {param} is invalid. This is not a valid CIDR block.", 400) from None
    return net


def parse_v6(cidr: Any, param: str = "ipv6CidrBlock") -> ipaddress.IPv6Network:
    try:
        if not isinstance(cidr, str) or "/" not in cidr:
            raise ValueError
        return ipaddress.IPv6Network(cidr, strict=False)
    except ValueError:
        raise ServiceError("InvalidParameterValue", f"Value ({cidr}) for parameter {param} is invalid. This is not a valid CIDR block.", 400) from None


def vpc_cidr(cidr: Any) -> ipaddress.IPv4Network:
    """A VPC's IPv4 block: /16 to /28 (``InvalidVpc.Range`` otherwise)."""
    net = parse_v4(cidr)
    if not 16 <= net.prefixlen <= 28:
        raise ServiceError("InvalidVpc.Range", f"The CIDR '{cidr}' is invalid.", 400)
    return net


def subnet_cidr(cidr: Any) -> ipaddress.IPv4Network:
    net = parse_v4(cidr)
    if not 16 <= net.prefixlen <= 28:
        raise ServiceError("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid.", 400)
    return net


def overlaps(a: str, b: str) -> bool:
    na, nb = ipaddress.ip_network(a, strict=False), ipaddress.ip_network(b, strict=False)
    return na.version == nb.version and na.overlaps(nb)


def within(inner: str, outer: str) -> bool:
    ni, no = ipaddress.ip_network(inner, strict=False), ipaddress.ip_network(outer, strict=False)
    return ni.version == no.version and ni.subnet_of(no)  # type: ignore[arg-type]


RFC1918 = [ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def rfc1918_range(net: ipaddress.IPv4Network) -> ipaddress.IPv4Network | None:
    for block in RFC1918:
        if net.subnet_of(block):
            return block
    return None


def usable_count(cidr: str) -> int:
    """Addresses of a subnet less AWS's five reserved ones (network, +1, +2, +3, broadcast)."""
    return ipaddress.ip_network(cidr).num_addresses - 5


def contains_ip(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


def any_cidr(value: Any, param: str) -> str:
    """A CIDR of either family, normalised (for routes, rules and entries)."""
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ServiceError("InvalidParameterValue", f"Value ({value}) for parameter {param} is invalid. This is not a valid CIDR block.", 400) from None
