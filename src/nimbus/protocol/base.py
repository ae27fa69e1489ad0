"""The protocol interface and what every protocol shares: error lookup and validation."""

from __future__ import annotations

import functools
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape
from multidict import CIMultiDict

from ..errors import ServiceError
from .http import HttpRequest, HttpResponse


class Protocol:
    """One AWS wire protocol: request → (operation, params); output/error → response."""

    name: str = ""
    # The error code for a missing required member or a malformed value.
    validation_code = "ValidationError"
    serialization_code = "SerializationException"
    # Whether the service front end checks the model's enum/length/range constraints
    # (the Coral-based query and JSON services do; EC2 and S3 answer in their own words).
    checks_constraints = True

    def matches(self, request: HttpRequest) -> bool:
        """Whether ``request`` is spoken in this protocol (for multi-protocol services)."""
        return True

    def resolve_operation(self, model: ServiceModel, request: HttpRequest) -> OperationModel:
        raise NotImplementedError

    async def parse(self, op: OperationModel, request: HttpRequest) -> dict[str, Any]:
        raise NotImplementedError

    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(
        self, model: ServiceModel | None, error: ServiceError, request_id: str, *, head: bool = False
    ) -> HttpResponse:
        raise NotImplementedError

    # -- shared helpers ---------------------------------------------------------------

    def validate(self, op: OperationModel, params: dict[str, Any], *, constraints: bool = True) -> None:
        """Refuse missing required members (and, where AWS checks them, values outside the
        model's enums, lengths and ranges) with the protocol's validation error.

        ``constraints=False`` leaves enums and ranges to a provider that words its own
        errors (CloudWatch answers InvalidParameterValue, EFS BadRequest)."""
        shape = op.input_shape
        if shape is None:
            return
        missing = list(_missing_members(shape, params, ""))
        if missing:
            raise self.missing_error(missing)
        if constraints and self.checks_constraints:
            problems = list(_constraint_problems(shape, params, ""))
            if problems:
                count = len(problems)
                noun = "error" if count == 1 else "errors"
                raise ServiceError(
                    self.validation_code, f"{count} validation {noun} detected: {'; '.join(problems)}", 400
                )

    def missing_error(self, missing: list[str]) -> ServiceError:
        count = len(missing)
        details = "; ".join(
            f"Value null at '{_lower_first(path)}' failed to satisfy constraint: Member must not be null"
            for path in missing
        )
        noun = "error" if count == 1 else "errors"
        return ServiceError(self.validation_code, f"{count} validation {noun} detected: {details}", 400)

    def malformed_error(self, message: str) -> ServiceError:
        return ServiceError(self.serialization_code, message, 400)


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _constraint_problems(shape: Shape, value: Any, path: str):
    """AWS-worded problems of ``value`` against ``shape``'s enum, min/max constraints."""
    if value is None:
        return
    kind = shape.type_name
    meta = shape.metadata
    where = _lower_first(path) if path else shape.name
    if kind == "string" and isinstance(value, str):
        enum = shape.enum
        if enum and value not in enum:
            yield (f"Value '{value}' at '{where}' failed to satisfy constraint: "
                   f"Member must satisfy enum value set: [{', '.join(enum)}]")
        size = len(value)
    elif kind in ("list", "map") and isinstance(value, (list, dict)):
        size = len(value)
    elif kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            yield (f"Value '{_render(value)}' at '{where}' failed to satisfy constraint: "
                   f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            yield (f"Value '{_render(value)}' at '{where}' failed to satisfy constraint: "
                   f"Member must have value less than or equal to {meta['max']}")
        return
    elif kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _constraint_problems(member, value[name], f"{path}.{name}" if path else name)
        return
    else:
        return
    if "min" in meta and size < meta["min"]:
        yield (f"Value '{_render(value)}' at '{where}' failed to satisfy constraint: "
               f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        yield (f"Value '{_render(value)}' at '{where}' failed to satisfy constraint: "
               f"Member must have length less than or equal to {meta['max']}")
    if kind == "list":
        for i, item in enumerate(value, 1):
            yield from _constraint_problems(shape.member, item, f"{path}.{i}.member" if path else f"{i}")
    elif kind == "map":
        for k, v in value.items():
            yield from _constraint_problems(shape.value, v, f"{path}.{k}" if path else str(k))


def _lower_first(path: str) -> str:
    return ".".join(p[:1].lower() + p[1:] for p in path.split("."))


def _missing_members(shape: Shape, value: Any, path: str):
    if shape.type_name != "structure" or not isinstance(value, dict):
        return
    for name in shape.required_members:
        member_value = value.get(name)
        if member_value is None:
            yield f"{path}.{name}" if path else name
    for name, member in shape.members.items():
        member_value = value.get(name)
        if isinstance(member_value, dict) and member.type_name == "structure":
            yield from _missing_members(member, member_value, f"{path}.{name}" if path else name)
        elif isinstance(member_value, list) and member.type_name == "list" and member.member.type_name == "structure":
            for i, item in enumerate(member_value, 1):
                yield from _missing_members(member.member, item, f"{path}.{name}.{i}" if path else f"{name}.{i}")


@functools.lru_cache(maxsize=None)
def _error_index(model: ServiceModel) -> dict[str, tuple[int, bool]]:
    index: dict[str, tuple[int, bool]] = {}
    for shape in model.error_shapes:
        info = shape.metadata.get("error", {})
        status = info.get("httpStatusCode", 400)
        sender = info.get("senderFault", status < 500)
        index[shape.name] = (status, sender)
        if info.get("code"):
            index[info["code"]] = (status, sender)
    return index


def error_status(model: ServiceModel | None, error: ServiceError) -> tuple[int, bool]:
    """HTTP status and sender-fault of ``error``: explicit, else from the model, else 400."""
    declared = _error_index(model).get(error.code) if model is not None else None
    status = error.status or (declared[0] if declared else 400)
    if error.sender_fault is not None:
        sender = error.sender_fault
    elif declared and not error.status:
        sender = declared[1]
    else:
        sender = status < 500
    return status, sender


def new_headers(**items: str) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in items.items():
        headers[key.replace("_", "-")] = value
    return headers
