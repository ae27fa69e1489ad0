"""The model-driven protocol layer: one parser and serializer per AWS wire protocol.

Importing this package is cheap; the protocols (and botocore's models behind them) load
on first use, so that Nimbus's start-up never waits for them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from botocore.model import ServiceModel

    from .base import Protocol


@functools.lru_cache(maxsize=1)
def _protocols() -> dict[str, "Protocol"]:
    from .query import Ec2Protocol, QueryProtocol
    from .rest import RestJsonProtocol, RestXmlProtocol
    from .rpc import CborProtocol, JsonProtocol

    return {
        p.name: p
        for p in (QueryProtocol(), Ec2Protocol(), JsonProtocol(), RestJsonProtocol(), RestXmlProtocol(), CborProtocol())
    }


def get_protocol(name: str) -> "Protocol":
    return _protocols()[name]


def protocol_for(model: "ServiceModel", request: HttpRequest) -> "Protocol":
    """The protocol ``request`` speaks, among those ``model`` accepts."""
    from .models import protocols_of

    names = protocols_of(model)
    protocols = _protocols()
    if len(names) > 1:
        for name in names:
            protocol = protocols[name]
            if protocol.matches(request):
                return protocol
    return protocols[names[0]]


def load_service_model(service: str) -> "ServiceModel":
    from .models import load_service_model as load

    return load(service)


def __getattr__(name: str) -> Any:  # ``from nimbus.protocol import Protocol`` still works
    if name == "Protocol":
        from .base import Protocol

        return Protocol
    raise AttributeError(name)


__all__ = ["HttpRequest", "HttpResponse", "Protocol", "get_protocol", "load_service_model", "protocol_for"]
