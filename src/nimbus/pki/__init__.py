"""Nimbus's local certificate authority: HTTPS for the gateway, and later TLS for
database/cache endpoints and ACM certificates on load-balancer listeners."""

from .ca import (
    DEFAULT_SERVER_HOSTNAMES,
    DEFAULT_SERVER_IPS,
    KEY_ALGORITHMS,
    MAX_LEAF_DAYS,
    CAError,
    LocalCA,
    hostname_matches,
    normalize_hostname,
)

__all__ = [
    "LocalCA",
    "CAError",
    "KEY_ALGORITHMS",
    "MAX_LEAF_DAYS",
    "DEFAULT_SERVER_HOSTNAMES",
    "DEFAULT_SERVER_IPS",
    "normalize_hostname",
    "hostname_matches",
]
