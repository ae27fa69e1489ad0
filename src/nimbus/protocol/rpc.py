"""The RPC document protocols: ``json`` (X-Amz-Target) and ``smithy-rpc-v2-cbor``."""

from __future__ import annotations

import functools
import json
from typing import Any

import cbor2
from botocore.model import OperationModel, ServiceModel

from ..errors import ServiceError
from .base import Protocol, error_status, new_headers
from .document import DocumentCodec
from .http import HttpRequest, HttpResponse
from .values import WireValueError

JSON_CODEC = DocumentCodec(binary=False)
CBOR_CODEC = DocumentCodec(binary=True)


def _query_error_header(model: ServiceModel | None, error: ServiceError, sender: bool) -> dict[str, str]:
    """``awsQueryCompatible`` services also name the query-protocol error code."""
    if model is not None and "awsQueryCompatible" in model.metadata:
        return {"x-amzn-query-error": f"{error.code};{'Sender' if sender else 'Receiver'}"}
    return {}


class JsonProtocol(Protocol):
    name = "json"
    validation_code = "ValidationException"
    serialization_code = "SerializationException"

    def matches(self, request: HttpRequest) -> bool:
        return "X-Amz-Target" in request.headers

    def resolve_operation(self, model: ServiceModel, request: HttpRequest) -> OperationModel:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.rpartition(".")
        if not operation or prefix != model.metadata.get("targetPrefix") or operation not in _names(model):
            raise ServiceError(
                "UnknownOperationException", f"Unknown operation {target or '(no X-Amz-Target header)'}", 400
            )
        return model.operation_model(operation)

    async def parse(self, op: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = op.input_shape
        body = request.body
        if not body.strip():
            document: Any = {}
        else:
            try:
                document = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ServiceError(self.serialization_code, f"Malformed JSON request body: {exc}", 400) from exc
        if shape is None:
            return {}
        try:
            return JSON_CODEC.from_wire(shape, document) or {}
        except WireValueError as exc:
            raise ServiceError(self.serialization_code, str(exc), 400) from exc

    def _content_type(self, model: ServiceModel) -> str:
        return f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"

    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> HttpResponse:
        shape = op.output_shape
        document = JSON_CODEC.to_wire(shape)(output or {}) if shape is not None else {}
        headers = new_headers(Content_Type=self._content_type(op.service_model), x_amzn_RequestId=request_id)
        return HttpResponse(200, headers, json.dumps(document, separators=(",", ":")).encode())

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        status, sender = error_status(model, error)
        document = {"__type": error.code, "message": error.message, **error.fields}
        headers = new_headers(
            Content_Type=self._content_type(model) if model else "application/x-amz-json-1.1",
            x_amzn_RequestId=request_id,
        )
        headers.update(_query_error_header(model, error, sender))
        headers.update(error.headers)
        return HttpResponse(status, headers, json.dumps(document).encode())


class CborProtocol(Protocol):
    name = "smithy-rpc-v2-cbor"
    validation_code = "ValidationException"
    serialization_code = "SerializationException"

    def matches(self, request: HttpRequest) -> bool:
        return request.headers.get("smithy-protocol", "") == "rpc-v2-cbor" or "/operation/" in request.path

    def resolve_operation(self, model: ServiceModel, request: HttpRequest) -> OperationModel:
        # POST /service/{ServiceName}/operation/{OperationName}
        parts = request.path.strip("/").split("/")
        if (
            request.method != "POST"
            or len(parts) != 4
            or parts[0] != "service"
            or parts[2] != "operation"
            or parts[3] not in _names(model)
        ):
            raise ServiceError("UnknownOperationException", f"Unknown operation at {request.path}", 404)
        if request.headers.get("smithy-protocol") != "rpc-v2-cbor":
            raise ServiceError(
                "MalformedRequest", "Requests in the RPC v2 CBOR protocol need 'smithy-protocol: rpc-v2-cbor'", 400
            )
        return model.operation_model(parts[3])

    async def parse(self, op: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = op.input_shape
        if not request.body:
            document: Any = {}
        else:
            try:
                document = cbor2.loads(request.body)
            except Exception as exc:  # cbor2 raises several types for bad input
                raise ServiceError(self.serialization_code, f"Malformed CBOR request body: {exc}", 400) from exc
        if shape is None:
            return {}
        try:
            return CBOR_CODEC.from_wire(shape, document) or {}
        except WireValueError as exc:
            raise ServiceError(self.serialization_code, str(exc), 400) from exc

    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> HttpResponse:
        shape = op.output_shape
        document = CBOR_CODEC.to_wire(shape)(output or {}) if shape is not None else {}
        headers = new_headers(
            Content_Type="application/cbor", smithy_protocol="rpc-v2-cbor", x_amzn_RequestId=request_id
        )
        return HttpResponse(200, headers, cbor2.dumps(document, datetime_as_timestamp=True, timezone=None))

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        status, sender = error_status(model, error)
        document = {"__type": error.code, "message": error.message, **error.fields}
        headers = new_headers(
            Content_Type="application/cbor", smithy_protocol="rpc-v2-cbor", x_amzn_RequestId=request_id
        )
        headers.update(_query_error_header(model, error, sender))
        headers.update(error.headers)
        return HttpResponse(status, headers, cbor2.dumps(document))


@functools.lru_cache(maxsize=None)
def _names(model: ServiceModel) -> frozenset[str]:
    return frozenset(model.operation_names)
