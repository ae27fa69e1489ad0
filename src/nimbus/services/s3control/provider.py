"""S3 Control: account-level Block Public Access.

The configuration lives in kind ``s3control:public-access-block`` (key = account id,
scope ""), where S3 and the IAM engine read it.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ..base import Provider
from ..s3.access import ACCOUNT_BPA_KIND, BPA_FIELDS


class S3ControlProvider(Provider):
    service = "s3control"

    def _account(self, ctx: Any, params: dict[str, Any]) -> str:
        account = params.get("AccountId") or ctx.account_id
        if account != ctx.account_id:
            raise ServiceError("AccessDenied", "Access Denied", 403)
        return account

    def put_public_access_block(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(ctx, params)
        config = params.get("PublicAccessBlockConfiguration")
        if not config:
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        with ctx.store.transaction() as txn:
            txn.put(ACCOUNT_BPA_KIND, account, {f: bool(config.get(f)) for f in BPA_FIELDS})
        return {}

    def get_public_access_block(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        doc = ctx.store.read.get(ACCOUNT_BPA_KIND, self._account(ctx, params))
        if doc is None:
            raise ServiceError("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found", 404,
                               fields={"AccountId": ctx.account_id})
        return {"PublicAccessBlockConfiguration": doc}

    def delete_public_access_block(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            txn.delete(ACCOUNT_BPA_KIND, self._account(ctx, params))
        return {}

    def resource_counts(self) -> dict[str, int]:
        return {"public-access-block": self.runtime.store.read.count(ACCOUNT_BPA_KIND)}
