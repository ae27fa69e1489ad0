"""AWS STS: who am I (temporary credentials arrive with the IAM issue)."""

from __future__ import annotations

from typing import Any

from ...gateway.context import RequestContext
from ..base import Provider


class StsProvider(Provider):
    service = "sts"

    def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.principal
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}
