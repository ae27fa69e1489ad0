"""What a provider knows about the request it is handling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..accounts import Principal
from ..clock import Clock

if TYPE_CHECKING:
    from .runtime import Runtime


@dataclass
class RequestContext:
    runtime: "Runtime"
    service: str  # botocore service name, e.g. "s3", "cloudwatch"
    operation: str
    region: str
    principal: Principal
    request_id: str
    source_ip: str = "127.0.0.1"
    secure: bool = False
    user_agent: str = ""
    host: str = ""
    headers: Any = None  # the request's headers, for the few operations that read raw ones
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def store(self):
        return self.runtime.store

    @property
    def blobs(self):
        return self.runtime.blobs

    @property
    def scope(self) -> str:
        """The store scope of regional resources of this account."""
        return f"{self.account_id}/{self.region}"
