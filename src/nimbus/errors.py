"""AWS-shaped errors raised by every layer and serialized by the protocol layer.

A provider raises ``ServiceError(code, message)``; when the service model declares
that error shape, its HTTP status and fault come from the model, so handlers only name
the code.  Errors the model does not declare (``AccessDenied``, ``ValidationError``,
``NotImplemented`` ...) carry their status explicitly.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error answered to the client in the protocol's error format."""

    def __init__(
        self,
        code: str,
        message: str = "",
        status: int | None = None,
        *,
        sender_fault: bool | None = None,
        headers: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # None means "look the status up in the service model, default 400".
        self.status = status
        self.sender_fault = sender_fault
        # Extra response headers (e.g. S3's x-amz-delete-marker on 404s).
        self.headers = headers or {}
        # Extra members of the error body (e.g. S3's BucketName, Key).
        self.fields = fields or {}


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400, sender_fault=True)


def not_implemented(service: str, operation: str) -> ServiceError:
    return ServiceError(
        "NotImplemented",
        f"Nimbus does not implement {service}:{operation} yet.",
        501,
        sender_fault=False,
    )


def internal_failure() -> ServiceError:
    return ServiceError(
        "InternalFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
        500,
        sender_fault=False,
    )
