"""AWS KMS: symmetric keys with real AES-256-GCM key material, aliases, tags, deletion.

Key material is 32 random bytes kept in the key's record (a local emulator's
compromise; it is never returned).  A ciphertext blob is opaque to clients but carries
the key id, so Decrypt finds the key; the encryption context is bound as AAD.

Records: ``kms:key`` (key = key id) and ``kms:alias`` (key = alias name), both scoped
per account and region.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import partition_of
from ..base import Provider
from . import keys as material

KEY_KIND = "kms:key"
ALIAS_KIND = "kms:alias"

KEY_SPECS = (
    "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65",
    "ML_DSA_87", "ECC_NIST_EDWARDS25519",
)
KEY_USAGES = ("SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT")
ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
# Which usages AWS allows for each key spec.
USAGES_BY_SPEC = {
    "SYMMETRIC_DEFAULT": {"ENCRYPT_DECRYPT"},
    "RSA_2048": {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
    "RSA_3072": {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
    "RSA_4096": {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
    "ECC_NIST_P256": {"SIGN_VERIFY", "KEY_AGREEMENT"},
    "ECC_NIST_P384": {"SIGN_VERIFY", "KEY_AGREEMENT"},
    "ECC_NIST_P521": {"SIGN_VERIFY", "KEY_AGREEMENT"},
    "ECC_SECG_P256K1": {"SIGN_VERIFY"},
    "ECC_NIST_EDWARDS25519": {"SIGN_VERIFY"},
    "HMAC_224": {"GENERATE_VERIFY_MAC"},
    "HMAC_256": {"GENERATE_VERIFY_MAC"},
    "HMAC_384": {"GENERATE_VERIFY_MAC"},
    "HMAC_512": {"GENERATE_VERIFY_MAC"},
    "SM2": {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"},
    "ML_DSA_44": {"SIGN_VERIFY"},
    "ML_DSA_65": {"SIGN_VERIFY"},
    "ML_DSA_87": {"SIGN_VERIFY"},
}
ALIAS_NAME = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")
KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
CIPHERTEXT_VERSION = b"\x01"
NONCE_BYTES = 12
DEFAULT_POLICY_SID = "Enable IAM User Permissions"


def _validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def _enum_error(value: str, member: str, allowed: tuple[str, ...]) -> ServiceError:
    return _validation(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(allowed)}]"
    )


def _now(ctx: RequestContext) -> float:
    return ctx.clock.time()


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def _arn_prefix(ctx: RequestContext) -> str:
    return f"arn:{partition_of(ctx.region)}:kms:{ctx.region}:{ctx.account_id}"


def key_arn(ctx: RequestContext, key_id: str) -> str:
    return f"{_arn_prefix(ctx)}:key/{key_id}"


def alias_arn(ctx: RequestContext, name: str) -> str:
    return f"{_arn_prefix(ctx)}:{name}"


def _default_policy(account: str, partition: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": DEFAULT_POLICY_SID,
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


def _check_tags(tags: list[dict[str, Any]]) -> None:
    if len(tags) > 50:
        raise ServiceError("TagException", "A resource can have at most 50 tags.")
    seen = set()
    for tag in tags:
        key, value = tag.get("TagKey"), tag.get("TagValue")
        if key is None or value is None:
            raise _validation("Tags must have a TagKey and a TagValue.")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ServiceError("TagException", f"Tag key must be 1-128 characters and tag value at most 256: {key!r}.")
        if key.lower().startswith("aws:"):
            raise ServiceError("TagException", "Tags beginning with aws: are reserved.")
        if key in seen:
            raise ServiceError("TagException", f"Duplicate tag key {key!r}.")
        seen.add(key)


def _aad(key_id: str, context: dict[str, str] | None) -> bytes:
    canonical = json.dumps(sorted((context or {}).items()), separators=(",", ":"), ensure_ascii=False)
    return b"nimbus-kms-v1|" + key_id.encode() + b"|" + canonical.encode()


def _page(items: list[Any], params: dict[str, Any], *, default: int = 100, maximum: int = 1000) -> tuple[list[Any], dict[str, Any]]:
    """KMS's Limit/Marker pagination over an ordered list (the marker is an index)."""
    limit = params.get("Limit")
    if limit is None:
        limit = default
    if not 1 <= limit <= maximum:
        raise _validation(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
            f"Member must have value between 1 and {maximum}"
        )
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise ServiceError("InvalidMarkerException", "The request was rejected because the marker that specifies where pagination should next begin is not valid.") from None
        if start < 0:
            raise ServiceError("InvalidMarkerException", "The request was rejected because the marker that specifies where pagination should next begin is not valid.")
    page = items[start : start + limit]
    more = start + limit < len(items)
    extra: dict[str, Any] = {"Truncated": more}
    if more:
        extra["NextMarker"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return page, extra


class AsymmetricAndGrantOperations:
    """Sign/Verify/GetPublicKey, GenerateMac/VerifyMac, grants and on-demand rotation.

    Grants live in the key record's ``"Grants"`` list (GrantId, GrantToken, GranteePrincipal,
    RetiringPrincipal, Operations, Constraints, Name, CreationDate), beside ``"Policy"``
    (the key policy text): both are what the IAM engine reads.
    """

    def sign(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._usable(ctx, params["KeyId"])
        signature = material.sign(doc, params["Message"], params.get("SigningAlgorithm"), params.get("MessageType"))
        return {"KeyId": doc["Arn"], "Signature": signature, "SigningAlgorithm": params["SigningAlgorithm"]}

    def verify(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._usable(ctx, params["KeyId"])
        if not material.verify(doc, params["Message"], params["Signature"], params.get("SigningAlgorithm"), params.get("MessageType")):
            raise ServiceError("KMSInvalidSignatureException", "The signature is not valid.")
        return {"KeyId": doc["Arn"], "SignatureValid": True, "SigningAlgorithm": params["SigningAlgorithm"]}

    def get_public_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resolve(ctx, params["KeyId"])
        spec = doc["KeySpec"]
        if spec == "SYMMETRIC_DEFAULT" or spec.startswith("HMAC"):
            raise ServiceError("UnsupportedOperationException", f"{doc['Arn']} is not an asymmetric key.")
        result = {"KeyId": doc["Arn"], "PublicKey": material.public_key_der(doc), "CustomerMasterKeySpec": spec,
                  "KeySpec": spec, "KeyUsage": doc["KeyUsage"]}
        if doc["KeyUsage"] == "SIGN_VERIFY":
            result["SigningAlgorithms"] = material.signing_algorithms(spec)
        else:
            result["EncryptionAlgorithms"] = material.encryption_algorithms(spec)
        return result

    def generate_mac(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._usable(ctx, params["KeyId"])
        return {"KeyId": doc["Arn"], "Mac": material.mac(doc, params["Message"], params["MacAlgorithm"]),
                "MacAlgorithm": params["MacAlgorithm"]}

    def verify_mac(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        import hmac as _hmac

        doc = self._usable(ctx, params["KeyId"])
        expected = material.mac(doc, params["Message"], params["MacAlgorithm"])
        if not _hmac.compare_digest(expected, params["Mac"]):
            raise ServiceError("KMSInvalidMacException", "The MAC is not valid.")
        return {"KeyId": doc["Arn"], "MacValid": True, "MacAlgorithm": params["MacAlgorithm"]}

    # -- rotation ------------------------------------------------------------------------

    def rotate_key_on_demand(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._usable(ctx, params["KeyId"])
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT":
            raise ServiceError("UnsupportedOperationException", f"{doc['Arn']} is not a symmetric encryption key.")
        self._rotate(ctx, doc, "ON_DEMAND")
        return {"KeyId": doc["KeyId"]}

    def list_key_rotations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resolve(ctx, params["KeyId"], allow_alias=False)
        items = [{"KeyId": doc["KeyId"], "RotationDate": _dt(r["RotationDate"]), "RotationType": r["RotationType"]}
                 for r in doc.get("Rotations", [])]
        page, extra = _page(items, params, maximum=1000, default=100)
        return {"Rotations": page, **extra}

    # -- grants --------------------------------------------------------------------------

    GRANT_OPERATIONS = ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                        "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
                        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
                        "DeriveSharedSecret")

    def create_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        operations = params.get("Operations") or []
        for op in operations:
            if op not in self.GRANT_OPERATIONS:
                raise _enum_error(op, "operations", self.GRANT_OPERATIONS)
        if not operations:
            raise _validation("Operations must not be empty.")
        grantee = params.get("GranteePrincipal")
        if not grantee:
            raise _validation("GranteePrincipal is required.")
        grant_id = os.urandom(32).hex()
        token = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        grant = {"GrantId": grant_id, "GrantToken": token, "GranteePrincipal": grantee, "Operations": operations,
                 "IssuingAccount": f"arn:aws:iam::{ctx.account_id}:root", "CreationDate": _now(ctx)}
        for field in ("RetiringPrincipal", "Constraints", "Name"):
            if params.get(field):
                grant[field] = params[field]

        def change(doc: dict[str, Any]) -> None:
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            if grant.get("Name"):
                for existing in doc.get("Grants", []):  # same name and parameters: the same grant
                    if existing.get("Name") == grant["Name"] and existing["Operations"] == operations and existing["GranteePrincipal"] == grantee:
                        grant.update(GrantId=existing["GrantId"], GrantToken=existing["GrantToken"])
                        return
            doc.setdefault("Grants", []).append(grant)

        doc = self._set_state(ctx, params["KeyId"], change)
        grant["KeyId"] = doc["Arn"]
        return {"GrantId": grant["GrantId"], "GrantToken": grant["GrantToken"]}

    def _grant_view(self, doc: dict[str, Any], grant: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in grant.items() if k != "GrantToken"}
        view["KeyId"] = doc["Arn"]
        view["CreationDate"] = _dt(grant["CreationDate"])
        return view

    def list_grants(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resolve(ctx, params["KeyId"])
        grants = [g for g in doc.get("Grants", [])
                  if (not params.get("GrantId") or g["GrantId"] == params["GrantId"])
                  and (not params.get("GranteePrincipal") or g["GranteePrincipal"] == params["GranteePrincipal"])]
        page, extra = _page([self._grant_view(doc, g) for g in grants], params, maximum=100, default=50)
        return {"Grants": page, **extra}

    def list_retirable_grants(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = params["RetiringPrincipal"]
        items = [self._grant_view(doc, g) for doc in self._keys(ctx) for g in doc.get("Grants", [])
                 if g.get("RetiringPrincipal") == principal]
        page, extra = _page(items, params, maximum=100, default=50)
        return {"Grants": page, **extra}

    def _drop_grant(self, ctx: RequestContext, key_ref: str, match) -> None:
        found = []

        def change(doc: dict[str, Any]) -> None:
            kept = [g for g in doc.get("Grants", []) if not match(g)]
            found.append(len(kept) != len(doc.get("Grants", [])))
            doc["Grants"] = kept

        self._set_state(ctx, key_ref, change)
        if not found[0]:
            raise ServiceError("NotFoundException", "Grant not found.")

    def revoke_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._drop_grant(ctx, params["KeyId"], lambda g: g["GrantId"] == params["GrantId"])
        return {}

    def retire_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        token, grant_id, key_ref = params.get("GrantToken"), params.get("GrantId"), params.get("KeyId")
        if token:
            for doc in self._keys(ctx):
                if any(g["GrantToken"] == token for g in doc.get("Grants", [])):
                    self._drop_grant(ctx, doc["KeyId"], lambda g: g["GrantToken"] == token)
                    return {}
            raise ServiceError("InvalidGrantTokenException", "The grant token is not valid.")
        if not (grant_id and key_ref):
            raise _validation("Either GrantToken, or both GrantId and KeyId must be specified.")
        self._drop_grant(ctx, key_ref, lambda g: g["GrantId"] == grant_id)
        return {}


class KmsProvider(AsymmetricAndGrantOperations, Provider):
    service = "kms"

    def resource_counts(self) -> dict[str, int]:
        read = self.runtime.store.read
        return {"key": read.count(KEY_KIND), "alias": read.count(ALIAS_KIND)}

    # -- key lookup ----------------------------------------------------------------------

    def _live(self, ctx: RequestContext, doc: dict[str, Any] | None) -> dict[str, Any] | None:
        """``doc`` unless its scheduled deletion has come (then it is gone, as in AWS)."""
        if doc is None:
            return None
        if doc["KeyState"] == "PendingDeletion" and doc.get("DeletionDate") and doc["DeletionDate"] <= _now(ctx):
            with ctx.store.transaction() as txn:
                txn.delete(KEY_KIND, doc["KeyId"], ctx.scope)
                for name, alias in list(txn.scan(ALIAS_KIND, ctx.scope)):
                    if alias.get("TargetKeyId") == doc["KeyId"]:
                        txn.delete(ALIAS_KIND, name, ctx.scope)
            return None
        return doc

    def _resolve(self, ctx: RequestContext, key_ref: str, *, allow_alias: bool = True) -> dict[str, Any]:
        """The key named by a key id, key ARN, alias name or alias ARN."""
        if not key_ref:
            raise _validation("KeyId must not be empty.")
        prefix = _arn_prefix(ctx)
        ref = key_ref
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms":
                raise ServiceError("NotFoundException", f"Invalid arn {key_ref}")
            if f"{':'.join(parts[:5])}" != prefix:
                # another account or region: not visible here
                raise ServiceError("NotFoundException", f"Key '{key_ref}' does not exist")
            ref = parts[5]
            if ref.startswith("key/"):
                ref = ref[4:]
            elif not ref.startswith("alias/"):
                raise ServiceError("NotFoundException", f"Invalid arn {key_ref}")
        if ref.startswith("alias/"):
            if not allow_alias:
                raise _validation(f"Aliases are not accepted here: {key_ref}")
            alias = ctx.store.read.get(ALIAS_KIND, ref, ctx.scope)
            target = alias.get("TargetKeyId") if alias else None
            if not target:
                if ref.startswith("alias/aws/"):
                    return self._aws_managed(ctx, ref)
                raise ServiceError("NotFoundException", f"Alias {alias_arn(ctx, ref)} is not found.")
            ref = target
        if not KEY_ID.match(ref):
            raise ServiceError("NotFoundException", f"Invalid keyId '{key_ref}'")
        doc = self._live(ctx, ctx.store.read.get(KEY_KIND, ref, ctx.scope))
        if doc is None:
            raise ServiceError("NotFoundException", f"Key '{key_arn(ctx, ref)}' does not exist")
        return doc

    def _usable(self, ctx: RequestContext, key_ref: str) -> dict[str, Any]:
        """A key that may encrypt or decrypt now."""
        doc = self._resolve(ctx, key_ref)
        state = doc["KeyState"]
        if state == "Disabled":
            raise ServiceError("DisabledException", f"{doc['Arn']} is disabled.")
        if state == "PendingDeletion":
            raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
        if state != "Enabled":
            raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is {state}.")
        if doc.get("Rotation") and doc["KeySpec"] == "SYMMETRIC_DEFAULT":
            period = doc.get("RotationPeriod", 365) * 86400
            due = doc.get("LastRotation", doc.get("RotationStart", _now(ctx))) + period
            if _now(ctx) >= due:  # automatic rotation, on the simulation clock
                self._rotate(ctx, doc, "AUTOMATIC", when=due)
        return doc

    def _rotate(self, ctx: RequestContext, doc: dict[str, Any], kind: str, when: float | None = None) -> None:
        doc.setdefault("PreviousMaterials", []).append(doc["Material"])
        doc["Material"] = base64.b64encode(os.urandom(32)).decode()
        doc["LastRotation"] = when if when is not None else _now(ctx)
        doc.setdefault("Rotations", []).append({"RotationDate": doc["LastRotation"], "RotationType": kind})
        with ctx.store.transaction() as txn:
            txn.put(KEY_KIND, doc["KeyId"], doc, ctx.scope)

    def _aws_managed(self, ctx: RequestContext, alias: str) -> dict[str, Any]:
        """AWS creates an AWS managed key (``alias/aws/<service>``) on first use."""
        service = alias[len("alias/aws/") :]
        doc = self._new_key(ctx, f"Default key that protects my {service.upper()} resources when no other key is defined", manager="AWS")
        with ctx.store.transaction() as txn:
            existing = txn.get(ALIAS_KIND, alias, ctx.scope)
            if existing and existing.get("TargetKeyId"):
                found = txn.get(KEY_KIND, existing["TargetKeyId"], ctx.scope)
                if found:
                    return found
            txn.put(KEY_KIND, doc["KeyId"], doc, ctx.scope)
            now = _now(ctx)
            txn.put(
                ALIAS_KIND,
                alias,
                {"AliasName": alias, "TargetKeyId": doc["KeyId"], "CreationDate": now, "LastUpdatedDate": now},
                ctx.scope,
            )
        return doc

    def aws_managed_key_arn(self, ctx: RequestContext, service: str) -> str:
        """For other services (EFS, EBS, S3): the ARN of ``alias/aws/<service>``'s key."""
        return self._resolve(ctx, f"alias/aws/{service}")["Arn"]

    # -- keys ----------------------------------------------------------------------------

    def _new_key(
        self,
        ctx: RequestContext,
        description: str,
        *,
        manager: str = "CUSTOMER",
        multi_region: bool = False,
        policy: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        key_id = f"mrk-{uuid.uuid4().hex}" if multi_region else str(uuid.uuid4())
        arn = key_arn(ctx, key_id)
        return {
            "AWSAccountId": ctx.account_id,
            "KeyId": key_id,
            "Arn": arn,
            "CreationDate": _now(ctx),
            "Enabled": True,
            "Description": description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled",
            "Origin": "AWS_KMS",
            "KeyManager": manager,
            "KeySpec": "SYMMETRIC_DEFAULT",
            "MultiRegion": multi_region,
            "Policy": policy or _default_policy(ctx.account_id, partition_of(ctx.region)),
            "Tags": tags or [],
            "Rotation": False,
            "Material": base64.b64encode(os.urandom(32)).decode(),
        }

    @staticmethod
    def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
        meta = {
            "AWSAccountId": doc["AWSAccountId"],
            "KeyId": doc["KeyId"],
            "Arn": doc["Arn"],
            "CreationDate": _dt(doc["CreationDate"]),
            "Enabled": doc["KeyState"] == "Enabled",
            "Description": doc["Description"],
            "KeyUsage": doc["KeyUsage"],
            "KeyState": doc["KeyState"],
            "Origin": doc["Origin"],
            "KeyManager": doc["KeyManager"],
            "CustomerMasterKeySpec": doc["KeySpec"],
            "KeySpec": doc["KeySpec"],
            "MultiRegion": doc["MultiRegion"],
        }
        spec = doc["KeySpec"]
        if doc["KeyUsage"] == "ENCRYPT_DECRYPT":
            meta["EncryptionAlgorithms"] = material.encryption_algorithms(spec)
        if material.signing_algorithms(spec) and doc["KeyUsage"] == "SIGN_VERIFY":
            meta["SigningAlgorithms"] = material.signing_algorithms(spec)
        if material.mac_algorithms(spec):
            meta["MacAlgorithms"] = material.mac_algorithms(spec)
        if doc.get("DeletionDate"):
            meta["DeletionDate"] = _dt(doc["DeletionDate"])
        if doc["MultiRegion"]:
            meta["MultiRegionConfiguration"] = {
                "MultiRegionKeyType": "PRIMARY",
                "PrimaryKey": {"Arn": doc["Arn"], "Region": doc["Arn"].split(":")[3]},
                "ReplicaKeys": [],
            }
        return meta

    def create_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        spec = params.get("KeySpec")
        legacy = params.get("CustomerMasterKeySpec")
        if spec is not None and legacy is not None:
            raise _validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec instead.")
        spec = spec or legacy or "SYMMETRIC_DEFAULT"
        if spec not in KEY_SPECS:
            raise _enum_error(spec, "keySpec" if params.get("KeySpec") else "customerMasterKeySpec", KEY_SPECS)
        usage = params.get("KeyUsage") or ("GENERATE_VERIFY_MAC" if spec.startswith("HMAC") else "ENCRYPT_DECRYPT")
        if usage not in KEY_USAGES:
            raise _enum_error(usage, "keyUsage", KEY_USAGES)
        if usage not in USAGES_BY_SPEC[spec]:
            raise _validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        origin = params.get("Origin") or "AWS_KMS"
        if origin not in ORIGINS:
            raise _enum_error(origin, "origin", ORIGINS)
        if spec not in material.SUPPORTED:
            raise ServiceError("UnsupportedOperationException", f"Nimbus does not support {spec} keys yet.")
        if origin != "AWS_KMS":
            raise ServiceError("UnsupportedOperationException", f"Nimbus supports only the AWS_KMS key origin so far, not {origin}.")
        if params.get("CustomKeyStoreId") or params.get("XksKeyId"):
            raise ServiceError("CustomKeyStoreNotFoundException", "Custom key stores are not supported by Nimbus.")
        description = params.get("Description") or ""
        if len(description) > 8192:
            raise _validation("Description must be at most 8192 characters.")
        policy = params.get("Policy")
        if policy is not None:
            try:
                json.loads(policy)
            except ValueError:
                raise ServiceError("MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.") from None
        tags = params.get("Tags") or []
        _check_tags(tags)
        doc = self._new_key(ctx, description, multi_region=bool(params.get("MultiRegion")), policy=policy, tags=tags)
        if spec != "SYMMETRIC_DEFAULT":
            doc.update(KeySpec=spec, KeyUsage=usage, Material=material.new_material(spec))
        elif usage != "ENCRYPT_DECRYPT":
            raise _validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        with ctx.store.transaction() as txn:
            txn.put(KEY_KIND, doc["KeyId"], doc, ctx.scope)
        return {"KeyMetadata": self._metadata(doc)}

    def describe_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"KeyMetadata": self._metadata(self._resolve(ctx, params["KeyId"]))}

    def _keys(self, ctx: RequestContext) -> list[dict[str, Any]]:
        docs = [d for _, d in ctx.store.read.scan(KEY_KIND, ctx.scope)]
        live = [d for d in docs if self._live(ctx, d) is not None]
        live.sort(key=lambda d: (d["CreationDate"], d["KeyId"]))
        return live

    def list_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        page, extra = _page(self._keys(ctx), params)
        return {"Keys": [{"KeyId": d["KeyId"], "KeyArn": d["Arn"]} for d in page], **extra}

    def _set_state(self, ctx: RequestContext, key_ref: str, change) -> dict[str, Any]:
        doc = self._resolve(ctx, key_ref)
        change(doc)
        with ctx.store.transaction() as txn:
            txn.put(KEY_KIND, doc["KeyId"], doc, ctx.scope)
        return doc

    @staticmethod
    def _customer_managed(doc: dict[str, Any], action: str) -> None:
        if doc["KeyManager"] == "AWS":
            raise ServiceError("UnsupportedOperationException", f"{doc['Arn']} is an AWS managed key: {action} is not allowed.")

    def enable_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> None:
            self._customer_managed(doc, "EnableKey")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            doc["KeyState"] = "Enabled"

        self._set_state(ctx, params["KeyId"], change)
        return {}

    def disable_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> None:
            self._customer_managed(doc, "DisableKey")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            doc["KeyState"] = "Disabled"

        self._set_state(ctx, params["KeyId"], change)
        return {}

    def schedule_key_deletion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        days = params.get("PendingWindowInDays")
        if days is None:
            days = 30
        if not 7 <= days <= 30:
            raise _validation(
                f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: "
                "Member must have value between 7 and 30"
            )

        def change(doc: dict[str, Any]) -> None:
            self._customer_managed(doc, "ScheduleKeyDeletion")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            doc["KeyState"] = "PendingDeletion"
            doc["DeletionDate"] = _now(ctx) + days * 86400

        doc = self._set_state(ctx, params["KeyId"], change)
        return {
            "KeyId": doc["Arn"],
            "DeletionDate": _dt(doc["DeletionDate"]),
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }

    def cancel_key_deletion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> None:
            if doc["KeyState"] != "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is not pending deletion.")
            doc["KeyState"] = "Disabled"
            doc.pop("DeletionDate", None)

        doc = self._set_state(ctx, params["KeyId"], change)
        return {"KeyId": doc["Arn"]}

    def update_key_description(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        description = params["Description"]

        def change(doc: dict[str, Any]) -> None:
            self._customer_managed(doc, "UpdateKeyDescription")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            doc["Description"] = description

        self._set_state(ctx, params["KeyId"], change)
        return {}

    def get_key_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resolve(ctx, params["KeyId"], allow_alias=False)
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise ServiceError("NotFoundException", f"No such policy exists: {name}")
        return {"Policy": doc["Policy"], "PolicyName": "default"}

    def put_key_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        policy = params["Policy"]
        try:
            json.loads(policy)
        except ValueError:
            raise ServiceError("MalformedPolicyDocumentException", "The policy is not valid JSON.") from None
        if (params.get("PolicyName") or "default") != "default":
            raise ServiceError("NotFoundException", "No such policy exists")

        def change(doc: dict[str, Any]) -> None:
            doc["Policy"] = policy

        self._set_state(ctx, params["KeyId"], change)
        return {}

    def enable_key_rotation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        period = params.get("RotationPeriodInDays") or 365
        if not 90 <= period <= 2560:
            raise _validation("RotationPeriodInDays must be between 90 and 2560.")

        def change(doc: dict[str, Any]) -> None:
            if doc["KeyState"] == "Disabled":
                raise ServiceError("DisabledException", f"{doc['Arn']} is disabled.")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            doc["Rotation"] = True
            doc["RotationPeriod"] = period
            doc.setdefault("RotationStart", _now(ctx))

        self._set_state(ctx, params["KeyId"], change)
        return {}

    def disable_key_rotation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> None:
            if doc["KeyState"] == "Disabled":
                raise ServiceError("DisabledException", f"{doc['Arn']} is disabled.")
            doc["Rotation"] = False

        self._set_state(ctx, params["KeyId"], change)
        return {}

    def get_key_rotation_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resolve(ctx, params["KeyId"], allow_alias=False)
        result: dict[str, Any] = {"KeyRotationEnabled": bool(doc.get("Rotation")), "KeyId": doc["Arn"]}
        if doc.get("Rotation"):
            result["RotationPeriodInDays"] = doc.get("RotationPeriod", 365)
            result["NextRotationDate"] = _dt(doc["RotationStart"] + doc.get("RotationPeriod", 365) * 86400)
        return result

    # -- cryptography ----------------------------------------------------------------------

    @staticmethod
    def _check_algorithm(algorithm: str | None) -> None:
        if algorithm is not None and algorithm != "SYMMETRIC_DEFAULT":
            allowed = ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")
            if algorithm not in allowed:
                raise _enum_error(algorithm, "encryptionAlgorithm", allowed)
            raise ServiceError("InvalidKeyUsageException", f"The encryption algorithm {algorithm} is not supported by a symmetric key.")

    @staticmethod
    def _check_context(context: Any) -> dict[str, str]:
        context = context or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
            raise _validation("EncryptionContext keys and values must be strings.")
        return context

    def _seal(self, doc: dict[str, Any], plaintext: bytes, context: dict[str, str]) -> bytes:
        key_id = doc["KeyId"].encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(base64.b64decode(doc["Material"])).encrypt(nonce, plaintext, _aad(doc["KeyId"], context))
        return CIPHERTEXT_VERSION + bytes([len(key_id)]) + key_id + nonce + sealed

    def _open(self, ctx: RequestContext, blob: bytes, context: dict[str, str], key_ref: str | None) -> tuple[dict[str, Any], bytes]:
        invalid = ServiceError("InvalidCiphertextException", "The ciphertext is invalid or was not produced by this account and region, or its encryption context does not match.")
        if not blob or blob[:1] != CIPHERTEXT_VERSION or len(blob) < 2:
            raise invalid
        length = blob[1]
        key_id = blob[2 : 2 + length].decode("ascii", "replace")
        body = blob[2 + length :]
        if not KEY_ID.match(key_id) or len(body) < NONCE_BYTES + 16:
            raise invalid
        if key_ref:
            wanted = self._resolve(ctx, key_ref)
            if wanted["KeyId"] != key_id:
                raise ServiceError("IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
        doc = self._usable(ctx, key_id)
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT":
            raise invalid
        for candidate in [doc["Material"], *reversed(doc.get("PreviousMaterials", []))]:
            try:
                plaintext = AESGCM(base64.b64decode(candidate)).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], _aad(key_id, context))
                return doc, plaintext
            except InvalidTag:
                continue
        raise invalid

    def encrypt(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plaintext = params["Plaintext"]
        if not 1 <= len(plaintext) <= 4096:
            raise _validation(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                "Member must have length between 1 and 4096"
            )
        doc = self._usable(ctx, params["KeyId"])
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT":
            if doc["KeyUsage"] != "ENCRYPT_DECRYPT":
                raise ServiceError("InvalidKeyUsageException", f"{doc['Arn']} key usage is {doc['KeyUsage']} which is not valid for Encrypt.")
            blob = material.rsa_encrypt(doc, plaintext, params.get("EncryptionAlgorithm"))
            return {"CiphertextBlob": blob, "KeyId": doc["Arn"], "EncryptionAlgorithm": params["EncryptionAlgorithm"]}
        self._check_algorithm(params.get("EncryptionAlgorithm"))
        context = self._check_context(params.get("EncryptionContext"))
        if params.get("DryRun"):
            raise ServiceError("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
        return {"CiphertextBlob": self._seal(doc, plaintext, context), "KeyId": doc["Arn"], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def decrypt(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        blob = params.get("CiphertextBlob")
        if blob is None:
            raise _validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
        if not 1 <= len(blob) <= 6144:
            raise _validation("1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length between 1 and 6144")
        algorithm = params.get("EncryptionAlgorithm")
        if algorithm and algorithm.startswith("RSAES"):
            if not params.get("KeyId"):
                raise _validation("KeyId is required to decrypt with an asymmetric key.")
            doc = self._usable(ctx, params["KeyId"])
            return {"KeyId": doc["Arn"], "Plaintext": material.rsa_decrypt(doc, blob, algorithm), "EncryptionAlgorithm": algorithm}
        self._check_algorithm(algorithm)
        if params.get("Recipient"):
            raise ServiceError("UnsupportedOperationException", "Nitro Enclaves recipients are not supported by Nimbus.")
        context = self._check_context(params.get("EncryptionContext"))
        doc, plaintext = self._open(ctx, blob, context, params.get("KeyId"))
        if params.get("DryRun"):
            raise ServiceError("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
        return {"KeyId": doc["Arn"], "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def re_encrypt(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        blob = params.get("CiphertextBlob")
        if not blob:
            raise _validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
        self._check_algorithm(params.get("SourceEncryptionAlgorithm"))
        self._check_algorithm(params.get("DestinationEncryptionAlgorithm"))
        source, plaintext = self._open(ctx, blob, self._check_context(params.get("SourceEncryptionContext")), params.get("SourceKeyId"))
        dest = self._usable(ctx, params["DestinationKeyId"])
        sealed = self._seal(dest, plaintext, self._check_context(params.get("DestinationEncryptionContext")))
        return {
            "CiphertextBlob": sealed,
            "SourceKeyId": source["Arn"],
            "KeyId": dest["Arn"],
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }

    def _data_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        spec, count = params.get("KeySpec"), params.get("NumberOfBytes")
        if spec is None and count is None:
            raise _validation("Please specify either number of bytes or key spec.")
        if spec is not None and count is not None:
            raise _validation("Please specify either number of bytes or key spec, not both.")
        if spec is not None:
            if spec not in ("AES_256", "AES_128"):
                raise _enum_error(spec, "keySpec", ("AES_256", "AES_128"))
            count = 32 if spec == "AES_256" else 16
        elif not 1 <= count <= 1024:
            raise _validation(
                f"1 validation error detected: Value '{count}' at 'numberOfBytes' failed to satisfy constraint: "
                "Member must have value between 1 and 1024"
            )
        context = self._check_context(params.get("EncryptionContext"))
        doc = self._usable(ctx, params["KeyId"])
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT":
            raise ServiceError("InvalidKeyUsageException", f"{doc['Arn']} is not a symmetric encryption key.")
        if params.get("Recipient"):
            raise ServiceError("UnsupportedOperationException", "Nitro Enclaves recipients are not supported by Nimbus.")
        if params.get("DryRun"):
            raise ServiceError("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
        plaintext = os.urandom(count)
        return {"CiphertextBlob": self._seal(doc, plaintext, context), "Plaintext": plaintext, "KeyId": doc["Arn"]}

    def generate_data_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._data_key(ctx, params)

    def generate_data_key_without_plaintext(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        result = self._data_key(ctx, params)
        result.pop("Plaintext")
        return result

    def generate_random(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        count = params.get("NumberOfBytes")
        if count is None or not 1 <= count <= 1024:
            raise _validation(
                f"1 validation error detected: Value '{count}' at 'numberOfBytes' failed to satisfy constraint: "
                "Member must have value between 1 and 1024"
            )
        return {"Plaintext": os.urandom(count)}

    # -- aliases ---------------------------------------------------------------------------

    @staticmethod
    def _check_alias_name(name: str, *, creating: bool) -> None:
        if not name.startswith("alias/"):
            raise _validation(f"Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
        if len(name) > 256 or not ALIAS_NAME.match(name):
            raise _validation(
                f"1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
            )
        if creating and name.startswith("alias/aws/"):
            raise ServiceError("InvalidAliasNameException", f"Alias {name} cannot begin with alias/aws/: that prefix is reserved for AWS managed keys.")

    def _target(self, ctx: RequestContext, ref: str) -> dict[str, Any]:
        if ref.startswith("alias/") or ":alias/" in ref:
            raise _validation("Aliases must refer to keys. Not aliases")
        doc = self._resolve(ctx, ref, allow_alias=False)
        if doc["KeyState"] == "PendingDeletion":
            raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
        if doc["KeyManager"] == "AWS":
            raise ServiceError("UnsupportedOperationException", f"{doc['Arn']} is an AWS managed key.")
        return doc

    def create_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AliasName"]
        self._check_alias_name(name, creating=True)
        doc = self._target(ctx, params["TargetKeyId"])
        now = _now(ctx)
        with ctx.store.transaction() as txn:
            record = {"AliasName": name, "TargetKeyId": doc["KeyId"], "CreationDate": now, "LastUpdatedDate": now}
            if not txn.insert(ALIAS_KIND, name, record, ctx.scope):
                raise ServiceError("AlreadyExistsException", f"An alias with the name {alias_arn(ctx, name)} already exists")
        return {}

    def update_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AliasName"]
        self._check_alias_name(name, creating=True)
        doc = self._target(ctx, params["TargetKeyId"])
        with ctx.store.transaction() as txn:
            record = txn.get(ALIAS_KIND, name, ctx.scope)
            if record is None:
                raise ServiceError("NotFoundException", f"Alias {alias_arn(ctx, name)} is not found.")
            record["TargetKeyId"] = doc["KeyId"]
            record["LastUpdatedDate"] = _now(ctx)
            txn.put(ALIAS_KIND, name, record, ctx.scope)
        return {}

    def delete_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AliasName"]
        self._check_alias_name(name, creating=False)
        if name.startswith("alias/aws/"):
            raise ServiceError("InvalidAliasNameException", f"Alias {name} is an AWS managed alias and cannot be deleted.")
        with ctx.store.transaction() as txn:
            if not txn.delete(ALIAS_KIND, name, ctx.scope):
                raise ServiceError("NotFoundException", f"Alias {alias_arn(ctx, name)} is not found.")
        return {}

    def list_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key_filter = None
        if params.get("KeyId"):
            key_filter = self._resolve(ctx, params["KeyId"], allow_alias=False)["KeyId"]
        items = []
        for name, record in list(ctx.store.read.scan(ALIAS_KIND, ctx.scope)):
            target = record.get("TargetKeyId")
            if target and self._live(ctx, ctx.store.read.get(KEY_KIND, target, ctx.scope)) is None:
                continue
            if key_filter is not None and target != key_filter:
                continue
            item = {
                "AliasName": name,
                "AliasArn": alias_arn(ctx, name),
                "CreationDate": _dt(record["CreationDate"]),
                "LastUpdatedDate": _dt(record["LastUpdatedDate"]),
            }
            if target:
                item["TargetKeyId"] = target
            items.append(item)
        page, extra = _page(items, params, maximum=100, default=50)
        return {"Aliases": page, **extra}

    # -- tags ------------------------------------------------------------------------------

    def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = params["Tags"]
        _check_tags(tags)

        def change(doc: dict[str, Any]) -> None:
            self._customer_managed(doc, "TagResource")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            merged = {t["TagKey"]: t["TagValue"] for t in doc["Tags"]}
            merged.update({t["TagKey"]: t["TagValue"] for t in tags})
            if len(merged) > 50:
                raise ServiceError("TagException", "A resource can have at most 50 tags.")
            doc["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in merged.items()]

        self._set_state(ctx, self._no_alias(params["KeyId"]), change)
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        keys = set(params["TagKeys"])

        def change(doc: dict[str, Any]) -> None:
            self._customer_managed(doc, "UntagResource")
            if doc["KeyState"] == "PendingDeletion":
                raise ServiceError("KMSInvalidStateException", f"{doc['Arn']} is pending deletion.")
            doc["Tags"] = [t for t in doc["Tags"] if t["TagKey"] not in keys]

        self._set_state(ctx, self._no_alias(params["KeyId"]), change)
        return {}

    def list_resource_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resolve(ctx, self._no_alias(params["KeyId"]), allow_alias=False)
        tags = sorted(doc["Tags"], key=lambda t: t["TagKey"])
        page, extra = _page(tags, params, maximum=50, default=50)
        return {"Tags": page, **extra}

    @staticmethod
    def _no_alias(ref: str) -> str:
        if ref.startswith("alias/") or ":alias/" in ref:
            raise ServiceError("NotFoundException", f"Invalid keyId '{ref}'")
        return ref

