"""Route 53 health checks: configuration rules, checker locations, real probes.

Each endpoint health check is probed for real (HTTP, HTTPS, TCP, optionally matching a
string in the first 5,120 bytes) from several simulated checker locations.  Each
location keeps its own verdict, flipped after ``FailureThreshold`` consecutive contrary
observations; the check is healthy when more than 18 % of locations say so (AWS's
rule).  Calculated checks count healthy children against ``HealthThreshold``;
CloudWatch-metric checks follow the alarm's state.  Probes run on the simulation clock
(``nimbus.planes.healthchecks``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from typing import Any

from ...errors import ServiceError

# Default checker regions (GetHealthCheckStatus lists one observation per location).
CHECKER_REGIONS = (
    ("us-east-1", "15.177.2.10"), ("us-west-1", "15.177.10.10"), ("us-west-2", "15.177.14.10"),
    ("eu-west-1", "15.177.62.10"), ("ap-southeast-1", "15.177.82.10"), ("ap-southeast-2", "15.177.86.10"),
    ("ap-northeast-1", "15.177.78.10"), ("sa-east-1", "15.177.98.10"),
)
CHECKER_IP_RANGES = ["15.177.0.0/18", "54.183.255.128/26", "54.228.16.0/26", "54.232.40.64/26", "54.241.32.64/26",
                     "54.243.31.192/26", "54.244.52.192/26", "54.245.168.0/26", "54.248.220.0/26", "54.250.253.192/26",
                     "54.251.31.128/26", "54.252.79.128/26", "54.252.254.192/26", "54.255.254.192/26",
                     "107.23.255.0/26", "176.34.159.192/26", "177.71.207.128/26"]
HEALTHY_FRACTION = 0.18
SEARCH_WINDOW = 5120
ENDPOINT_TYPES = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP")
TYPES = ENDPOINT_TYPES + ("CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL")
PROBE_TIMEOUT = 4.0  # AWS: a connection must be made within four seconds


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message)


def _local_addresses() -> set[str]:
    out = {"127.0.0.1", "::1"}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            out.add(str(info[4][0]))
    except OSError:
        pass
    try:
        with open("/proc/net/fib_trie") as fh:
            lines = fh.read().splitlines()
        for i, line in enumerate(lines):
            if "/32 host LOCAL" in line and i > 0:
                out.add(lines[i - 1].split()[-1])
    except OSError:
        pass
    return out


_LOCAL: set[str] | None = None


def check_address(address: str) -> str:
    """An IP address a health check may target: public ones, loopback and this machine's
    own (where Nimbus's resources and local servers live); AWS's refused classes raise."""
    global _LOCAL
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise invalid(f"Invalid IP address: {address}") from None
    if ip.is_loopback:
        return str(ip)
    if _LOCAL is None:
        _LOCAL = _local_addresses()
    if str(ip) in _LOCAL:
        return str(ip)
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_link_local or ip.is_unspecified or (
        ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10")
    ):
        raise invalid(
            f"The IP address {ip} is not valid for a health check: Route 53 cannot check local, private, "
            "non-routable or multicast addresses."
        )
    return str(ip)


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a HealthCheckConfig and fill AWS's defaults."""
    config = {k: v for k, v in config.items() if v is not None}
    kind = config.get("Type")
    if kind not in TYPES:
        raise invalid(f"Invalid value for Type: {kind}; expected one of {', '.join(TYPES)}")
    if kind == "RECOVERY_CONTROL":
        if not config.get("RoutingControlArn"):
            raise invalid("RoutingControlArn is required for a RECOVERY_CONTROL health check.")
        return config
    if kind in ENDPOINT_TYPES:
        if not config.get("IPAddress") and not config.get("FullyQualifiedDomainName"):
            raise invalid("You must specify either an IP address or a fully qualified domain name for the endpoint.")
        if config.get("IPAddress"):
            config["IPAddress"] = check_address(config["IPAddress"])
        if kind == "TCP" and "Port" not in config:
            raise invalid("A port is required for a TCP health check.")
        config.setdefault("Port", 443 if kind.startswith("HTTPS") else 80)
        if not 1 <= int(config["Port"]) <= 65535:
            raise invalid("Port must be between 1 and 65535.")
        interval = config.setdefault("RequestInterval", 30)
        if interval not in (10, 30):
            raise invalid("RequestInterval must be 10 or 30.")
        threshold = config.setdefault("FailureThreshold", 3)
        if not 1 <= threshold <= 10:
            raise invalid("FailureThreshold must be between 1 and 10.")
        if kind.endswith("STR_MATCH"):
            search = config.get("SearchString")
            if not search:
                raise invalid(f"SearchString is required for a {kind} health check.")
            if len(search) > 255:
                raise invalid("SearchString must be at most 255 characters long.")
        elif "SearchString" in config:
            raise invalid(f"SearchString is only valid for HTTP_STR_MATCH and HTTPS_STR_MATCH health checks.")
        if kind == "TCP" and "ResourcePath" in config:
            raise invalid("ResourcePath is not valid for a TCP health check.")
        if len(config.get("ResourcePath", "")) > 255:
            raise invalid("ResourcePath must be at most 255 characters long.")
        regions = config.get("Regions")
        known = {r for r, _ in CHECKER_REGIONS}
        if regions is not None:
            if len(regions) < 3:
                raise invalid("You must specify at least three regions for a health check.")
            for region in regions:
                if region not in known:
                    raise invalid(f"Invalid region: {region}")
        config.setdefault("MeasureLatency", False)
        config.setdefault("Inverted", False)
        config.setdefault("Disabled", False)
        config.setdefault("EnableSNI", kind.startswith("HTTPS"))
    elif kind == "CALCULATED":
        children = config.get("ChildHealthChecks") or []
        if len(children) > 256:
            raise invalid("A calculated health check can have at most 256 child health checks.")
        threshold = config.setdefault("HealthThreshold", 0)
        if not 0 <= threshold <= 256:
            raise invalid("HealthThreshold must be between 0 and 256.")
        config.setdefault("Inverted", False)
        config.setdefault("Disabled", False)
    elif kind == "CLOUDWATCH_METRIC":
        alarm = config.get("AlarmIdentifier")
        if not alarm or not alarm.get("Region") or not alarm.get("Name"):
            raise invalid("AlarmIdentifier with Region and Name is required for a CLOUDWATCH_METRIC health check.")
        status = config.setdefault("InsufficientDataHealthStatus", "LastKnownStatus")
        if status not in ("Healthy", "Unhealthy", "LastKnownStatus"):
            raise invalid("InsufficientDataHealthStatus must be Healthy, Unhealthy or LastKnownStatus.")
        config.setdefault("Inverted", False)
        config.setdefault("Disabled", False)
    return config


def checkers(config: dict[str, Any]) -> list[tuple[str, str]]:
    regions = config.get("Regions")
    return [c for c in CHECKER_REGIONS if not regions or c[0] in regions]


# -- probes ----------------------------------------------------------------------------


async def probe(config: dict[str, Any], resolve_name: Any = None) -> tuple[bool, str]:
    """One real probe of an endpoint: (success, AWS-style status text)."""
    kind = config["Type"]
    host = config.get("IPAddress")
    fqdn = config.get("FullyQualifiedDomainName")
    if not host:
        try:
            host = resolve_name(fqdn) if resolve_name is not None else None
            if host is None:
                infos = await asyncio.get_running_loop().getaddrinfo(fqdn, None, type=socket.SOCK_STREAM)
                host = infos[0][4][0]
        except (OSError, IndexError):
            return False, f"Failure: DNS resolution failed: {fqdn} could not be resolved."
    port = int(config["Port"])
    started = time.monotonic()
    use_tls = kind.startswith("HTTPS")
    context = None
    if use_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # AWS does not validate certificates either
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=context,
                server_hostname=(fqdn or None) if use_tls and config.get("EnableSNI") else ("" if use_tls else None),
            ),
            PROBE_TIMEOUT,
        )
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        reason = "Connection timed out" if isinstance(exc, asyncio.TimeoutError) else (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        return False, f"Failure: Resolved IP: {host}. The health checker could not connect to the endpoint ({reason})."
    try:
        if kind == "TCP":
            return True, f"Success: TCP connection established. Resolved IP: {host}"
        path = config.get("ResourcePath") or "/"
        if not path.startswith("/"):
            path = "/" + path
        host_header = fqdn or host
        if port not in (80, 443):
            host_header += f":{port}"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: Amazon-Route53-Health-Check-Service (ref nimbus)\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        remaining = PROBE_TIMEOUT - (time.monotonic() - started)
        status_line = await asyncio.wait_for(reader.readline(), max(remaining, 0.1))
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return False, f"Failure: The endpoint did not answer with an HTTP status line. Resolved IP: {host}"
        status = int(parts[1])
        reason = parts[2].strip() if len(parts) > 2 else ""
        ok = 200 <= status < 400
        if ok and kind.endswith("STR_MATCH"):
            body = b""
            headers_done = False
            while not headers_done:
                line = await asyncio.wait_for(reader.readline(), max(PROBE_TIMEOUT - (time.monotonic() - started), 0.1))
                if line in (b"\r\n", b"\n", b""):
                    headers_done = True
            while len(body) < SEARCH_WINDOW:
                chunk = await asyncio.wait_for(reader.read(SEARCH_WINDOW - len(body)), max(PROBE_TIMEOUT - (time.monotonic() - started), 0.1))
                if not chunk:
                    break
                body += chunk
            if config["SearchString"].encode() not in body[:SEARCH_WINDOW]:
                return False, f"Failure: The string '{config['SearchString']}' was not found in the first 5120 bytes of the response body. Resolved IP: {host}"
        verdict = "Success" if ok else "Failure"
        return ok, f"{verdict}: HTTP Status Code {status}, {reason}. Resolved IP: {host}"
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        return False, f"Failure: The endpoint did not answer in time ({type(exc).__name__}). Resolved IP: {host}"
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except Exception:
            pass
