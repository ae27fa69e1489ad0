"""The model-driven protocol layer: one parser and serializer per AWS wire protocol."""

from __future__ import annotations

from botocore.model import ServiceModel

from .base import Protocol
from .http import HttpRequest, HttpResponse
from .models import load_service_model, protocols_of
from .query import Ec2Protocol, QueryProtocol
from .rest import RestJsonProtocol, RestXmlProtocol
from .rpc import CborProtocol, JsonProtocol

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (QueryProtocol(), Ec2Protocol(), JsonProtocol(), RestJsonProtocol(), RestXmlProtocol(), CborProtocol())
}


def get_protocol(name: str) -> Protocol:
    return PROTOCOLS[name]


def protocol_for(model: ServiceModel, request: HttpRequest) -> Protocol:
    """The protocol ``request`` speaks, among those ``model`` accepts."""
    names = protocols_of(model)
    if len(names) > 1:
        for name in names:
            protocol = PROTOCOLS[name]
            if protocol.matches(request):
                return protocol
    return PROTOCOLS[names[0]]


__all__ = ["HttpRequest", "HttpResponse", "Protocol", "get_protocol", "load_service_model", "protocol_for"]
