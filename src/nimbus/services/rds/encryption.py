"""RDS storage encryption with KMS keys: which key an instance or snapshot uses, the data
keys of encrypted snapshots, and whether another account may use a shared snapshot's key.

What "encrypted" means in Nimbus: an encrypted instance's **snapshots** (manual, final,
copies) are stored encrypted on disk (AES-256-GCM under a data key of their own, obtained
from KMS ``GenerateDataKey`` under the instance's or copy's KMS key and kept only wrapped
in the snapshot record; see ``nimbus.planes.engines.snapcrypt``).  Restoring one asks KMS
to ``Decrypt`` that data key, so it needs the key to exist and be enabled, as on AWS.
The live data directory of a running engine is not encrypted: PostgreSQL has no
transparent data encryption, and the engine must read its files.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext


def _kms_ctx(ctx: RequestContext, key_arn: str | None) -> RequestContext:
    """A KMS request context in the key's own account and region (a key ARN names them)."""
    region, account = ctx.region, ctx.account_id
    if key_arn and key_arn.startswith("arn:"):
        parts = key_arn.split(":")
        if len(parts) > 5:
            region, account = parts[3] or region, parts[4] or account
    principal = ctx.principal if account == ctx.account_id else replace(ctx.principal, account_id=account)
    return replace(ctx, service="kms", region=region, principal=principal)


def _not_accessible(key_ref: str | None, detail: str = "") -> ServiceError:
    message = f"The specified KMS key [{key_ref}] does not exist, is not enabled or you do not have permissions to access it."
    if detail:
        message += f" ({detail})"
    return ServiceError("KMSKeyNotAccessibleFault", message, 400)


def resolve_key(ctx: RequestContext, key_ref: str | None) -> str:
    """The ARN of an enabled KMS key for new encrypted storage (default: ``aws/rds``)."""
    kms = ctx.runtime.provider("kms")
    kctx = _kms_ctx(ctx, key_ref)
    if kctx.account_id != ctx.account_id:
        raise _not_accessible(key_ref, "a key of another account cannot encrypt this account's storage")
    try:
        doc = kms._resolve(kctx, key_ref or "alias/aws/rds")
    except ServiceError as exc:
        raise _not_accessible(key_ref, exc.message) from None
    if doc.get("KeyState") != "Enabled":
        raise _not_accessible(key_ref, f"the key is {doc.get('KeyState')}")
    if doc.get("KeySpec") != "SYMMETRIC_DEFAULT":
        raise _not_accessible(key_ref, "RDS needs a symmetric encryption key")
    return doc["Arn"]


def new_data_key(ctx: RequestContext, key_arn: str, snapshot_arn: str) -> tuple[bytes, str]:
    """A fresh data key for one snapshot: (plaintext, wrapped as base64 for its record)."""
    kms = ctx.runtime.provider("kms")
    try:
        out = kms.generate_data_key(_kms_ctx(ctx, key_arn), {"KeyId": key_arn, "KeySpec": "AES_256",
                                                             "EncryptionContext": {"aws:rds:snapshot": snapshot_arn}})
    except ServiceError as exc:
        raise _not_accessible(key_arn, exc.message) from None
    return out["Plaintext"], base64.b64encode(out["CiphertextBlob"]).decode()


def key_shared_with(ctx: RequestContext, key_arn: str, account: str) -> bool:
    """Whether ``account`` may use another account's key: its key policy names that account
    (or ``*``) as a principal allowed ``kms:Decrypt`` (or ``kms:*``), or a grant names it.
    AWS managed keys (``aws/rds``) are never shared."""
    kms = ctx.runtime.provider("kms")
    try:
        doc = kms._resolve(_kms_ctx(ctx, key_arn), key_arn)
    except ServiceError:
        return False
    if doc.get("KeyManager") == "AWS":
        return False
    if any(account in str(g.get("GranteePrincipal", "")) and "Decrypt" in g.get("Operations", []) for g in doc.get("Grants", [])):
        return True
    try:
        statements = json.loads(doc.get("Policy") or "{}").get("Statement", [])
    except ValueError:
        return False
    for st in statements if isinstance(statements, list) else [statements]:
        if st.get("Effect") != "Allow":
            continue
        principals = (st.get("Principal") or {})
        principals = principals.get("AWS", []) if isinstance(principals, dict) else principals
        principals = [principals] if isinstance(principals, str) else principals
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if any(a in ("kms:*", "kms:Decrypt", "*") for a in actions) and any(
                p == "*" or p == account or p.startswith(f"arn:aws:iam::{account}:") for p in principals):
            return True
    return False


def open_data_key(ctx: RequestContext, snap: dict[str, Any], snapshot_arn: str) -> bytes:
    """The plaintext data key of an encrypted snapshot, for a restore or copy by ``ctx``'s
    account: KMS must hold the key, enabled, and (for another account's snapshot) shared."""
    key_arn = snap.get("KmsKeyId")
    if not snap.get("DataKey"):
        name = snap.get("DBSnapshotIdentifier") or snap.get("DBClusterSnapshotIdentifier")
        raise ServiceError("InvalidDBSnapshotState", f"The encrypted snapshot {name} has no data "
                           "key: it was taken before Nimbus encrypted snapshot data; it cannot be restored.", 400)
    kctx = _kms_ctx(ctx, key_arn)
    if kctx.account_id != ctx.account_id and not key_shared_with(ctx, key_arn, ctx.account_id):
        raise _not_accessible(key_arn, f"the key's policy does not allow account {ctx.account_id} to use it")
    kms = ctx.runtime.provider("kms")
    try:
        out = kms.decrypt(kctx, {"CiphertextBlob": base64.b64decode(snap["DataKey"]),
                                 "EncryptionContext": {"aws:rds:snapshot": snap.get("DataKeyArn") or snapshot_arn}})
    except ServiceError as exc:
        raise _not_accessible(key_arn, exc.message) from None
    return out["Plaintext"]
