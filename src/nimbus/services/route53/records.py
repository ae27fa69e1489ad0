"""Route 53 resource record sets: names, ordering, value validation and wire rdata.

Shared by the control plane (validation of change batches, listing order) and the DNS
plane (which packs the values it serves).  Records are stored as the API's
``ResourceRecordSet`` documents, names lower-cased and absolute, kind ``route53:rrset``,
scope the account, key ``<zone id>|<reversed name>\x01<type>\x01<set identifier>`` so that a
key-ordered scan is AWS's listing order (names by reversed labels, then type) — see
``rrset_key``.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any

from dnslib import AAAA, CAA, CNAME, DS, MX, NAPTR, NS, PTR, QTYPE, SOA, SRV, TXT, A, DNSBuffer, DNSLabel

ZONE_KIND = "route53:zone"
RRSET_KIND = "route53:rrset"
CHANGE_KIND = "route53:change"
HEALTHCHECK_KIND = "route53:healthcheck"
HEALTH_KIND = "route53:health"  # {"healthy": bool} per health check, written only when it flips
HEALTHSTATE_KIND = "route53:healthcheck-state"  # per-checker observations, written on every probe
POLICY_KIND = "route53:traffic-policy"  # key "<policy id>/<version:06d>"
INSTANCE_KIND = "route53:traffic-policy-instance"  # key instance id
CIDR_KIND = "route53:cidr-collection"  # key collection id; {"Locations": {name: [cidr, ...]}}

TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT")
ALIAS_TYPES = ("A", "AAAA", "CNAME", "CAA", "MX", "NAPTR", "PTR", "SPF", "SRV", "TXT")

_LABEL = re.compile(r"^[a-z0-9_\-*]([a-z0-9_\-]*)$|^\\[0-7]{3}.*$")


def normalize_name(name: str) -> str:
    """Lower-case, absolute, octal escapes (``\\052``) decoded."""
    name = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name.strip())
    name = name.lower()
    if not name.endswith("."):
        name += "."
    return name


def display_name(name: str) -> str:
    """As Route 53 lists names: characters other than a-z 0-9 - _ . as octal escapes."""
    out = []
    for ch in name:
        if ch.isalnum() and ch.isascii() or ch in "-_.":
            out.append(ch)
        else:
            out.append("\\%03o" % ord(ch))
    return "".join(out)


def reversed_name(name: str) -> str:
    labels = [label for label in name.rstrip(".").split(".") if label]
    return ".".join(reversed(labels))


def rrset_key(zone_id: str, name: str, rtype: str | None = None, set_id: str | None = None) -> str:
    """Labels reversed and compared label by label (\x02 between labels, \x01 ends the
    name), so a key-ordered scan lists names as Route 53 does, then types, then set ids."""
    key = f"{zone_id}|" + "\x02".join(reversed(name.rstrip(".").split("."))) + "\x01"
    if rtype is None:
        return key
    return key + rtype + "\x01" + (set_id or "")


def zone_prefix(zone_id: str) -> str:
    return f"{zone_id}|"


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def valid_domain(name: str) -> bool:
    if len(name) > 255:
        return False
    labels = name.rstrip(".").split(".")
    if name == ".":
        return True
    for label in labels:
        if not label or len(label) > 63:
            return False
    return True


# -- values ----------------------------------------------------------------------------


class BadValue(ValueError):
    """A record value of the wrong form; the message is AWS's."""


def _fatal(code: str, detail: str, value: str) -> BadValue:
    return BadValue(f"Invalid Resource Record: 'FATAL problem: {code} ({detail}) encountered with '{value}''")


def _domain(value: str, code: str) -> DNSLabel:
    text = value.strip()
    if not text or " " in text or not valid_domain(text if text.endswith(".") else text + "."):
        raise _fatal(code, "Value is not a valid domain name", value)
    return DNSLabel(text)


def _ints(parts: list[str], value: str, code: str, bounds: list[int]) -> list[int]:
    out = []
    for part, bound in zip(parts, bounds):
        if not part.isdigit() or int(part) > bound:
            raise _fatal(code, "Value is not a valid number", value)
        out.append(int(part))
    return out


def _strings(value: str, code: str) -> list[str]:
    if not value.strip():
        raise _fatal(code, "Value is empty", value)
    if '"' not in value:
        parts = [value]
    else:
        try:
            parts = shlex.split(value, posix=True)
        except ValueError:
            raise _fatal(code, "Unbalanced quotes", value) from None
    for part in parts:
        if len(part.encode()) > 255:
            raise _fatal(code, "Value is too long", value)
    return parts


def parse_value(rtype: str, value: str) -> Any:
    """The dnslib rdata of one value; ``BadValue`` with AWS's message when malformed."""
    parts = value.split()
    if rtype == "A":
        try:
            return A(str(ipaddress.IPv4Address(value.strip())))
        except ValueError:
            raise _fatal("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address", value) from None
    if rtype == "AAAA":
        try:
            return AAAA(str(ipaddress.IPv6Address(value.strip())))
        except ValueError:
            raise _fatal("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address", value) from None
    if rtype in ("CNAME", "NS", "PTR"):
        cls = {"CNAME": CNAME, "NS": NS, "PTR": PTR}[rtype]
        return cls(_domain(value, f"DomainLabelEmpty"))
    if rtype == "MX":
        if len(parts) != 2:
            raise _fatal("MXRRDATAIllegalFormat", "Value must be a priority and a domain name", value)
        (pref,) = _ints(parts[:1], value, "MXRRDATAIllegalPriority", [65535])
        return MX(_domain(parts[1], "MXRRDATAIllegalDomain"), pref)
    if rtype == "SRV":
        if len(parts) != 4:
            raise _fatal("SRVRRDATAIllegalFormat", "Value must be priority weight port target", value)
        pri, weight, port = _ints(parts[:3], value, "SRVRRDATAIllegalNumber", [65535, 65535, 65535])
        return SRV(pri, weight, port, _domain(parts[3], "SRVRRDATAIllegalDomain"))
    if rtype in ("TXT", "SPF"):
        strings = _strings(value, "InvalidCharacterString")
        rd = TXT([s.encode() for s in strings])
        return rd
    if rtype == "CAA":
        try:
            items = shlex.split(value)
        except ValueError:
            items = []
        if len(items) != 3 or not items[0].isdigit() or int(items[0]) > 255 or items[1] not in ("issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail"):
            raise _fatal("CAARRDATAIllegalFormat", "Value must be flags tag \"value\"", value)
        return CAA(int(items[0]), items[1], items[2])
    if rtype == "DS":
        if len(parts) != 4 or not re.fullmatch(r"[0-9a-fA-F]+", parts[3]) or len(parts[3]) % 2:
            raise _fatal("DSRRDATAIllegalFormat", "Value must be key-tag algorithm digest-type digest", value)
        tag, alg, dtype = _ints(parts[:3], value, "DSRRDATAIllegalNumber", [65535, 255, 255])
        return DS(tag, alg, dtype, bytes.fromhex(parts[3]))
    if rtype == "NAPTR":
        try:
            items = shlex.split(value)
        except ValueError:
            items = []
        if len(items) != 6 or not items[0].isdigit() or not items[1].isdigit():
            raise _fatal("NAPTRRDATAIllegalFormat", "Value must be order preference \"flags\" \"service\" \"regexp\" replacement", value)
        return NAPTR(int(items[0]), int(items[1]), items[2].encode(), items[3].encode(), items[4].encode(), _domain(items[5], "NAPTRRDATAIllegalReplacement"))
    if rtype == "SOA":
        if len(parts) != 7:
            raise _fatal("SOARRDATAIllegalFormat", "Value must be mname rname serial refresh retry expire minimum", value)
        times = _ints(parts[2:], value, "SOARRDATAIllegalNumber", [2**32 - 1] * 5)
        return SOA(_domain(parts[0], "SOARRDATAIllegalMname"), _domain(parts[1], "SOARRDATAIllegalRname"), times)
    raise BadValue(f"Unsupported record type {rtype}")


def rdata_wire(rdata: Any) -> bytes:
    """Uncompressed wire form of one rdata (safe to splice into any message)."""
    buffer = DNSBuffer()
    buffer.names = _NoCompression()
    rdata.pack(buffer)
    return bytes(buffer.data)


class _NoCompression(dict):
    def __setitem__(self, key, value) -> None:  # never remember a name: no pointers
        return None


QTYPE_NUM = {name: getattr(QTYPE, name) for name in TYPES}


def routing_policy(rrset: dict[str, Any]) -> str:
    """simple | weighted | failover | latency | geolocation | geoproximity | multivalue | cidr."""
    if "Weight" in rrset:
        return "weighted"
    if "Failover" in rrset:
        return "failover"
    if "Region" in rrset:
        return "latency"
    if "GeoLocation" in rrset:
        return "geolocation"
    if "GeoProximityLocation" in rrset:
        return "geoproximity"
    if "MultiValueAnswer" in rrset:
        return "multivalue"
    if "CidrRoutingConfig" in rrset:
        return "cidr"
    return "simple"
