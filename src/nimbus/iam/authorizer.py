"""The authorization decision every request passes through before its handler runs.

Today every principal is the root user of its own account (IAM users, roles and the
policy engine arrive with the IAM issue and plug in here), and AWS's rule for root is
simple: allowed everything in its own account.  Anonymous requests get nothing unless
the operation is one AWS serves without credentials; public S3 access (bucket
policies, ACLs) will be decided here by the same engine.
"""

from __future__ import annotations

from typing import Any

from ..errors import ServiceError
from ..gateway.context import RequestContext

# Operations AWS answers without any credentials.
UNSIGNED_OPERATIONS = frozenset(
    {
        ("sts", "AssumeRoleWithWebIdentity"),
        ("sts", "AssumeRoleWithSAML"),
    }
)


def access_denied(ctx: RequestContext) -> ServiceError:
    if ctx.service == "s3":
        return ServiceError("AccessDenied", "Access Denied", 403)
    return ServiceError(
        "MissingAuthenticationToken" if ctx.service != "ec2" else "AuthFailure",
        "Request is missing Authentication Token",
        403 if ctx.service != "ec2" else 401,
    )


def authorize(ctx: RequestContext, params: dict[str, Any]) -> None:
    """Raise the service's access error unless ``ctx.principal`` may run the operation."""
    principal = ctx.principal
    if principal.kind == "anonymous":
        if (ctx.service, ctx.operation) in UNSIGNED_OPERATIONS:
            return
        raise access_denied(ctx)
    # Root of the account: everything in its own account.
