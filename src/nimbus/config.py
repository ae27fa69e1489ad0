"""Every Nimbus setting, in one place: its environment variable, default and meaning.

The README's settings table is generated from ``SETTINGS`` (``nimbus settings``), so a
setting exists only once.  Command-line flags override environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _env_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Setting:
    env: str
    default: str
    help: str


SETTINGS: dict[str, Setting] = {
    "host": Setting("NIMBUS_HOST", "127.0.0.1", "Address the HTTP and HTTPS endpoints listen on."),
    "port": Setting("NIMBUS_PORT", "4566", "HTTP port of the AWS endpoint (LocalStack's port, so tools already point at it)."),
    "https_port": Setting("NIMBUS_HTTPS_PORT", "4567", "HTTPS port of the AWS endpoint; certificates come from the local CA. 0 turns HTTPS off."),
    "data_dir": Setting("NIMBUS_DATA_DIR", "./.nimbus", "Where state, object bytes and the local CA live."),
    "ephemeral": Setting("NIMBUS_EPHEMERAL", "0", "1: keep state in a temporary directory removed at shutdown."),
    "region": Setting("NIMBUS_REGION", "us-east-1", "Region assumed for requests that carry none (unsigned S3 requests, website hosting)."),
    "hostname": Setting("NIMBUS_HOSTNAME", "localhost", "Host name in the URLs Nimbus hands out; virtual-hosted S3 uses <bucket>.s3.<hostname> and <bucket>.<hostname>."),
    "account_id": Setting("NIMBUS_ACCOUNT_ID", "000000000000", "Account id of the default root account."),
    "access_key_id": Setting("NIMBUS_ACCESS_KEY_ID", "test", "Access key id of the default root account."),
    "secret_access_key": Setting("NIMBUS_SECRET_ACCESS_KEY", "test", "Secret access key of the default root account."),
    "fsync": Setting("NIMBUS_FSYNC", "0", "1: fsync every committed write and object, surviving power loss (a kill -9 is survived either way)."),
    "max_request_body": Setting("NIMBUS_MAX_REQUEST_BODY", "16777216", "Largest non-streamed request body in bytes (object uploads stream and are not limited by this)."),
    "log_level": Setting("NIMBUS_LOG_LEVEL", "info", "debug, info, warning or error."),
    "enforce_iam": Setting("NIMBUS_ENFORCE_IAM", "1", "1: every request is authorized by the IAM policy engine, as in AWS. 0: every authenticated request is let through (quick experiments; requests are still recorded for LookupEvents)."),
    "audit_retention_days": Setting("NIMBUS_AUDIT_RETENTION_DAYS", "90", "Days (simulated clock) the record of requests behind cloudtrail LookupEvents, the credential report and Access Advisor keeps events; older ones are pruned, as CloudTrail's 90-day event history. 0 keeps everything."),
    "fault_injection": Setting("NIMBUS_FAULT_INJECTION", "", "Comma-separated service:Operation pairs whose handler fails with a 500 InternalFailure, to test clients' error handling and retries."),
    "dns_host": Setting("NIMBUS_DNS_HOST", "127.0.0.1", "Address the authoritative DNS server (Route 53 zones, Nimbus's own names) listens on, UDP and TCP."),
    "dns_port": Setting("NIMBUS_DNS_PORT", "53", "DNS port; when 53 cannot be bound (not root, or taken) Nimbus falls back to 10053, then to a free port (see /_nimbus/health). -1 turns DNS off."),
    "dns_forward": Setting("NIMBUS_DNS_FORWARD", "", "host[:port] of an upstream resolver for names no hosted zone covers; empty (default) answers REFUSED instead."),
    "dns_latency_map": Setting("NIMBUS_DNS_LATENCY_MAP", "", "Comma-separated CIDR=region pairs: the AWS region of clients (by source address or EDNS client subnet) for latency and geoproximity routing; others are in NIMBUS_REGION."),
    "dns_geo_map": Setting("NIMBUS_DNS_GEO_MAP", "", "Comma-separated CIDR=location pairs for geolocation routing; location is a country code, optionally with a subdivision (US-WA), or a continent code (EU)."),
    "dns_vpc_map": Setting("NIMBUS_DNS_VPC_MAP", "", "Comma-separated CIDR=vpc-id pairs: DNS clients in these source ranges are inside that VPC (private hosted zones), besides EC2 instance and network interface addresses."),
    "engine_cache": Setting("NIMBUS_ENGINE_CACHE", "~/.cache/nimbus/engines", "Where engine templates (an initdb / mariadb-install-db result, built once per machine) are cached; DB and cache data live under the data directory."),
    "rds_gib_bytes": Setting("NIMBUS_RDS_GIB_BYTES", "1073741824", "Bytes of real disk that one GiB of an RDS instance's allocated storage stands for when storage autoscaling compares it with the engine's data directory (tests make it small)."),
    "route53_propagation": Setting("NIMBUS_ROUTE53_PROPAGATION", "0", "Simulated seconds a Route 53 change stays PENDING at least; it is INSYNC once the DNS server serves it and this much time passed."),
}


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 4566
    https_port: int = 4567
    data_dir: Path = field(default_factory=lambda: Path("./.nimbus"))
    ephemeral: bool = False
    region: str = "us-east-1"
    hostname: str = "localhost"
    account_id: str = "000000000000"
    access_key_id: str = "test"
    secret_access_key: str = "test"
    fsync: bool = False
    max_request_body: int = 16 * 1024 * 1024
    log_level: str = "info"
    enforce_iam: bool = True
    audit_retention_days: int = 90
    fault_injection: str = ""
    dns_host: str = "127.0.0.1"
    dns_port: int = 53
    dns_forward: str = ""
    dns_latency_map: str = ""
    dns_geo_map: str = ""
    dns_vpc_map: str = ""
    route53_propagation: int = 0
    engine_cache: str = "~/.cache/nimbus/engines"
    rds_gib_bytes: int = 1 << 30

    @property
    def faulty_operations(self) -> frozenset[tuple[str, str]]:
        pairs = (item.strip().split(":", 1) for item in self.fault_injection.split(",") if ":" in item)
        return frozenset((service, operation) for service, operation in pairs)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Config":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            setting = SETTINGS[f.name]
            raw = env.get(setting.env, setting.default)
            values[f.name] = _convert(f.type, raw)
        for key, value in overrides.items():
            if value is not None:
                values[key] = _convert(type(values[key]).__name__ if key != "data_dir" else "Path", value)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def endpoint(self) -> str:
        return f"http://{self.hostname}:{self.port}"

    @property
    def https_endpoint(self) -> str | None:
        return f"https://{self.hostname}:{self.https_port}" if self.https_port else None


def _convert(kind: object, raw: object) -> object:
    name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if "Path" in name:
        return Path(str(raw))
    if "bool" in name:
        return raw if isinstance(raw, bool) else _env_bool(str(raw))
    if "int" in name:
        return int(raw)  # type: ignore[arg-type]
    return str(raw)


def settings_table() -> str:
    """The README's settings table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS.values():
        rows.append(f"| `{setting.env}` | `{setting.default}` | {setting.help} |")
    return "\n".join(rows)
