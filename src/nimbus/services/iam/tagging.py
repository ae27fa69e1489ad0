"""Tags of the IAM resources that are not users or roles: instance profiles, virtual MFA
devices, OIDC providers, server certificates and customer managed policies (users and
roles are tagged in ``provider.py``).  One helper serves every ``Tag*``/``Untag*``/
``List*Tags`` operation; AWS's limits come from ``common.check_tags``."""

from __future__ import annotations

from typing import Any, Callable

from ...gateway.context import RequestContext
from ...iam import mfa
from ...iam import records as R
from .common import check_tags, no_such_entity, page, validation


class TaggingMixin:
    # a resource's (kind, key) from the request, or NoSuchEntity

    def _tag_target(self, ctx: RequestContext, what: str, params: dict[str, Any]) -> tuple[str, str]:
        if what == "instance-profile":
            name = params["InstanceProfileName"]
            if not ctx.store.read.exists(R.INSTANCE_PROFILE, name, ctx.account_id):
                raise no_such_entity(f"Instance Profile {name} cannot be found.")
            return R.INSTANCE_PROFILE, name
        if what == "mfa":
            serial = params["SerialNumber"]
            parsed = mfa.serial_parts(serial) if isinstance(serial, str) else None
            doc = ctx.store.read.get(R.MFA, parsed[1], ctx.account_id) if parsed and parsed[0] == ctx.account_id else None
            if doc is None or doc.get("serial") != serial:
                raise no_such_entity(f"VirtualMFADevice with serial number {serial} doesn't exist.")
            return R.MFA, parsed[1]
        if what == "oidc":
            return R.OIDC, self._oidc(ctx.store.read, ctx, params["OpenIDConnectProviderArn"])["url"]
        if what == "server-cert":
            name = params["ServerCertificateName"]
            if not ctx.store.read.exists(R.SERVER_CERT, name, ctx.account_id):
                raise no_such_entity(f"The Server Certificate with name {name} cannot be found.")
            return R.SERVER_CERT, name
        if what == "policy":
            doc = self._local_policy(ctx.store.read, ctx, params["PolicyArn"])
            return R.POLICY, doc["name"]
        raise AssertionError(what)

    def _change_tags(self, ctx: RequestContext, what: str, params: dict[str, Any],
                     change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> dict[str, Any]:
        kind, key = self._tag_target(ctx, what, params)
        with ctx.store.transaction() as txn:
            doc = txn.get(kind, key, ctx.account_id)
            doc["tags"] = change(doc.get("tags") or [])
            txn.put(kind, key, doc, ctx.account_id)
        return {}

    def _add_tags(self, ctx: RequestContext, what: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._change_tags(ctx, what, params, lambda tags: check_tags(params["Tags"], tags))

    def _remove_tags(self, ctx: RequestContext, what: str, params: dict[str, Any]) -> dict[str, Any]:
        keys = params["TagKeys"]
        if len(keys) > 50:
            raise validation("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50")
        return self._change_tags(ctx, what, params, lambda tags: [t for t in tags if t["Key"] not in keys])

    def _list_tags(self, ctx: RequestContext, what: str, params: dict[str, Any]) -> dict[str, Any]:
        kind, key = self._tag_target(ctx, what, params)
        return page(ctx.store.read.get(kind, key, ctx.account_id).get("tags") or [], params, "Tags")

    def tag_instance_profile(self, ctx, params):
        return self._add_tags(ctx, "instance-profile", params)

    def untag_instance_profile(self, ctx, params):
        return self._remove_tags(ctx, "instance-profile", params)

    def list_instance_profile_tags(self, ctx, params):
        return self._list_tags(ctx, "instance-profile", params)

    def tag_mfa_device(self, ctx, params):
        return self._add_tags(ctx, "mfa", params)

    def untag_mfa_device(self, ctx, params):
        return self._remove_tags(ctx, "mfa", params)

    def list_mfa_device_tags(self, ctx, params):
        return self._list_tags(ctx, "mfa", params)

    def tag_open_id_connect_provider(self, ctx, params):
        return self._add_tags(ctx, "oidc", params)

    def untag_open_id_connect_provider(self, ctx, params):
        return self._remove_tags(ctx, "oidc", params)

    def list_open_id_connect_provider_tags(self, ctx, params):
        return self._list_tags(ctx, "oidc", params)

    def tag_server_certificate(self, ctx, params):
        return self._add_tags(ctx, "server-cert", params)

    def untag_server_certificate(self, ctx, params):
        return self._remove_tags(ctx, "server-cert", params)

    def list_server_certificate_tags(self, ctx, params):
        return self._list_tags(ctx, "server-cert", params)

    def untag_policy(self, ctx, params):
        return self._remove_tags(ctx, "policy", params)
