"""Resource-based policies, supplied by services through a small registry.

A service registers ``lookup(read_txn, resource_arn) -> ResourcePolicy | None`` for
its signing prefix; the engine never knows the service's records.  ``kinds`` names
the record kinds whose changes invalidate the engine's cache of lookups, and
``cache_key(arn)`` says which lookups share an answer (every object of a bucket shares
the bucket's policy).

Registered here: S3 bucket policies (the ``s3:bucket`` record's ``policy`` JSON string,
with its ``acl`` and Block Public Access settings read through the S3 provider's own
``access.acl_allows`` / ``access.effective_bpa``; object ACLs stay the S3 provider's
check), KMS key policies (``kms:key``
records' ``Policy``), role trust policies for ``sts:AssumeRole*`` and IAM users' and
roles' tags for ``aws:ResourceTag``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from .policy import CompiledPolicy, compile_cached
from .records import ROLE, USER


@dataclass
class ResourcePolicy:
    account_id: str  # the account that owns the resource
    policy: CompiledPolicy | None = None
    # ACL-style extra grant: (principal, action) -> True (grant) | None (no opinion)
    extra_check: Callable[[Any, str], bool | None] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # True: the resource policy must allow (directly, or by delegating to the account);
    # identity policies alone never suffice (KMS key policies, role trust policies).
    required: bool = False
    # actions the owning account's root may run whatever the policy says
    root_exempt: frozenset[str] = frozenset()


@dataclass
class Registration:
    lookup: Callable[[Any, str], ResourcePolicy | None]
    kinds: frozenset[str]
    cache_key: Callable[[str], str]


_REGISTRY: dict[str, list[Registration]] = {}


def register_resource_policy(
    service: str,
    lookup: Callable[[Any, str], ResourcePolicy | None],
    *,
    kinds: tuple[str, ...] = (),
    cache_key: Callable[[str], str] | None = None,
) -> None:
    """Let the engine find ``service``'s resource policies (``service`` is the IAM action prefix)."""
    _REGISTRY.setdefault(service, []).append(Registration(lookup, frozenset(kinds), cache_key or (lambda arn: arn)))


def registrations(service: str) -> list[Registration]:
    return _REGISTRY.get(service, [])


def watched_kinds() -> frozenset[str]:
    out: set[str] = set()
    for regs in _REGISTRY.values():
        for r in regs:
            out |= r.kinds
    return frozenset(out)


def _compile(text: Any, name: str) -> CompiledPolicy | None:
    if not text:
        return None
    if not isinstance(text, str):
        text = json.dumps(text)
    return compile_cached(text, "resource", name)


# ---------------------------------------------------------------------------- S3

S3_BUCKET = "s3:bucket"
_S3_ROOT_EXEMPT = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})


def _bucket_name(arn: str) -> str:
    return arn.split(":::", 1)[-1].split("/", 1)[0] if arn.startswith("arn:") else ""


_ACL_PERMISSION = {
    "s3:ListBucket": "READ", "s3:ListBucketVersions": "READ", "s3:ListBucketMultipartUploads": "READ",
    "s3:PutObject": "WRITE", "s3:DeleteObject": "WRITE", "s3:GetBucketAcl": "READ_ACP", "s3:PutBucketAcl": "WRITE_ACP",
}


def _s3_access():
    try:
        from ..services.s3 import access
    except ImportError:  # the S3 provider's access rules are not there: no ACLs
        return None
    return access


def _s3_lookup(read: Any, arn: str) -> ResourcePolicy | None:
    name = _bucket_name(arn)
    if not name or name == "*":
        return None
    record = read.get(S3_BUCKET, name)
    if record is None:
        return None
    access = _s3_access()
    if access is not None and hasattr(access, "effective_bpa"):
        settings = access.effective_bpa(read, record)
    else:
        settings = {k: bool(v) for k, v in (record.get("public_access_block") or {}).items()}
    policy = _compile(record.get("policy"), f"bucket policy of {name}")
    if policy is not None and settings.get("RestrictPublicBuckets"):
        policy = _restrict_public(policy)
    acl = record.get("acl")
    extra = None
    if (acl and access is not None and hasattr(access, "acl_allows") and not settings.get("IgnorePublicAcls")
            and record.get("object_ownership") != "BucketOwnerEnforced"):
        def extra(principal: Any, action: str, _acl=acl) -> bool | None:
            permission = _ACL_PERMISSION.get(action)
            return True if permission and access.acl_allows(_acl, principal, permission) else None

    tags = record.get("tags") or {}
    if isinstance(tags, list):
        tags = {t.get("Key"): t.get("Value") for t in tags if isinstance(t, dict)}
    return ResourcePolicy(
        account_id=record.get("owner", ""),
        policy=policy,
        extra_check=extra,
        tags=dict(tags),
        root_exempt=_S3_ROOT_EXEMPT,
    )


def _restrict_public(policy: CompiledPolicy) -> CompiledPolicy:
    """RestrictPublicBuckets: statements granting everyone ("*") no longer apply."""
    kept = tuple(s for s in policy.statements if not (s.allow and s.principal is not None and (s.principal.wildcard or "*" in s.principal.aws)))
    return CompiledPolicy(kept, policy.name, policy.kind)


register_resource_policy("s3", _s3_lookup, kinds=(S3_BUCKET, "s3control:public-access-block"), cache_key=_bucket_name)

# ---------------------------------------------------------------------------- KMS

KMS_KEY = "kms:key"
KMS_ALIAS = "kms:alias"


def _kms_lookup(read: Any, arn: str) -> ResourcePolicy | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "kms" or not parts[5].startswith("key/"):
        return None
    region, account, key_id = parts[3], parts[4], parts[5][4:]
    doc = read.get(KMS_KEY, key_id, f"{account}/{region}")
    if doc is None:
        return None
    tags = {t.get("TagKey"): t.get("TagValue") for t in doc.get("Tags", []) if isinstance(t, dict)}
    return ResourcePolicy(
        account_id=account,
        policy=_compile(doc.get("Policy"), f"key policy of {key_id}"),
        tags=tags,
        required=True,
    )


def _kms_key_resolver(value: Any, ctx: Any) -> str | None:
    """A KeyId member (id, key ARN, alias name or alias ARN) → the key's ARN."""
    from ..regions import partition_of

    ref = str(value)
    region, account = ctx.region, ctx.account_id
    if ref.startswith("arn:"):
        parts = ref.split(":", 5)
        if len(parts) != 6:
            return ref
        if parts[5].startswith("key/"):
            return ref
        region, account, ref = parts[3], parts[4], parts[5]
    prefix = f"arn:{partition_of(region)}:kms:{region}:{account}"
    if ref.startswith("alias/"):
        alias = ctx.store.read.get(KMS_ALIAS, ref, f"{account}/{region}")
        target = alias.get("TargetKeyId") if alias else None
        return f"{prefix}:key/{target}" if target else f"{prefix}:{ref}"
    return f"{prefix}:key/{ref}"


register_resource_policy("kms", _kms_lookup, kinds=(KMS_KEY,))

# ---------------------------------------------------------------------------- IAM roles (trust)


def _role_from_arn(read: Any, arn: str) -> dict | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    role = read.get(ROLE, parts[5].rsplit("/", 1)[-1], parts[4])
    if role is None or role["arn"] != arn:
        return None
    return role


def _trust_lookup(read: Any, arn: str) -> ResourcePolicy | None:
    role = _role_from_arn(read, arn)
    if role is None:
        return None
    return ResourcePolicy(
        account_id=arn.split(":")[4],
        policy=_compile(role.get("trust"), f"trust policy of {role['name']}"),
        tags={t["Key"]: t["Value"] for t in role.get("tags", [])},
        required=True,
    )


register_resource_policy("sts", _trust_lookup, kinds=(ROLE,))


def _iam_tags_lookup(read: Any, arn: str) -> ResourcePolicy | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        return None
    kind = {"user": USER, "role": ROLE}.get(parts[5].split("/", 1)[0])
    if kind is None:
        return None
    doc = read.get(kind, parts[5].rsplit("/", 1)[-1], parts[4])
    if doc is None:
        return None
    return ResourcePolicy(account_id=parts[4], tags={t["Key"]: t["Value"] for t in doc.get("tags", [])})


register_resource_policy("iam", _iam_tags_lookup, kinds=(USER, ROLE))


def _register_resolvers() -> None:
    from .actions import register_resolver

    register_resolver("kmskey", _kms_key_resolver)


_register_resolvers()

__all__ = ["ResourcePolicy", "register_resource_policy", "registrations", "watched_kinds"]
