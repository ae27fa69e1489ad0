"""The policy engine: decides every request, following AWS's "Policy evaluation logic".

Order (IAM user guide, "Policy evaluation logic" → "Determining whether a request is
allowed or denied within an account" and "Cross-account policy evaluation logic"):

1. an explicit ``Deny`` in any applicable policy (identity, resource, permissions
   boundary, session) denies;
2. the account root is allowed everything on resources of its own account (resource
   policies' explicit denies still apply, except the bucket-policy actions S3 always
   lets the bucket owner's root run); root users cannot assume roles;
3. a resource-based policy that names the principal (its ARN, its role, or ``*``)
   allows within the account; one that names the *account* delegates to the
   account's identity policies;
4. otherwise identity policies must allow, and — when present — the permissions
   boundary and the session policies must allow too;
5. across accounts both sides must allow; resources whose policy is mandatory (KMS
   key policies, role trust policies) must allow in every case.

Anonymous requests get only what a resource policy grants to everyone.

Compiled policies are cached per principal (``PrincipalPolicies``, with a per-action
index of candidate statements) and dropped when the store's change feed reports a
change to IAM records; resource-policy lookups are cached per resource and dropped
when their service's records change.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..accounts import KEY_KIND, Principal
from . import records
from .actions import condition_values, operation_map, request_tags, resources_for
from .policy import CompiledPolicy, Statement, compile_cached
from .resources import ResourcePolicy, registrations, watched_kinds

# Operations that need no permission at all (AWS: "No permissions are required").
FREE_ACTIONS = frozenset({"sts:GetCallerIdentity", "sts:GetSessionToken"})


# ------------------------------------------------------------------ principal policies


@dataclass
class PrincipalPolicies:
    identity: list[CompiledPolicy]
    boundary: CompiledPolicy | None = None
    session: list[CompiledPolicy] | None = None  # None: no session policies apply
    tags: dict[str, str] = field(default_factory=dict)
    _index: dict[str, Any] = field(default_factory=dict)

    def candidates(self, action: str) -> tuple[list[Statement], list[Statement], list[Statement] | None]:
        """(identity, boundary, session) statements whose Action matches ``action``."""
        hit = self._index.get(action)
        if hit is None:
            ident = [s for p in self.identity for s in p.statements if s.matches_action(action)]
            bound = [s for s in self.boundary.statements if s.matches_action(action)] if self.boundary else []
            sess = None
            if self.session is not None:
                sess = [s for p in self.session for s in p.statements if s.matches_action(action)]
            if len(self._index) > 2048:
                self._index.clear()
            hit = self._index[action] = (ident, bound, sess)
        return hit


EMPTY = PrincipalPolicies(identity=[])


@dataclass
class Decision:
    allowed: bool
    reason: str = ""  # why not: explicit-deny-identity | no-identity | explicit-deny-resource | ...
    resource: str = "*"
    matched: list[dict] = field(default_factory=list)


class LazyContext:
    """The request's condition keys, computed on first use (keys are lower-case)."""

    __slots__ = ("values", "_ctx", "_principal", "_pp", "_rp", "_tags")

    def __init__(self, ctx: Any, principal: Principal, pp: PrincipalPolicies, extra: dict[str, Any], tags: dict[str, str] | None) -> None:
        self.values = extra
        self._ctx = ctx
        self._principal = principal
        self._pp = pp
        self._rp: ResourcePolicy | None = None
        self._tags = tags

    def for_resource(self, rp: ResourcePolicy | None) -> "LazyContext":
        self._rp = rp
        return self

    def get(self, key: str) -> Any:
        key = key.lower()
        if key in self.values:
            return self.values[key]
        value = self._compute(key)
        if not key.startswith("aws:resourcetag/"):
            self.values[key] = value
        return value

    def _compute(self, key: str) -> Any:
        ctx, p = self._ctx, self._principal
        if key == "aws:sourceip":
            return ctx.source_ip or None
        if key == "aws:securetransport":
            return "true" if ctx.secure else "false"
        if key == "aws:currenttime":
            return ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        if key == "aws:epochtime":
            return str(int(ctx.clock.time()))
        if key == "aws:requestedregion":
            return ctx.region
        if key == "aws:useragent":
            return ctx.user_agent or None
        if key == "aws:referer":
            return (ctx.headers.get("Referer") if ctx.headers is not None else None) or None
        if p.kind == "anonymous":
            return None
        if key == "aws:principalarn":
            return p.parent_arn if p.kind == "assumed-role" and p.parent_arn else p.arn
        if key == "aws:principalaccount":
            return p.account_id
        if key == "aws:principaltype":
            return {"root": "Account", "user": "User", "assumed-role": "AssumedRole", "federated-user": "FederatedUser",
                    "web-identity": "WebIdentityUser"}.get(p.kind)
        if p.kind == "web-identity":
            # the token's claims as the provider's keys (<host>:aud, :sub, :amr …) and aws:FederatedProvider
            if key == "aws:federatedprovider":
                return p.arn
            claims = (p.session or {}).get("condition_keys") or {}
            if key in claims:
                return claims[key]
        if key == "aws:userid":
            return p.user_id
        if key == "aws:username":
            return p.name if p.kind == "user" else None
        if key == "aws:principalisawsservice":
            return "false"
        session = p.session or {}
        if key == "aws:multifactorauthpresent":
            if not session:
                return None  # long-term credentials: the key is absent (AWS)
            return "true" if session.get("mfa_time") else "false"
        if key == "aws:multifactorauthage":
            mfa = session.get("mfa_time")
            return str(int(time.time() - mfa)) if mfa else None
        if key == "aws:tokenissuetime":
            issued = session.get("issued")
            return datetime.fromtimestamp(issued, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if issued else None
        if key == "aws:sourceidentity":
            return session.get("source_identity") or None
        if key.startswith("aws:principaltag/"):
            tags = dict(self._pp.tags)
            tags.update(session.get("tags") or {})
            wanted = key.split("/", 1)[1]
            return next((v for k, v in tags.items() if k.lower() == wanted), None)
        if key.startswith("aws:requesttag/"):
            wanted = key.split("/", 1)[1]
            return next((v for k, v in (self._tags or {}).items() if k.lower() == wanted), None)
        if key == "aws:tagkeys":
            return list(self._tags) if self._tags is not None else None
        if key.startswith("aws:resourcetag/") or key.startswith("ec2:resourcetag/"):
            wanted = key.split("/", 1)[1]
            tags = self._rp.tags if self._rp is not None else {}
            return next((v for k, v in tags.items() if k.lower() == wanted), None)
        return None


class Engine:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._principals: dict[tuple[str, str], PrincipalPolicies] = {}
        self._resources: dict[tuple[str, str], ResourcePolicy | None] = {}
        self._watched = watched_kinds()
        store.subscribe(self._on_change)

    # -- cache invalidation --------------------------------------------------------

    def _on_change(self, changes: list) -> None:
        iam_changed = False
        resource_changed = False
        for change in changes:
            kind = change.kind
            if kind.startswith("iam:") and kind not in records.NON_POLICY_KINDS:
                iam_changed = True
            elif kind == KEY_KIND:
                iam_changed = True
            if kind in self._watched:
                resource_changed = True
        if iam_changed:
            self._principals.clear()
        if resource_changed:
            self._resources.clear()

    # -- what applies to a principal ----------------------------------------------

    def policies_for(self, principal: Principal) -> PrincipalPolicies:
        if principal.kind in ("root", "anonymous"):
            return EMPTY
        cache_key = (principal.arn, principal.access_key)
        found = self._principals.get(cache_key)
        if found is None:
            found = self._load(principal)
            if len(self._principals) > 10000:
                self._principals.clear()
            self._principals[cache_key] = found
        return found

    def _load(self, principal: Principal) -> PrincipalPolicies:
        read = self.store.read
        account = principal.account_id
        session = principal.session or {}
        if principal.kind == "user":
            return self.user_policies(read, account, principal.name)
        if principal.kind == "assumed-role":
            role_name = records.name_from_arn(principal.parent_arn)
            base = self.role_policies(read, account, role_name)
            session_policies = _session_policies(read, session)
            return PrincipalPolicies(base.identity, base.boundary, session_policies, base.tags)
        if principal.kind == "federated-user":
            user_name = records.name_from_arn(principal.parent_arn)
            base = self.user_policies(read, account, user_name)
            return PrincipalPolicies(base.identity, base.boundary, _session_policies(read, session) or [], base.tags)
        return EMPTY

    def user_policies(self, read: Any, account: str, name: str) -> PrincipalPolicies:
        user = read.get(records.USER, name, account)
        if user is None:
            return PrincipalPolicies(identity=[])
        identity = _entity_policies(read, user, f"user {name}")
        for group_name in user.get("groups", []):
            group = read.get(records.GROUP, group_name, account)
            if group is not None:
                identity.extend(_entity_policies(read, group, f"group {group_name}"))
        boundary = _managed(read, user["boundary"], "boundary") if user.get("boundary") else None
        return PrincipalPolicies(identity, boundary, None, {t["Key"]: t["Value"] for t in user.get("tags", [])})

    def role_policies(self, read: Any, account: str, name: str) -> PrincipalPolicies:
        role = read.get(records.ROLE, name, account)
        if role is None:
            return PrincipalPolicies(identity=[])
        identity = _entity_policies(read, role, f"role {name}")
        boundary = _managed(read, role["boundary"], "boundary") if role.get("boundary") else None
        return PrincipalPolicies(identity, boundary, None, {t["Key"]: t["Value"] for t in role.get("tags", [])})

    def resource_policy(self, prefix: str, arn: str) -> ResourcePolicy | None:
        regs = registrations(prefix)
        if not regs or arn == "*":
            return None
        for reg in regs:
            key = (prefix, reg.cache_key(arn))
            if key in self._resources:
                found = self._resources[key]
            else:
                found = reg.lookup(self.store.read, arn)
                if len(self._resources) > 10000:
                    self._resources.clear()
                self._resources[key] = found
            if found is not None:
                return found
        return None

    # -- the decision -----------------------------------------------------------------

    def authorize_request(self, ctx: Any, params: dict[str, Any]) -> tuple[str, list[str], Decision]:
        """Map the request and decide it: (IAM action, resources, decision)."""
        op = operation_map(ctx.service, ctx.operation)
        action = op.action
        resources = resources_for(op, params, ctx)
        principal = ctx.principal
        if action in FREE_ACTIONS and principal.kind != "anonymous":
            return action, resources, Decision(True, resource=resources[0])
        refused = session_restriction(principal, action)
        if refused:
            return action, resources, Decision(False, refused, resources[0])
        pp = self.policies_for(principal)
        extra = condition_values(op, params) if op.conditions else {}
        context = LazyContext(ctx, principal, pp, extra, request_tags(op, params) if op.tags else None)
        prefix = action.split(":", 1)[0]
        for resource in resources:
            rp = None if op.creates else self.resource_policy(prefix, resource)
            decision = self.decide(principal, action, resource, context, pp, rp)
            if not decision.allowed:
                return action, resources, decision
        return action, resources, Decision(True, resource=resources[0])

    def authorize_action(
        self,
        ctx: Any,
        params: dict[str, Any],
        action: str,
        resource: str,
        *,
        principal: Principal | None = None,
        tags: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Decision:
        """Decide one more action a request implies (``sts:TagSession`` and
        ``sts:SetSourceIdentity`` with ``AssumeRole``; ``sts:AssumeRoleWithWebIdentity``
        for a token's user), with the request's condition keys."""
        principal = principal or ctx.principal
        op = operation_map(ctx.service, ctx.operation)
        values = condition_values(op, params) if op.conditions else {}
        values.update({k.lower(): v for k, v in (extra or {}).items()})
        if tags is None and op.tags:
            tags = request_tags(op, params)
        pp = self.policies_for(principal) if principal.kind not in ("web-identity",) else EMPTY
        context = LazyContext(ctx, principal, pp, values, tags)
        rp = self.resource_policy(action.split(":", 1)[0], resource)
        return self.decide(principal, action, resource, context, pp, rp)

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: LazyContext,
        pp: PrincipalPolicies,
        rp: ResourcePolicy | None,
    ) -> Decision:
        context.for_resource(rp)
        kind = principal.kind
        # resource-based policy
        res_deny = res_direct = res_account = False
        if rp is not None:
            if rp.policy is not None:
                for st in rp.policy.statements:
                    if not st.matches_action(action):
                        continue
                    matched, via_account = st.matches_principal(principal)
                    if not matched or not st.matches_resource(resource, context) or not st.matches_condition(context):
                        continue
                    if not st.allow:
                        res_deny = True
                        break
                    if via_account:
                        res_account = True
                    else:
                        res_direct = True
            if not res_deny and not res_direct and rp.extra_check is not None and rp.extra_check(principal, action):
                res_direct = True
        if kind == "root":
            own = rp is None or rp.account_id in ("", principal.account_id)
            if res_deny and not (own and action in rp.root_exempt):
                return Decision(False, "explicit-deny-resource", resource)
            if own and not (rp is not None and rp.required and not (res_direct or res_account)):
                return Decision(True, resource=resource)
            if res_direct or res_account:
                return Decision(True, resource=resource)
            return Decision(False, "no-resource", resource)
        if kind == "anonymous":
            if res_deny or not res_direct:
                return Decision(False, "explicit-deny-resource" if res_deny else "no-resource", resource)
            return Decision(True, resource=resource)
        if res_deny:
            return Decision(False, "explicit-deny-resource", resource)
        ident, bound, sess = pp.candidates(action)
        id_allow = False
        for st in ident:
            if st.matches_resource(resource, context) and st.matches_condition(context):
                if not st.allow:
                    return Decision(False, "explicit-deny-identity", resource)
                id_allow = True
        b_allow = pp.boundary is None
        for st in bound:
            if st.matches_resource(resource, context) and st.matches_condition(context):
                if not st.allow:
                    return Decision(False, "explicit-deny-boundary", resource)
                b_allow = True
        s_allow = sess is None
        for st in sess or ():
            if st.matches_resource(resource, context) and st.matches_condition(context):
                if not st.allow:
                    return Decision(False, "explicit-deny-session", resource)
                s_allow = True
        identity_ok = id_allow and b_allow and s_allow
        same_account = rp is None or rp.account_id in ("", principal.account_id)
        if rp is not None and rp.required:
            if res_direct and same_account:
                return Decision(True, resource=resource)
            if res_direct or res_account:
                if identity_ok:
                    return Decision(True, resource=resource)
                return Decision(False, _why(id_allow, b_allow, s_allow), resource)
            return Decision(False, "no-resource", resource)
        if same_account:
            if res_direct or identity_ok:
                return Decision(True, resource=resource)
            return Decision(False, _why(id_allow, b_allow, s_allow), resource)
        if not identity_ok:
            return Decision(False, _why(id_allow, b_allow, s_allow), resource)
        if res_direct or res_account:
            return Decision(True, resource=resource)
        return Decision(False, "no-resource", resource)

    # -- simulation (iam:Simulate*) -----------------------------------------------

    def simulate(
        self,
        principal: Principal,
        pp: PrincipalPolicies,
        action: str,
        resource: str,
        context_entries: dict[str, Any],
        resource_policy: CompiledPolicy | None = None,
        resource_owner: str = "",
        ctx: Any = None,
    ) -> tuple[str, list[dict]]:
        """EvalDecision ("allowed" | "explicitDeny" | "implicitDeny") and matched statements."""
        context = LazyContext(ctx, principal, pp, {k.lower(): v for k, v in context_entries.items()}, None)
        rp = None
        if resource_policy is not None:
            rp = ResourcePolicy(account_id=resource_owner or principal.account_id, policy=resource_policy)
        decision = self.decide(principal, action, resource, context, pp, rp)
        matched: list[dict] = []
        for policy in pp.identity:
            for st in policy.statements:
                if st.matches_action(action) and st.matches_resource(resource, context) and st.matches_condition(context):
                    matched.append({"SourcePolicyId": policy.name, "SourcePolicyType": "IAM Policy"})
                    break
        if decision.allowed:
            return "allowed", matched
        return ("explicitDeny" if decision.reason.startswith("explicit") else "implicitDeny"), matched


def session_restriction(principal: Principal, action: str) -> str:
    """What AWS refuses to some temporary credentials whatever their policies say:
    federated users (GetFederationToken) call no IAM operation and no STS operation but
    GetCallerIdentity; GetSessionToken sessions call IAM only with MFA, and of STS only
    AssumeRole and GetCallerIdentity.  The denial reason, or ""."""
    session = principal.session
    if session is None or principal.kind not in ("federated-user", "user"):
        return ""
    prefix = action.split(":", 1)[0]
    if principal.kind == "federated-user":
        if prefix == "iam" or (prefix == "sts" and action != "sts:GetCallerIdentity"):
            return "federated-session"
        return ""
    if prefix == "iam" and not session.get("mfa_time"):
        return "session-token-no-mfa"
    if prefix == "sts" and action not in ("sts:AssumeRole", "sts:GetCallerIdentity", "sts:GetSessionToken"):
        return "session-token"
    return ""


def _why(id_allow: bool, b_allow: bool, s_allow: bool) -> str:
    if not id_allow:
        return "no-identity"
    if not b_allow:
        return "no-boundary"
    return "no-session"


def _managed(read: Any, arn: str, kind: str = "identity") -> CompiledPolicy | None:
    text = records.managed_policy_text(read, arn)
    if text is None:
        return None
    return compile_cached(text, kind, arn)


def _entity_policies(read: Any, entity: dict[str, Any], label: str) -> list[CompiledPolicy]:
    out = []
    for name, text in sorted((entity.get("inline") or {}).items()):
        out.append(compile_cached(text, "identity", f"{label} inline {name}"))
    for arn in entity.get("attached", []):
        compiled = _managed(read, arn)
        if compiled is not None:
            out.append(compiled)
    return out


def _session_policies(read: Any, session: dict[str, Any]) -> list[CompiledPolicy] | None:
    texts = session.get("policies") or []
    arns = session.get("policy_arns") or []
    if not texts and not arns:
        return None
    out = [compile_cached(t, "session", "session policy") for t in texts]
    for arn in arns:
        compiled = _managed(read, arn, "session")
        out.append(compiled if compiled is not None else CompiledPolicy((), arn, "session"))
    # AWS intersects with each passed policy as one set: the union of the session
    # policies is the session's ceiling.
    return out


# ------------------------------------------------------------------ denial messages


_REASONS = {
    "explicit-deny-identity": "with an explicit deny in an identity-based policy",
    "explicit-deny-resource": "with an explicit deny in a resource-based policy",
    "explicit-deny-boundary": "with an explicit deny in a permissions boundary",
    "explicit-deny-session": "with an explicit deny in a session policy",
    "no-identity": "because no identity-based policy allows the {action} action",
    "no-resource": "because no resource-based policy allows the {action} action",
    "no-boundary": "because no permissions boundary allows the {action} action",
    "no-session": "because no session policy allows the {action} action",
    "federated-session": "because federated user sessions (GetFederationToken) may not call IAM or STS operations other than sts:GetCallerIdentity",
    "session-token-no-mfa": "because GetSessionToken credentials may call IAM operations only when MFA authentication is included",
    "session-token": "because GetSessionToken credentials may call only sts:AssumeRole and sts:GetCallerIdentity of STS",
}


def denial_message(principal: Principal, action: str, decision: Decision) -> str:
    reason = _REASONS.get(decision.reason, "").format(action=action)
    return (
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {decision.resource}"
        + (f" {reason}" if reason else "")
    )


# ------------------------------------------------------------------ encoded messages (EC2)


def _message_key(store: Any) -> bytes:
    key = store.read.get(records.SECRET, "authorization-message-key")
    if key is None:
        with store.transaction() as txn:
            key = txn.get(records.SECRET, "authorization-message-key")
            if key is None:
                key = base64.b64encode(os.urandom(32)).decode()
                txn.put(records.SECRET, "authorization-message-key", key)
    return base64.b64decode(key)


def encode_authorization_message(store: Any, principal: Principal, action: str, decision: Decision, context: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    document = {
        "allowed": False,
        "explicitDeny": decision.reason.startswith("explicit"),
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"id": principal.user_id, "arn": principal.arn},
            "action": action,
            "resource": decision.resource,
            "conditions": {"items": [{"key": k, "values": {"items": [{"value": str(v)}]}} for k, v in context.items()]},
        },
    }
    nonce = os.urandom(12)
    sealed = AESGCM(_message_key(store)).encrypt(nonce, json.dumps(document).encode(), principal.account_id.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def decode_authorization_message(store: Any, account_id: str, message: str) -> str | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.urlsafe_b64decode(message + "=" * (-len(message) % 4))
        return AESGCM(_message_key(store)).decrypt(raw[:12], raw[12:], account_id.encode()).decode()
    except (ValueError, InvalidTag):
        return None


__all__ = [
    "Decision",
    "Engine",
    "LazyContext",
    "PrincipalPolicies",
    "decode_authorization_message",
    "denial_message",
    "encode_authorization_message",
]
