"""What every provider shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from botocore import xform_name

if TYPE_CHECKING:
    from ..gateway.runtime import Runtime


class Provider:
    """Control-plane logic of one service.

    An operation is a method named after it in snake case (``GetCallerIdentity`` →
    ``get_caller_identity``) taking ``(ctx, params)`` and returning a dict shaped like
    the operation's output; it may be ``async`` when it streams bytes.  It raises
    ``ServiceError`` for AWS errors.  Operations without a method answer 501.
    """

    service: str = ""
    # Whether the gateway checks the model's enum/length/range constraints before the
    # handler runs (AWS's Coral front ends do); False when the service words its own errors.
    model_constraints: bool = True

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self._handlers: dict[str, Callable[..., Any] | None] = {}

    def handler(self, operation: str) -> Callable[..., Any] | None:
        if operation not in self._handlers:
            self._handlers[operation] = getattr(self, xform_name(operation), None)
        return self._handlers[operation]

    def implemented(self, operations: list[str]) -> list[str]:
        return [op for op in operations if self.handler(op) is not None]

    def resource_counts(self) -> dict[str, int]:
        """Resources per kind, for ``nimbus status``."""
        return {}
