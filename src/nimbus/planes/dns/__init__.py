"""The authoritative DNS server for Route 53 hosted zones and Nimbus's own names."""

from .server import DnsPlane, current

__all__ = ["DnsPlane", "current"]
