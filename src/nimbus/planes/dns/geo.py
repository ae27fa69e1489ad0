"""Where a DNS client is: address ranges → region / geolocation / VPC, and distances.

Nimbus has no GeoIP database: the maps come from settings (``NIMBUS_DNS_LATENCY_MAP``,
``NIMBUS_DNS_GEO_MAP``, ``NIMBUS_DNS_VPC_MAP``) as ``CIDR=value`` pairs, most specific
range first.  Clients outside every range are in ``NIMBUS_REGION`` and have no
geolocation (so they get the default geolocation record).
"""

from __future__ import annotations

import ipaddress
import math
from typing import Generic, TypeVar

T = TypeVar("T")

# Approximate coordinates of AWS regions (latitude, longitude).
REGION_COORDS: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4), "us-east-2": (40.0, -83.0), "us-west-1": (37.4, -121.9),
    "us-west-2": (45.8, -119.7), "ca-central-1": (45.5, -73.6), "ca-west-1": (51.0, -114.1),
    "sa-east-1": (-23.5, -46.6), "mx-central-1": (20.6, -100.4),
    "eu-west-1": (53.3, -6.3), "eu-west-2": (51.5, -0.1), "eu-west-3": (48.9, 2.4),
    "eu-central-1": (50.1, 8.7), "eu-central-2": (47.4, 8.5), "eu-north-1": (59.3, 18.1),
    "eu-south-1": (45.5, 9.2), "eu-south-2": (41.6, -0.9),
    "me-south-1": (26.1, 50.6), "me-central-1": (25.2, 55.3), "il-central-1": (32.1, 34.8),
    "af-south-1": (-33.9, 18.4),
    "ap-east-1": (22.3, 114.2), "ap-south-1": (19.1, 72.9), "ap-south-2": (17.4, 78.5),
    "ap-northeast-1": (35.7, 139.7), "ap-northeast-2": (37.6, 127.0), "ap-northeast-3": (34.7, 135.5),
    "ap-southeast-1": (1.35, 103.8), "ap-southeast-2": (-33.9, 151.2), "ap-southeast-3": (-6.2, 106.8),
    "ap-southeast-4": (-37.8, 145.0), "ap-southeast-5": (3.1, 101.7),
    "cn-north-1": (39.9, 116.4), "cn-northwest-1": (37.5, 105.2),
    "us-gov-west-1": (45.6, -121.2), "us-gov-east-1": (40.0, -83.0),
}

# Continent of each country (ISO 3166-1 alpha-2), as Route 53's geolocation groups them.
_CONTINENTS = {
    "AF": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW "
          "MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    "AN": "AQ BV GS HM TF",
    "AS": "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV "
          "MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
    "EU": "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC "
          "MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
    "NA": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR SV "
          "SX TC TT US VC VG VI",
    "OC": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
    "SA": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
}
COUNTRY_CONTINENT: dict[str, str] = {c: cont for cont, codes in _CONTINENTS.items() for c in codes.split()}
CONTINENTS = frozenset(_CONTINENTS)


def continent_of(country: str) -> str | None:
    return COUNTRY_CONTINENT.get(country.upper())


class RangeMap(Generic[T]):
    """CIDR ranges → value, most specific first; exact addresses through a dict."""

    def __init__(self, pairs: list[tuple[str, T]]) -> None:
        nets = []
        for cidr, value in pairs:
            try:
                nets.append((ipaddress.ip_network(cidr.strip(), strict=False), value))
            except ValueError:
                continue
        nets.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self._nets = nets

    @classmethod
    def parse(cls, text: str) -> "RangeMap[str]":
        pairs = []
        for item in text.split(","):
            if "=" in item:
                cidr, _, value = item.partition("=")
                pairs.append((cidr.strip(), value.strip()))
        return cls(pairs)  # type: ignore[return-value]

    def __bool__(self) -> bool:
        return bool(self._nets)

    def lookup(self, address: str) -> T | None:
        if not self._nets:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for net, value in self._nets:
            if ip.version == net.version and ip in net:
                return value
        return None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def parse_geo(value: str) -> tuple[str | None, str | None, str | None]:
    """``DE`` / ``US-WA`` / ``EU`` → (continent, country, subdivision)."""
    value = value.strip().upper()
    if value in CONTINENTS and value not in COUNTRY_CONTINENT:
        return value, None, None
    country, _, sub = value.partition("-")
    return continent_of(country), country, sub or None
