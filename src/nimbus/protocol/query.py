"""The ``query`` and ``ec2`` protocols: form-encoded requests, XML responses."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import ServiceError
from .base import Protocol, error_status, new_headers
from .http import HttpRequest, HttpResponse
from .values import WireValueError, scalar_from_text
from .xml import XML_DECLARATION, XmlCompiler, escape

_MISSING = object()


def form_params(request: HttpRequest) -> dict[str, str]:
    """Query-string and form-body parameters of a query-protocol request (body wins)."""
    params = dict(request.query_params)
    content_type = request.headers.get("Content-Type", "")
    if request.body and (not content_type or "x-www-form-urlencoded" in content_type):
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ServiceError("MalformedQueryString", "The request body is not valid UTF-8", 400) from exc
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


class _FlatReader:
    """Reads a structure out of flattened ``A.B.member.1``-style parameters."""

    def __init__(self, params: dict[str, str], ec2: bool) -> None:
        self.params = params
        self.ec2 = ec2
        prefixes: set[str] = set()
        for key in params:
            parts = key.split(".")
            for i in range(1, len(parts) + 1):
                prefixes.add(".".join(parts[:i]))
        self.prefixes = prefixes

    def name_of(self, shape: Shape, default: str) -> str:
        ser = shape.serialization
        if self.ec2:
            if "queryName" in ser:
                return ser["queryName"]
            if "name" in ser:
                return ser["name"][0].upper() + ser["name"][1:]
            return default
        return ser.get("name", default)

    def read(self, shape: Shape, key: str) -> Any:
        if key and key not in self.prefixes:
            return _MISSING
        kind = shape.type_name
        if kind == "structure":
            result = {}
            for name, member in shape.members.items():
                member_key = self.name_of(member, name)
                value = self.read(member, f"{key}.{member_key}" if key else member_key)
                if value is not _MISSING:
                    result[name] = value
            return result
        if kind == "list":
            return self._read_list(shape, key)
        if kind == "map":
            return self._read_map(shape, key)
        text = self.params.get(key)
        if text is None:
            return _MISSING
        try:
            return scalar_from_text(shape, text)
        except WireValueError as exc:
            raise ServiceError(
                "InvalidParameterValue" if self.ec2 else "ValidationError",
                f"Value '{text}' for parameter {key} is invalid: {exc}",
                400,
            ) from exc

    def _read_list(self, shape: Shape, key: str) -> list[Any]:
        if self.ec2:
            item_prefix = key
        elif shape.serialization.get("flattened"):
            item_prefix = key
            member_name = shape.member.serialization.get("name")
            if member_name:
                item_prefix = ".".join(key.split(".")[:-1] + [member_name])
        else:
            item_prefix = f"{key}.{shape.member.serialization.get('name', 'member')}"
        items = []
        i = 1
        while True:
            value = self.read(shape.member, f"{item_prefix}.{i}")
            if value is _MISSING:
                break
            items.append(value)
            i += 1
        return items

    def _read_map(self, shape: Shape, key: str) -> dict[Any, Any]:
        base = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result = {}
        i = 1
        while f"{base}.{i}" in self.prefixes:
            k = self.read(shape.key, f"{base}.{i}.{key_name}")
            v = self.read(shape.value, f"{base}.{i}.{value_name}")
            if k is not _MISSING:
                result[k] = None if v is _MISSING else v
            i += 1
        return result


class QueryProtocol(Protocol):
    name = "query"
    validation_code = "ValidationError"
    serialization_code = "MalformedQueryString"
    ec2 = False

    def matches(self, request: HttpRequest) -> bool:
        content_type = request.headers.get("Content-Type", "")
        return "x-www-form-urlencoded" in content_type or (request.method == "GET" and "Action=" in request.query)

    def resolve_operation(self, model: ServiceModel, request: HttpRequest) -> OperationModel:
        params = form_params(request)
        request.form = params  # type: ignore[attr-defined]  # parsed once, reused by parse()
        action = params.get("Action")
        if not action:
            raise ServiceError("MissingAction", "Missing required parameter Action", 400)
        if action not in _operation_names(model):
            raise ServiceError(
                "InvalidAction", f"The action {action} is not valid for this web service.", 400
            )
        return model.operation_model(action)

    async def parse(self, op: OperationModel, request: HttpRequest) -> dict[str, Any]:
        params = getattr(request, "form", None) or form_params(request)
        shape = op.input_shape
        if shape is None:
            return {}
        reader = _FlatReader(params, self.ec2)
        value = reader.read(shape, "")
        return value if isinstance(value, dict) else {}

    # -- responses -----------------------------------------------------------------

    def _namespace(self, model: ServiceModel) -> str:
        ns = model.metadata.get("xmlNamespace")
        if isinstance(ns, dict):
            ns = ns.get("uri")
        return ns or f"https://{model.metadata['endpointPrefix']}.amazonaws.com/doc/{model.metadata['apiVersion']}/"

    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> HttpResponse:
        model = op.service_model
        name = op.name
        out = [XML_DECLARATION, f'<{name}Response xmlns="{self._namespace(model)}">']
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper") or f"{name}Result"
            _compiler(model).write(out, shape, output or {}, wrapper)
        out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
        headers = new_headers(Content_Type="text/xml", x_amzn_RequestId=request_id)
        return HttpResponse(200, headers, "".join(out).encode())

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        status, sender = error_status(model, error)
        ns = self._namespace(model) if model is not None else ""
        body = (
            f'{XML_DECLARATION}<ErrorResponse xmlns="{ns}"><Error><Type>{"Sender" if sender else "Receiver"}</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers = new_headers(Content_Type="text/xml", x_amzn_RequestId=request_id)
        headers.update(error.headers)
        return HttpResponse(status, headers, b"" if head else body.encode())


class Ec2Protocol(QueryProtocol):
    name = "ec2"
    validation_code = "MissingParameter"
    ec2 = True
    checks_constraints = False

    def missing_error(self, missing: list[str]) -> ServiceError:
        return ServiceError(
            "MissingParameter", f"The request must contain the parameter {missing[0].split('.')[-1]}", 400
        )

    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> HttpResponse:
        model = op.service_model
        name = op.name
        out = [XML_DECLARATION, f'<{name}Response xmlns="{self._namespace(model)}/">', f"<requestId>{request_id}</requestId>"]
        shape = op.output_shape
        if shape is not None and output:
            compiler = _compiler(model)
            inner: list[str] = []
            compiler.write(inner, shape, output, "_")
            out.extend(inner[1:-1])  # members only: EC2 puts them straight under the response
        out.append(f"</{name}Response>")
        headers = new_headers(Content_Type="text/xml;charset=UTF-8")
        return HttpResponse(200, headers, "".join(out).encode())

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        status, _ = error_status(model, error)
        body = (
            f"{XML_DECLARATION}<Response><Errors><Error><Code>{escape(error.code)}</Code>"
            f"<Message>{escape(error.message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        headers = new_headers(Content_Type="text/xml;charset=UTF-8")
        headers.update(error.headers)
        return HttpResponse(status, headers, b"" if head else body.encode())


@functools.lru_cache(maxsize=None)
def _operation_names(model: ServiceModel) -> frozenset[str]:
    return frozenset(model.operation_names)


@functools.lru_cache(maxsize=None)
def _compiler(model: ServiceModel) -> XmlCompiler:
    return XmlCompiler(model.service_name)
