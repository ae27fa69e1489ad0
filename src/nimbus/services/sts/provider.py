"""AWS STS: who am I, and temporary credentials.

Temporary credentials are access keys (``ASIA…``) stored like any other (kind
``access-key``) with a session token, an expiry in real time (the gateway refuses them
afterwards with each service's ExpiredToken error) and the session: its policies,
tags, MFA time and source identity, which the policy engine reads.  Whether a caller
may assume a role is decided by the engine before the handler runs (the role's trust
policy is its resource policy); the handler checks what only STS checks: durations,
MFA codes, root callers and session limits, and asks the engine about the actions a
call implies: ``sts:TagSession`` when session tags are passed (or inherited as
transitive tags) and ``sts:SetSourceIdentity`` when a source identity is set.

``AssumeRoleWithWebIdentity`` is unsigned: the OIDC token is the credential.  It is
verified against the issuer's JWKS (``nimbus.iam.oidc``) and the role's trust policy
decides for the token's user (Principal ``{"Federated": <provider ARN>}``, with the
``<provider>:aud`` / ``:sub`` / ``:amr`` condition keys and session tags from the
``https://aws.amazon.com/tags`` claim).
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from typing import Any

from ...accounts import KEY_KIND, Principal, new_access_key_id, new_secret_access_key
from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...iam import mfa, oidc
from ...iam.authorizer import denied_error, iam_state
from ...iam import records as R
from ...iam.engine import decode_authorization_message
from ...iam.policy import PolicyError, parse_document
from ..base import Provider
from ..iam.common import dt

SESSION_POLICY_MAX = 2048
MAX_SESSION_TAGS = 50
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}\Z")
_SOURCE_IDENTITY = re.compile(r"[\w+=,.@-]{2,64}\Z")
TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"


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


def _check_session_tags(tags: dict[Any, Any], given: int) -> dict[str, str]:
    """AWS's session-tag rules: at most 50, keys 1-128 and values ≤256 characters, no
    ``aws:`` prefix, keys unique ignoring case."""
    if given > MAX_SESSION_TAGS:
        raise _validation(f"1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_SESSION_TAGS}")
    seen: set[str] = set()
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not re.fullmatch(r"[\w\s_.:/=+\-@]+", key):
            raise _validation(f"1 validation error detected: Value '{key}' at 'tags.key' failed to satisfy constraint: Member must have length between 1 and 128")
        if not isinstance(value, str) or len(value) > 256:
            raise _validation(f"1 validation error detected: Value at 'tags.{key}.value' failed to satisfy constraint: Member must have length less than or equal to 256")
        if key.lower().startswith("aws:"):
            raise _validation(f"Tag key {key} is invalid: keys may not begin with aws:")
        if key.lower() in seen:
            raise _validation("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
        out[key] = value
    return out


def _source_identity(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SOURCE_IDENTITY.match(value):
        raise _validation(f"1 validation error detected: Value '{value}' at 'sourceIdentity' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64")
    if value.lower().startswith("aws:"):
        raise _validation("The source identity may not begin with the prefix aws:")
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
        return _check_session_tags({t.get("Key"): t.get("Value", "") for t in params.get("Tags") or []}, len(params.get("Tags") or []))

    def _check(self, ctx: RequestContext, params: dict[str, Any], action: str, resource: str, *,
               principal: Principal | None = None, tags: dict[str, str] | None = None,
               extra: dict[str, Any] | None = None) -> Any:
        """Ask the engine about an action the call implies; the decision (None: enforcement off)."""
        state = iam_state(self.runtime)
        if not state.enforce:
            return None
        return state.engine.authorize_action(ctx, params, action, resource, principal=principal, tags=tags, extra=extra)

    def _require(self, ctx: RequestContext, params: dict[str, Any], action: str, resource: str, **kw: Any) -> None:
        decision = self._check(ctx, params, action, resource, **kw)
        if decision is not None and not decision.allowed:
            raise denied_error(ctx, action, decision)

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
        """Percent of the packed limit the session policies and tags use (AWS compresses
        them into a binary format; over 100 % the call fails with PackedPolicyTooLarge)."""
        size = sum(len(re.sub(r"\s", "", t)) for t in texts) // 2 + 64 * len(arns) + sum(len(k) + len(v) + 2 for k, v in tags.items())
        percent = -(-size * 100 // 2048)
        if percent > 100:
            raise ServiceError("PackedPolicyTooLarge", f"Packed size of session policies and session tags exceeds 100% of limit (was {percent}%).")
        return percent

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
        inherited_transitive = {k: v for k, v in inherited.items() if k in transitive}
        for key in tags:
            if key.lower() in {k.lower() for k in inherited_transitive}:
                raise _validation(f"The session tag {key} is transitive from the calling session and cannot be overridden.")
        session_tags = {**inherited_transitive, **tags}
        inherited_identity = (principal.session or {}).get("source_identity") if chained else None
        source_identity = _source_identity(params.get("SourceIdentity"))
        if inherited_identity and source_identity and source_identity != inherited_identity:
            raise _validation("The source identity of a role session cannot be changed: it was set to "
                              f"{inherited_identity} by the calling session.")
        source_identity = source_identity or inherited_identity
        self._packed_size(texts, arns, session_tags)
        if session_tags:
            self._require(ctx, params, "sts:TagSession", role_arn, tags=session_tags)
        if source_identity:
            self._require(ctx, params, "sts:SetSourceIdentity", role_arn, extra={"sts:SourceIdentity": source_identity})
        mfa_time = self._mfa(ctx, params) or ((principal.session or {}).get("mfa_time") if principal.session else None)
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
               "PackedPolicySize": self._packed_size(texts, arns, session_tags)}
        if source_identity:
            out["SourceIdentity"] = source_identity
        return out

    async def assume_role_with_web_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        role_arn = params["RoleArn"]
        session_name = params["RoleSessionName"]
        if not isinstance(session_name, str) or not _SESSION_NAME.match(session_name):
            raise _validation(f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        if params.get("ProviderId"):
            raise _validation(f"ProviderId {params['ProviderId']} is an OAuth 2.0 provider; Nimbus accepts OpenID Connect ID tokens "
                              "from an IAM OIDC provider (omit ProviderId).")
        parts = role_arn.split(":", 5) if isinstance(role_arn, str) else []
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise _validation(f"{role_arn} is invalid")
        account = parts[4]
        token = params["WebIdentityToken"]
        if not isinstance(token, str) or not 4 <= len(token) <= 20000:
            raise _validation("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000")
        try:
            parsed = oidc.parse_token(token)
        except oidc.TokenError as exc:
            raise ServiceError(exc.code, exc.message) from None
        iss = parsed.claims.get("iss")
        provider = ctx.store.read.get(R.OIDC, parsed.issuer_host, account) if isinstance(iss, str) and iss else None
        if provider is None:
            raise ServiceError("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}")
        state = iam_state(self.runtime)
        try:
            claims = await asyncio.to_thread(oidc.verify_token, parsed, provider, state.jwks)
        except oidc.TokenError as exc:
            raise ServiceError(exc.code, exc.message) from None
        sub = claims["sub"]
        audience = claims.get("azp") if claims.get("azp") in provider.get("clients", []) else next(
            a for a in parsed.audiences if a in provider.get("clients", []))
        host = provider["url"]
        amr = claims.get("amr")
        condition_keys = {f"{host}:aud": audience, f"{host}:sub": sub,
                          f"{host}:oaud": [a for a in parsed.audiences if a != audience] or None,
                          f"{host}:amr": [str(a) for a in amr] if isinstance(amr, list) else (str(amr) if amr else None),
                          f"{host}:iss": iss}
        # session tags and source identity the token asks for
        tag_claim = claims.get(TAGS_CLAIM) if isinstance(claims.get(TAGS_CLAIM), dict) else {}
        principal_tags = tag_claim.get("principal_tags") if isinstance(tag_claim.get("principal_tags"), dict) else {}
        flat = {k: (v[0] if isinstance(v, list) and v else v) for k, v in principal_tags.items()}
        if any(not isinstance(v, str) for v in flat.values()):
            raise ServiceError("InvalidIdentityToken", "The session tags in the token must be strings or lists of one string.")
        tags = _check_session_tags(flat, len(flat))
        transitive = [k for k in tag_claim.get("transitive_tag_keys") or [] if isinstance(k, str)]
        for key in transitive:
            if key not in tags:
                raise _validation(f"The transitive tag key {key} must also be a session tag.")
        try:
            source_identity = _source_identity(claims.get(SOURCE_IDENTITY_CLAIM))
        except ServiceError as exc:
            raise ServiceError("InvalidIdentityToken", exc.message) from None
        web_user = Principal(account_id=account, arn=provider["arn"], user_id=f"{provider['arn']}:{audience}:{sub}",
                             kind="web-identity", name=sub,
                             session={"condition_keys": {k.lower(): v for k, v in condition_keys.items() if v is not None},
                                      "source_identity": source_identity or ""})
        ctx.extra["audit_principal"] = web_user
        action = "sts:AssumeRoleWithWebIdentity"
        decision = self._check(ctx, params, action, role_arn, principal=web_user, tags=tags or None)
        if decision is not None:
            ctx.extra["iam"] = (action, [role_arn], decision)
            if not decision.allowed:
                raise ServiceError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        role = ctx.store.read.get(R.ROLE, R.name_from_arn(role_arn), account)
        if role is None or role["arn"] != role_arn:
            raise ServiceError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        for extra_action, wanted, extra in (("sts:TagSession", bool(tags), None),
                                            ("sts:SetSourceIdentity", bool(source_identity), {"sts:SourceIdentity": source_identity})):
            if wanted:
                d = self._check(ctx, params, extra_action, role_arn, principal=web_user, tags=tags or None, extra=extra)
                if d is not None and not d.allowed:
                    raise ServiceError("AccessDenied", f"Not authorized to perform {extra_action}", 403)
        value = params.get("DurationSeconds")
        if value is not None and value > role.get("max_session", 3600) and value <= 43200:
            raise _validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        duration = _duration(params, 3600, 900, 43200)
        texts, arns = self._session_policies(params)
        packed = self._packed_size(texts, arns, tags)
        session_arn = f"arn:aws:sts::{account}:assumed-role/{role['name']}/{session_name}"
        role_id = f"{role['id']}:{session_name}"
        credentials = self._issue(
            ctx, account=account, kind="assumed-role", arn=session_arn, user_id=role_id, name=role["name"],
            parent_arn=role["arn"], duration=duration,
            session={"policies": texts, "policy_arns": arns, "tags": tags, "transitive": transitive, "mfa_time": None,
                     "source_identity": source_identity or "",
                     "web_identity": {"provider": provider["arn"], "sub": sub, "aud": audience}},
        )
        with ctx.store.transaction() as txn:  # RoleLastUsed
            doc = txn.get(R.ROLE, role["name"], account)
            if doc is not None:
                doc["last_used"] = {"date": ctx.clock.time(), "region": ctx.region}
                txn.put(R.ROLE, role["name"], doc, account)
        out = {"Credentials": credentials, "SubjectFromWebIdentityToken": sub,
               "AssumedRoleUser": {"AssumedRoleId": role_id, "Arn": session_arn},
               "PackedPolicySize": packed, "Provider": iss, "Audience": audience}
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
