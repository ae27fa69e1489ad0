"""AWS STS: who am I, and temporary credentials.

Temporary credentials are access keys (``ASIA…``) stored like any other (kind
``access-key``) with a session token, an expiry in real time (the gateway refuses them
afterwards with each service's ExpiredToken error) and the session: its policies,
tags, MFA time and source identity, which the policy engine reads.  Whether a caller
may assume a role is decided by the engine before the handler runs (the role's trust
policy is its resource policy); the handler checks what only STS checks: durations,
MFA codes, root callers and session limits.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Any

from ...accounts import KEY_KIND, new_access_key_id, new_secret_access_key
from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...iam import mfa
from ...iam import records as R
from ...iam.engine import decode_authorization_message
from ...iam.policy import PolicyError, parse_document
from ..base import Provider
from ..iam.common import dt

SESSION_POLICY_MAX = 2048
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}\Z")


def _validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400, sender_fault=True)


def _duration(params: dict[str, Any], default: int, low: int, high: int) -> int:
    value = params.get("DurationSeconds")
    if value is None:
        return default
    if value < low:
        raise _validation(f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {low}")
    if value > high:
        raise _validation(f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {high}")
    return value


def _session_token() -> str:
    return "FwoGZXIvYXdzE" + base64.b64encode(secrets.token_bytes(96)).decode()


class StsProvider(Provider):
    service = "sts"

    def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.principal
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}

    def get_access_key_info(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = ctx.store.read.get(KEY_KIND, params["AccessKeyId"])
        if doc is None:
            raise _validation(f"The access key ID {params['AccessKeyId']} is not valid.")
        return {"Account": doc["account"]}

    # -- helpers ---------------------------------------------------------------------

    def _session_policies(self, params: dict[str, Any]) -> tuple[list[str], list[str]]:
        texts: list[str] = []
        if params.get("Policy") is not None:
            text = params["Policy"]
            if len(text) > SESSION_POLICY_MAX:
                raise _validation(f"1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to {SESSION_POLICY_MAX}")
            try:
                parse_document(text, kind="session")
            except PolicyError as exc:
                raise ServiceError("MalformedPolicyDocument", str(exc), 400) from None
            texts.append(text)
        arns = [p["arn"] for p in params.get("PolicyArns") or [] if isinstance(p, dict) and p.get("arn")]
        if len(arns) > 10:
            raise _validation("1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10")
        for arn in arns:
            if R.managed_policy_text(self.runtime.store.read, arn) is None:
                raise ServiceError("MalformedPolicyDocument", f"Policy {arn} does not exist or is not attachable.", 400)
        return texts, arns

    def _tags(self, params: dict[str, Any]) -> dict[str, str]:
        tags = params.get("Tags") or []
        if len(tags) > 50:
            raise _validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
        return {t["Key"]: t.get("Value", "") for t in tags}

    def _mfa(self, ctx: RequestContext, params: dict[str, Any]) -> float | None:
        serial, code = params.get("SerialNumber"), params.get("TokenCode")
        if not serial and not code:
            return None
        if not serial or not code:
            raise _validation("SerialNumber and TokenCode must be given together.")
        if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code):
            raise _validation(f"1 validation error detected: Value '{code}' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*")
        principal = ctx.principal
        device_owner = None
        parsed = mfa.serial_parts(serial)
        if parsed is not None:
            device = ctx.store.read.get(R.MFA, parsed[1], parsed[0])
            device_owner = device.get("user") if device else None
        caller_user = principal.name if principal.kind == "user" else R.name_from_arn(principal.parent_arn) if principal.kind == "federated-user" else None
        if device_owner is None or device_owner != caller_user or not mfa.verify_totp(ctx.store, principal.account_id, serial, code, time.time()):
            raise ServiceError("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ", 403)
        return time.time()

    def _issue(self, ctx: RequestContext, *, account: str, kind: str, arn: str, user_id: str, name: str,
               parent_arn: str, duration: int, session: dict[str, Any]) -> dict[str, Any]:
        key_id, secret, token = new_access_key_id("ASIA"), new_secret_access_key(), _session_token()
        issued = time.time()
        expires = issued + duration
        session = {**session, "issued": issued}
        with ctx.store.transaction() as txn:
            txn.put(KEY_KIND, key_id, {
                "secret": secret, "account": account, "kind": kind, "arn": arn, "user_id": user_id, "name": name,
                "parent_arn": parent_arn, "status": "Active", "created": issued, "session_token": token,
                "expires": expires, "session": session,
            })
        return {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token, "Expiration": dt(expires)}

    @staticmethod
    def _packed_size(texts: list[str], arns: list[str], tags: dict[str, str]) -> int:
        size = sum(len(re.sub(r"\s", "", t)) for t in texts) + 64 * len(arns) + sum(len(k) + len(v) for k, v in tags.items())
        return min(100, size * 100 // 2048)

    # -- operations -------------------------------------------------------------------

    def assume_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.principal
        role_arn = params["RoleArn"]
        session_name = params["RoleSessionName"]
        if not isinstance(session_name, str) or not _SESSION_NAME.match(session_name):
            raise _validation(f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        if principal.kind == "root":
            raise ServiceError("AccessDenied", "Roles may not be assumed by root accounts.", 403)
        parts = role_arn.split(":", 5) if isinstance(role_arn, str) else []
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise _validation(f"{role_arn} is invalid")
        role = ctx.store.read.get(R.ROLE, R.name_from_arn(role_arn), parts[4])
        if role is None or role["arn"] != role_arn:
            raise ServiceError("AccessDenied", f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", 403)
        chained = principal.kind == "assumed-role"
        max_duration = 3600 if chained else role.get("max_session", 3600)
        value = params.get("DurationSeconds")
        if value is not None and value > max_duration and value <= 43200:
            raise _validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining." if chained
                else "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        duration = _duration(params, 3600, 900, 43200)
        texts, arns = self._session_policies(params)
        tags = self._tags(params)
        inherited = dict((principal.session or {}).get("tags") or {}) if chained else {}
        transitive = list((principal.session or {}).get("transitive") or []) if chained else []
        for key in params.get("TransitiveTagKeys") or []:
            if key not in tags:
                raise _validation(f"The transitive tag key {key} must also be a session tag.")
            transitive.append(key)
        session_tags = {**{k: v for k, v in inherited.items() if k in transitive}, **tags}
        mfa_time = self._mfa(ctx, params) or ((principal.session or {}).get("mfa_time") if principal.session else None)
        source_identity = params.get("SourceIdentity") or (principal.session or {}).get("source_identity")
        session_arn = f"arn:aws:sts::{parts[4]}:assumed-role/{role['name']}/{session_name}"
        role_id = f"{role['id']}:{session_name}"
        credentials = self._issue(
            ctx, account=parts[4], kind="assumed-role", arn=session_arn, user_id=role_id, name=role["name"],
            parent_arn=role["arn"], duration=duration,
            session={"policies": texts, "policy_arns": arns, "tags": session_tags, "transitive": transitive,
                     "mfa_time": mfa_time, "source_identity": source_identity or ""},
        )
        with ctx.store.transaction() as txn:  # RoleLastUsed
            doc = txn.get(R.ROLE, role["name"], parts[4])
            if doc is not None:
                doc["last_used"] = {"date": ctx.clock.time(), "region": ctx.region}
                txn.put(R.ROLE, role["name"], doc, parts[4])
        out = {"Credentials": credentials, "AssumedRoleUser": {"AssumedRoleId": role_id, "Arn": session_arn},
               "PackedPolicySize": self._packed_size(texts, arns, tags)}
        if source_identity:
            out["SourceIdentity"] = source_identity
        return out

    def get_session_token(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.principal
        if principal.session is not None:
            raise ServiceError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        if principal.kind not in ("user", "root"):
            raise ServiceError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        high = 3600 if principal.kind == "root" else 129600
        duration = _duration(params, min(43200, high), 900, high)
        mfa_time = self._mfa(ctx, params)
        credentials = self._issue(
            ctx, account=principal.account_id, kind=principal.kind, arn=principal.arn, user_id=principal.user_id,
            name=principal.name, parent_arn="", duration=duration, session={"mfa_time": mfa_time},
        )
        return {"Credentials": credentials}

    def get_federation_token(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.principal
        if principal.kind not in ("user", "root") or principal.session is not None:
            raise ServiceError("AccessDenied", "Cannot call GetFederationToken with session credentials", 403)
        name = params["Name"]
        if not isinstance(name, str) or not _SESSION_NAME.match(name) or len(name) > 32:
            raise _validation(f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 32")
        high = 3600 if principal.kind == "root" else 129600
        duration = _duration(params, min(43200, high), 900, high)
        texts, arns = self._session_policies(params)
        tags = self._tags(params)
        arn = f"arn:aws:sts::{principal.account_id}:federated-user/{name}"
        user_id = f"{principal.account_id}:{name}"
        credentials = self._issue(
            ctx, account=principal.account_id, kind="federated-user", arn=arn, user_id=user_id, name=name,
            parent_arn=principal.arn, duration=duration,
            session={"policies": texts, "policy_arns": arns, "tags": tags, "mfa_time": None, "federated": True},
        )
        return {"Credentials": credentials, "FederatedUser": {"FederatedUserId": user_id, "Arn": arn},
                "PackedPolicySize": self._packed_size(texts, arns, tags)}

    def decode_authorization_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        decoded = decode_authorization_message(ctx.store, ctx.account_id, params["EncodedMessage"])
        if decoded is None:
            raise ServiceError("InvalidAuthorizationMessageException", "The message is invalid")
        return {"DecodedMessage": decoded}
