"""The REST protocols: ``rest-xml`` (S3, Route 53) and ``rest-json`` (EFS ...).

Operations are found by a router compiled once per service from the models'
``requestUri`` templates (path labels, greedy ``{Key+}`` labels and literal query keys
such as S3's ``?uploads``).  Members then come from the URI, the query string, headers,
prefixed header maps and the payload, exactly where the model puts them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import ServiceError
from .base import Protocol, error_status, new_headers
from .document import DocumentCodec
from .http import HttpRequest, HttpResponse, OutgoingBody
from .values import (
    WireValueError,
    decode_base64,
    encode_base64,
    format_timestamp,
    scalar_from_text,
    scalar_to_text,
)
from .xml import XML_DECLARATION, XmlCompiler, escape, namespace_attr, parse_document

JSON_CODEC = DocumentCodec(binary=False)


@dataclass
class _Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: list[str]
    query_literals: dict[str, str | None]  # key -> required value (None: any value)
    # Required members in the query string or headers also tell operations apart
    # (S3's UploadPart needs uploadId and partNumber; CopyObject needs x-amz-copy-source).
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    specificity: tuple[int, int, int, bool]


def _compile_route(op: OperationModel) -> _Route:
    uri = op.http["requestUri"]
    path, _, query = uri.partition("?")
    labels: list[str] = []
    regex = ""
    literal_chars = 0
    greedy = 0
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{"):
            name = piece[1:-1]
            if name.endswith("+"):
                labels.append(name[:-1])
                regex += "(.+)"
                greedy += 1
            else:
                labels.append(name)
                regex += "([^/]+)"
        else:
            regex += re.escape(piece)
            literal_chars += len(piece)
    if regex.endswith("/") and len(regex) > 1:
        regex = regex[:-1] + "/?"
    query_literals: dict[str, str | None] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        query_literals[key] = value if eq else None
    required_query: list[str] = []
    required_headers: list[str] = []
    shape = op.input_shape
    if shape is not None:
        for name in shape.required_members:
            member = shape.members[name]
            location = member.serialization.get("location")
            if location == "querystring":
                required_query.append(member.serialization.get("name", name))
            elif location == "header":
                required_headers.append(member.serialization.get("name", name))
    # Of two identical routes (S3's GetBucketLifecycle and GetBucketLifecycleConfiguration)
    # the one that is not deprecated wins.
    specificity = (
        len(query_literals) + len(required_query) + len(required_headers),
        literal_chars,
        -greedy,
        not op.deprecated,
    )
    return _Route(
        op.name,
        op.http.get("method", "POST"),
        re.compile(f"^{regex}$"),
        labels,
        query_literals,
        tuple(required_query),
        tuple(required_headers),
        specificity,
    )


@functools.lru_cache(maxsize=None)
def _routes(model: ServiceModel) -> list[_Route]:
    routes = [_compile_route(model.operation_model(name)) for name in model.operation_names]
    routes.sort(key=lambda r: r.specificity, reverse=True)
    return routes


def _header_list(text: str) -> list[str]:
    """Split a comma-separated header list, honouring double-quoted items."""
    items, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [i for i in items if i != ""]


class RestProtocol(Protocol):
    """What ``rest-xml`` and ``rest-json`` share; subclasses handle the body format."""

    header_timestamp = "rfc822"

    def resolve_operation(self, model: ServiceModel, request: HttpRequest) -> OperationModel:
        route, _ = self._match(model, request)
        return model.operation_model(route.operation)

    def _match(self, model: ServiceModel, request: HttpRequest) -> tuple[_Route, re.Match[str]]:
        query = {k for k, _ in request.query_params}
        query_values = dict(request.query_params)
        method = request.method.upper()
        path = request.path or "/"
        path_matched = False
        # Required query/header members only rank the candidates: a request that omits
        # one (or sends an empty list, which puts nothing on the wire) still reaches its
        # operation, and validation names what is missing.
        best: tuple[int, _Route, re.Match[str]] | None = None
        for route in _routes(model):
            match = route.pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if route.method != method:
                continue
            if all(k in query and (v is None or query_values.get(k) == v) for k, v in route.query_literals.items()):
                missing = sum(k not in query for k in route.required_query) + sum(
                    h not in request.headers for h in route.required_headers
                )
                if missing == 0:
                    return route, match  # routes are sorted: nothing later ranks higher
                if best is None or missing < best[0]:
                    best = (missing, route, match)
        if best is not None:
            return best[1], best[2]
        if path_matched:
            raise ServiceError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
        raise ServiceError("UnknownOperationException", f"No operation matches {method} {request.path}", 404)

    async def parse(self, op: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = op.input_shape
        if shape is None:
            return {}
        route, match = self._match(op.service_model, request)
        label_values = {label: unquote(match.group(i + 1)) for i, label in enumerate(route.labels)}
        params: dict[str, Any] = {}
        query_values: dict[str, list[str]] = {}
        for k, v in request.query_params:
            query_values.setdefault(k, []).append(v)
        consumed_query = set(route.query_literals)
        try:
            for name, member in shape.members.items():
                ser = member.serialization
                location = ser.get("location")
                wire_name = ser.get("name", name)
                if location == "uri":
                    if wire_name in label_values:
                        params[name] = scalar_from_text(member, label_values[wire_name])
                elif location == "querystring":
                    if member.type_name == "map":
                        continue  # filled below with the leftover query parameters
                    values = query_values.get(wire_name)
                    consumed_query.add(wire_name)
                    if values is None:
                        continue
                    if member.type_name == "list":
                        params[name] = [scalar_from_text(member.member, v) for v in values]
                    else:
                        params[name] = scalar_from_text(member, values[0])
                elif location == "header":
                    text = request.headers.get(wire_name)
                    if text is not None:
                        params[name] = self._header_value(member, text)
                elif location == "headers":
                    prefix = wire_name.lower()
                    found = {k[len(prefix) :].lower(): v for k, v in request.headers.items() if k.lower().startswith(prefix)}
                    if found:
                        params[name] = found
            for name, member in shape.members.items():
                ser = member.serialization
                if ser.get("location") == "querystring" and member.type_name == "map":
                    leftovers = {k: v for k, v in query_values.items() if k not in consumed_query}
                    if leftovers:
                        multi = member.value.type_name == "list"
                        params[name] = {k: (v if multi else v[0]) for k, v in leftovers.items()}
        except WireValueError as exc:
            raise self.malformed_error(str(exc)) from exc
        await self._parse_payload(op, shape, request, params)
        return params

    def _header_value(self, shape: Shape, text: str) -> Any:
        if shape.type_name == "list":
            return [scalar_from_text(shape.member, item, self.header_timestamp) for item in _header_list(text)]
        if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
            return json.loads(decode_base64(text))
        return scalar_from_text(shape, text, self.header_timestamp)

    async def _parse_payload(self, op: OperationModel, shape: Shape, request: HttpRequest, params: dict[str, Any]) -> None:
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            if member.type_name in ("blob", "string"):
                if member.serialization.get("streaming") or member.type_name == "blob" and request.stream is not None:
                    params[payload] = request.body_stream()
                elif request.body or request.stream is not None:
                    data = request.body if request.stream is None else await _read_all(request.stream)
                    params[payload] = data if member.type_name == "blob" else data.decode("utf-8")
                return
            body = request.body
            if body.strip():
                params[payload] = self._parse_body(member, body, root_is_member=True)
            return
        body_members = [n for n, m in shape.members.items() if not m.serialization.get("location")]
        if body_members and request.body.strip():
            params.update(self._parse_body(shape, request.body, root_is_member=False))

    def _parse_body(self, shape: Shape, body: bytes, *, root_is_member: bool) -> Any:
        raise NotImplementedError

    # -- responses -----------------------------------------------------------------

    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> HttpResponse:
        output = output or {}
        shape = op.output_shape
        status = op.http.get("responseCode", 200)
        headers = self._base_headers(op.service_model, request_id)
        body: bytes | OutgoingBody = b""
        if shape is None:
            return HttpResponse(status, headers, self._empty_body())
        for name, member in shape.members.items():
            value = output.get(name)
            if value is None:
                continue
            ser = member.serialization
            location = ser.get("location")
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers[ser.get("name", name)] = self._header_text(member, value)
            elif location == "headers":
                prefix = ser.get("name", "")
                for k, v in value.items():
                    headers[prefix + k] = str(v)
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            value = output.get(payload)
            if member.type_name in ("blob", "string"):
                if isinstance(value, OutgoingBody):
                    body = value
                elif value is not None:
                    body = value.encode() if isinstance(value, str) else bytes(value)
                if "Content-Type" not in headers and member.type_name == "string":
                    headers["Content-Type"] = "text/plain"
            elif value is not None:
                body = self._serialize_body(op.service_model, member, value, member.serialization.get("name", member.name))
                headers.setdefault("Content-Type", self.content_type)
        else:
            body_values = {
                n: output[n]
                for n, m in shape.members.items()
                if not m.serialization.get("location") and output.get(n) is not None
            }
            if body_values or self._always_body(shape):
                body = self._serialize_body(op.service_model, shape, body_values, shape.serialization.get("name", shape.name))
                headers.setdefault("Content-Type", self.content_type)
            else:
                body = self._empty_body()
        return HttpResponse(status, headers, body)

    def _header_text(self, shape: Shape, value: Any) -> str:
        if shape.type_name == "list":
            return ",".join(
                f'"{v}"' if isinstance(v, str) and ("," in v or '"' in v) else scalar_to_text(shape.member, v, self.header_timestamp)
                for v in value
            )
        if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
            return encode_base64(json.dumps(value, separators=(",", ":")))
        if shape.type_name == "timestamp":
            return str(format_timestamp(value, shape.serialization.get("timestampFormat", self.header_timestamp)))
        return scalar_to_text(shape, value)

    content_type = "application/octet-stream"

    def _base_headers(self, model: ServiceModel, request_id: str):
        return new_headers(x_amzn_RequestId=request_id)

    def _empty_body(self) -> bytes:
        return b""

    def _always_body(self, shape: Shape) -> bool:
        return False

    def _serialize_body(self, model: ServiceModel, shape: Shape, value: Any, root: str) -> bytes:
        raise NotImplementedError


class RestXmlProtocol(RestProtocol):
    name = "rest-xml"
    validation_code = "InvalidArgument"
    serialization_code = "MalformedXML"
    checks_constraints = False  # S3 and Route 53 word their own validation errors
    content_type = "application/xml"

    def _parse_body(self, shape: Shape, body: bytes, *, root_is_member: bool) -> Any:
        try:
            root = parse_document(body)
            return XmlCompiler("input").read(shape, root)
        except WireValueError as exc:
            raise ServiceError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
                400,
            ) from exc

    def _is_s3(self, model: ServiceModel | None) -> bool:
        return model is not None and model.metadata.get("signingName", model.metadata.get("endpointPrefix")) in ("s3", "s3-control") or (
            model is not None and model.service_name in ("s3", "s3control")
        )

    def _base_headers(self, model: ServiceModel, request_id: str):
        if self._is_s3(model):
            return new_headers(x_amz_request_id=request_id, x_amz_id_2=_host_id(request_id))
        return new_headers(x_amzn_RequestId=request_id)

    def _always_body(self, shape: Shape) -> bool:
        # S3's GetBucketLocation answers <LocationConstraint/> for us-east-1: boto3 parses
        # the root element's text and fails on an empty body.
        body_members = [(n, m) for n, m in shape.members.items() if not m.serialization.get("location")]
        root = shape.serialization.get("name", shape.name)
        return len(body_members) == 1 and body_members[0][1].serialization.get("name", body_members[0][0]) == root

    def _serialize_body(self, model: ServiceModel, shape: Shape, value: Any, root: str) -> bytes:
        body_members = [(n, m) for n, m in shape.members.items() if not m.serialization.get("location")] if shape.type_name == "structure" else []
        if len(body_members) == 1 and body_members[0][1].serialization.get("name", body_members[0][0]) == root and body_members[0][1].type_name == "string":
            # A structure whose only member names the root (S3's GetBucketLocation):
            # AWS writes the value as the root's text, <LocationConstraint>eu-west-1</...>.
            ns = _service_namespace(model)
            text = escape(str(value.get(body_members[0][0], "")))
            ns_attr = f' xmlns="{ns}"' if ns else ""
            return f"{XML_DECLARATION}<{root}{ns_attr}>{text}</{root}>".encode()
        out = [XML_DECLARATION]
        _xml_compiler(model).write(out, shape, value, root)
        ns = _service_namespace(model)
        if ns and shape.type_name == "structure" and "xmlNamespace" not in shape.serialization:
            # The root element carries the service namespace, as AWS's responses do.
            out[1] = out[1].replace(f"<{root}", f'<{root} xmlns="{ns}"', 1)
        return "".join(out).encode()

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        status, sender = error_status(model, error)
        if self._is_s3(model) or model is None:
            headers = new_headers(Content_Type="application/xml", x_amz_request_id=request_id, x_amz_id_2=_host_id(request_id))
            extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in error.fields.items())
            body = (
                f"{XML_DECLARATION}<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
                f"{extra}<RequestId>{request_id}</RequestId><HostId>{_host_id(request_id)}</HostId></Error>"
            )
        else:
            headers = new_headers(Content_Type="text/xml", x_amzn_RequestId=request_id)
            ns = _service_namespace(model) or _input_namespace(model)
            body = (
                f'{XML_DECLARATION}<ErrorResponse xmlns="{ns}"><Error><Type>{"Sender" if sender else "Receiver"}</Type>'
                f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>{_modeled_fields(model, error)}</Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        headers.update(error.headers)
        return HttpResponse(status, headers, b"" if head else body.encode())


class RestJsonProtocol(RestProtocol):
    name = "rest-json"
    validation_code = "ValidationException"
    serialization_code = "SerializationException"
    content_type = "application/json"

    def _parse_body(self, shape: Shape, body: bytes, *, root_is_member: bool) -> Any:
        try:
            document = json.loads(body)
            return JSON_CODEC.from_wire(shape, document)
        except (ValueError, UnicodeDecodeError) as exc:  # WireValueError is a ValueError
            raise ServiceError("SerializationException", f"Malformed JSON request body: {exc}", 400) from exc

    def _serialize_body(self, model: ServiceModel, shape: Shape, value: Any, root: str) -> bytes:
        return json.dumps(JSON_CODEC.to_wire(shape)(value), separators=(",", ":")).encode()

    def _always_body(self, shape: Shape) -> bool:
        return any(not m.serialization.get("location") for m in shape.members.values())

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        status, _ = error_status(model, error)
        headers = new_headers(Content_Type="application/json", x_amzn_RequestId=request_id, x_amzn_ErrorType=error.code)
        document = {"__type": error.code, "message": error.message, **error.fields}
        headers.update(error.headers)
        return HttpResponse(status, headers, b"" if head else json.dumps(document).encode())


async def _read_all(stream) -> bytes:
    chunks = []
    while True:
        chunk = await stream.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _modeled_fields(model: ServiceModel, error: ServiceError) -> str:
    """``error.fields`` as members of the error's modeled shape, serialized from the model
    inside ``<Error>`` after ``<Message>`` (Route 53's InvalidChangeBatch carries its
    ``messages`` list this way); fields the shape does not declare are written as text."""
    if not error.fields:
        return ""
    shape = _error_shapes(model).get(error.code)
    members = shape.members if shape is not None else {}
    out: list[str] = []
    for name, value in error.fields.items():
        if value is None or name.lower() == "message":
            continue
        member = members.get(name)
        if member is None:
            out.append(f"<{name}>{escape(str(value))}</{name}>")
        else:
            _xml_compiler(model).write(out, member, value, member.serialization.get("name", name))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def _error_shapes(model: ServiceModel) -> dict[str, Shape]:
    return {s.metadata.get("error", {}).get("code", s.name): s for s in model.error_shapes}


@functools.lru_cache(maxsize=None)
def _input_namespace(model: ServiceModel) -> str:
    """The namespace the model puts on request bodies (Route 53's
    ``https://route53.amazonaws.com/doc/2013-04-01/``), which AWS also puts on errors."""
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        ns = shape.serialization.get("xmlNamespace") if shape is not None else None
        if ns:
            return ns.get("uri", "") if isinstance(ns, dict) else ns
    return ""


def _host_id(request_id: str) -> str:
    return encode_base64(request_id.encode() * 2)


@functools.lru_cache(maxsize=None)
def _xml_compiler(model: ServiceModel) -> XmlCompiler:
    return XmlCompiler(model.service_name)


def _service_namespace(model: ServiceModel) -> str:
    ns = model.metadata.get("xmlNamespace")
    if isinstance(ns, dict):
        return ns.get("uri", "")
    return ns or ""


__all__ = ["RestXmlProtocol", "RestJsonProtocol", "namespace_attr"]
