"""The authorization decision every request passes through before its handler runs.

``authorize(ctx, params)`` maps the operation to its IAM action and resources (the
tables in ``actions/``), asks the policy engine (``engine.py``) and raises the
service's own access error when the answer is no.  ``NIMBUS_ENFORCE_IAM=0`` lets every
authenticated request through without asking the engine (requests are still audited).
Anonymous requests get only what a resource policy grants to everyone (public S3
buckets) and the operations AWS serves without credentials.

``record_request`` writes the CloudTrail-style event of every request to the audit
log (buffered, see ``audit.py``).
"""

from __future__ import annotations

from typing import Any

from ..accounts import Principal
from ..errors import ServiceError
from ..gateway.context import RequestContext
from .audit import AuditLog
from .engine import Engine, denial_message, encode_authorization_message
from .oidc import JwksCache

# Operations AWS answers without any credentials.
UNSIGNED_OPERATIONS = frozenset(
    {
        ("sts", "AssumeRoleWithWebIdentity"),
        ("sts", "AssumeRoleWithSAML"),
    }
)
# Services whose resources may be opened to anonymous callers by a resource policy.
PUBLIC_SERVICES = frozenset({"s3"})
_READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Simulate", "Decode", "Generate")


class IamState:
    """The engine and audit log of one running Nimbus (created on first use)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.engine = Engine(runtime.store)
        days = float(getattr(runtime.config, "audit_retention_days", 90) or 0)
        self.audit = AuditLog(runtime.store, clock=runtime.clock, retention=days * 86400.0)
        self.enforce = bool(getattr(runtime.config, "enforce_iam", True))
        ca = getattr(runtime, "ca", None)
        ca_path = getattr(ca, "cert_path", None) if ca is not None else None
        self.jwks = JwksCache(str(ca_path) if ca_path else None)
        if self.audit.retention > 0:
            runtime.clock.on_advance(self.audit.on_clock)


def iam_state(runtime: Any) -> IamState:
    state = runtime.__dict__.get("_iam_state")
    if state is None:
        state = runtime.__dict__["_iam_state"] = IamState(runtime)
    return state


def access_denied(ctx: RequestContext) -> ServiceError:
    """The error for an anonymous request to a service that needs credentials."""
    if ctx.service == "s3":
        return ServiceError("AccessDenied", "Access Denied", 403)
    return ServiceError(
        "MissingAuthenticationToken" if ctx.service != "ec2" else "AuthFailure",
        "Request is missing Authentication Token",
        403 if ctx.service != "ec2" else 401,
    )


def denied_error(ctx: RequestContext, action: str, decision: Any) -> ServiceError:
    principal = ctx.principal
    if principal.kind == "anonymous":
        return access_denied(ctx)
    message = denial_message(principal, action, decision)
    if ctx.service in ("s3", "s3control"):
        return ServiceError("AccessDenied", message, 403)
    if ctx.service == "ec2":
        encoded = encode_authorization_message(ctx.store, principal, action, decision,
                                               {"aws:RequestedRegion": ctx.region, "aws:SourceIp": ctx.source_ip})
        return ServiceError(
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. {message}. Encoded authorization failure message: {encoded}",
            403,
        )
    from .. import services

    model = services.model(ctx.service)
    protocol = model.metadata.get("protocol", "query")
    shapes = set(model.shape_names)
    if "AccessDeniedException" in shapes:
        return ServiceError("AccessDeniedException", message, 400 if protocol == "json" else 403)
    if protocol == "json":
        return ServiceError("AccessDeniedException", message, 400)
    if protocol == "rest-json":
        return ServiceError("AccessDeniedException", message, 403)
    return ServiceError("AccessDenied", message, 403)


def authorize(ctx: RequestContext, params: dict[str, Any]) -> None:
    """Raise the service's access error unless ``ctx.principal`` may run the operation."""
    principal = ctx.principal
    if (ctx.service, ctx.operation) in UNSIGNED_OPERATIONS:
        return  # the token in the request is the credential: the handler decides (trust policy)
    if principal.kind == "anonymous":
        if ctx.service not in PUBLIC_SERVICES:
            raise access_denied(ctx)
    state = iam_state(ctx.runtime)
    if not state.enforce and principal.kind != "anonymous":
        return  # enforcement off: no decision (the audit log still records the action)
    action, resources, decision = state.engine.authorize_request(ctx, params)
    ctx.extra["iam"] = (action, resources, decision)
    if decision.allowed:
        return
    raise denied_error(ctx, action, decision)


def record_request(
    runtime: Any,
    *,
    service: str | None,
    operation: str | None,
    principal: Principal | None,
    access_key: str,
    ctx: RequestContext | None,
    region: str,
    source_ip: str,
    user_agent: str,
    request_id: str,
    error: ServiceError | None,
) -> None:
    """Append the request's event to the audit log."""
    state = iam_state(runtime)
    if ctx is not None and ctx.extra.get("audit_principal") is not None:
        principal = ctx.extra["audit_principal"]  # e.g. the web identity behind an unsigned call
    action, resources, decision = (ctx.extra.get("iam") if ctx is not None else None) or (None, None, None)
    if action is None and service and operation:
        from .actions import operation_map

        action = operation_map(service, operation).action
    event = {
        "id": request_id,
        "time": runtime.clock.time(),
        "account": principal.account_id if principal is not None else "",
        "principal": principal.arn if principal is not None else "",
        "principal_kind": principal.kind if principal is not None else "",
        "user_id": principal.user_id if principal is not None else "",
        "user_name": principal.name if principal is not None and principal.kind != "root" else ("root" if principal is not None and principal.kind == "root" else ""),
        "parent": principal.parent_arn if principal is not None else "",
        "access_key": access_key,
        "source_identity": ((principal.session or {}).get("source_identity") or "") if principal is not None else "",
        "authenticated": principal is not None and principal.kind != "anonymous",
        "service": service or "",
        "operation": operation or "",
        "action": action or "",
        "prefix": (action or "").split(":", 1)[0],
        "resources": resources or [],
        "decision": ("Allow" if decision.allowed else "Deny") if decision is not None else "",
        "source_ip": source_ip,
        "user_agent": user_agent,
        "region": region,
        "read_only": bool(operation and operation.startswith(_READ_ONLY_PREFIXES)),
        "error_code": error.code if error is not None else "",
        "error_message": error.message[:500] if error is not None else "",
    }
    state.audit.record(event)


__all__ = ["UNSIGNED_OPERATIONS", "access_denied", "authorize", "denied_error", "iam_state", "record_request"]
