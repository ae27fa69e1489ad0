"""Key pairs: real keys made with ``cryptography``, fingerprints by AWS's rules.

* created RSA: SHA-1 of the PKCS#8 DER private key (colon-separated hex);
* imported RSA: MD5 of the DER SubjectPublicKeyInfo (colon-separated hex);
* ED25519 (created or imported): SHA-256 of the OpenSSH public key blob, base64.

``CreateKeyPair`` answers the private key as AWS does: an RSA key in PKCS#1 PEM
(``BEGIN RSA PRIVATE KEY``), an ED25519 key in OpenSSH's format, or either as a PuTTY
``.ppk`` (version 2).  Only the public key is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ...errors import ServiceError
from ...gateway.context import RequestContext
from . import tags
from .compute_common import check_ids, dry_run, not_found
from .filters import apply_filters
from .ids import new_id

KIND = "ec2:key-pair"
NAME_KIND = "ec2:key-pair-name"  # name → KeyPairId
tags.register("key", KIND, "key-pair")

_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")


def _colon(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big") if n else b""
    return _ssh_string(raw)


def _openssh_public(public_key: Any) -> str:
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ed25519_fingerprint(public_key: ed25519.Ed25519PublicKey) -> str:
    blob = base64.b64decode(_openssh_public(public_key).split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def _ppk(key: Any, key_type: str, comment: str) -> str:
    """PuTTY-User-Key-File-2, unencrypted, as AWS hands it out."""
    if key_type == "rsa":
        numbers = key.private_numbers()
        pub = numbers.public_numbers
        algorithm = "ssh-rsa"
        public_blob = _ssh_string(b"ssh-rsa") + _mpint(pub.e) + _mpint(pub.n)
        private_blob = _mpint(numbers.d) + _mpint(numbers.p) + _mpint(numbers.q) + _mpint(numbers.iqmp)
    else:
        algorithm = "ssh-ed25519"
        raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw_private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        public_blob = _ssh_string(b"ssh-ed25519") + _ssh_string(raw_public)
        private_blob = _ssh_string(raw_private)
    # unencrypted files are padded to a multiple of 16 only when encrypted; v2 MAC covers all
    mac_key = hashlib.sha1(b"putty-private-key-file-mac-key").digest()
    mac_data = b"".join(_ssh_string(x) for x in (algorithm.encode(), b"none", comment.encode(), public_blob, private_blob))
    mac = hmac.new(mac_key, mac_data, hashlib.sha1).hexdigest()

    def lines(blob: bytes) -> list[str]:
        text = base64.b64encode(blob).decode()
        return [text[i : i + 64] for i in range(0, len(text), 64)]

    pub_lines, priv_lines = lines(public_blob), lines(private_blob)
    out = [f"PuTTY-User-Key-File-2: {algorithm}", "Encryption: none", f"Comment: {comment}",
           f"Public-Lines: {len(pub_lines)}", *pub_lines, f"Private-Lines: {len(priv_lines)}", *priv_lines,
           f"Private-MAC: {mac}"]
    return "\n".join(out) + "\n"


def _record(ctx: RequestContext, name: str, key_type: str, fingerprint: str, public: str, tag_list: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "KeyPairId": new_id("key"),
        "KeyFingerprint": fingerprint,
        "KeyName": name,
        "KeyType": key_type,
        "Tags": tag_list,
        "CreateTime": ctx.clock.time(),
        "PublicKey": public,
    }


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceError("InvalidParameterValue", f"Value ({name}) for parameter keyName is invalid. "
                           "Length exceeds maximum of 255 ASCII characters or contains invalid characters", 400)
    return name


def _store(ctx: RequestContext, doc: dict[str, Any]) -> None:
    with ctx.store.transaction() as txn:
        if not txn.insert(NAME_KIND, doc["KeyName"], doc["KeyPairId"], ctx.scope):
            raise ServiceError("InvalidKeyPair.Duplicate", f"The keypair '{doc['KeyName']}' already exists.", 400)
        txn.put(KIND, doc["KeyPairId"], doc, ctx.scope)


def create_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _check_name(params.get("KeyName"))
    key_type = params.get("KeyType") or "rsa"
    key_format = params.get("KeyFormat") or "pem"
    if key_type not in ("rsa", "ed25519"):
        raise ServiceError("InvalidParameterValue", f"Value ({key_type}) for parameter keyType is invalid. Valid values: rsa, ed25519", 400)
    if key_format not in ("pem", "ppk"):
        raise ServiceError("InvalidParameterValue", f"Value ({key_format}) for parameter keyFormat is invalid. Valid values: pem, ppk", 400)
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "key-pair")
    if ctx.store.read.exists(NAME_KIND, name, ctx.scope):
        raise ServiceError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.", 400)
    dry_run(params)
    if key_type == "rsa":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fingerprint = _colon(hashlib.sha1(pkcs8).digest())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        fingerprint = _ed25519_fingerprint(key.public_key())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    material = pem.rstrip("\n") if key_format == "pem" else _ppk(key, key_type, name)
    public = _openssh_public(key.public_key())
    doc = _record(ctx, name, key_type, fingerprint, public, tag_list)
    _store(ctx, doc)
    return {"KeyFingerprint": fingerprint, "KeyMaterial": material, "KeyName": name, "KeyPairId": doc["KeyPairId"], "Tags": tag_list}


def _load_public(material: bytes) -> Any:
    text = material.decode("utf-8", "replace").strip()
    try:
        if text.startswith(("ssh-rsa ", "ssh-ed25519 ")):
            return serialization.load_ssh_public_key(" ".join(text.split()[:2]).encode())
        if text.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):  # RFC 4716
            body = [l for l in text.splitlines()[1:-1] if ":" not in l and not l.endswith("\\")]
            blob = base64.b64decode("".join(body))
            algorithm = blob[4 : 4 + struct.unpack(">I", blob[:4])[0]].decode()
            return serialization.load_ssh_public_key(f"{algorithm} {base64.b64encode(blob).decode()}".encode())
        if text.startswith("-----BEGIN"):
            return serialization.load_pem_public_key(text.encode())
        return serialization.load_der_public_key(material)
    except Exception:
        return None


def import_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _check_name(params.get("KeyName"))
    material = params.get("PublicKeyMaterial") or b""
    if isinstance(material, str):
        material = material.encode()
    public_key = _load_public(material)
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size not in (1024, 2048, 4096):
            raise ServiceError("InvalidKey.Format", "Key is not in valid OpenSSH public key format", 400)
        key_type = "rsa"
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        fingerprint = _colon(hashlib.md5(der).digest())
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        key_type = "ed25519"
        fingerprint = _ed25519_fingerprint(public_key)
    else:
        raise ServiceError("InvalidKey.Format", "Key is not in valid OpenSSH public key format", 400)
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "key-pair")
    if ctx.store.read.exists(NAME_KIND, name, ctx.scope):
        raise ServiceError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.", 400)
    dry_run(params)
    doc = _record(ctx, name, key_type, fingerprint, _openssh_public(public_key), tag_list)
    _store(ctx, doc)
    return {"KeyFingerprint": fingerprint, "KeyName": name, "KeyPairId": doc["KeyPairId"], "Tags": tag_list}


def find(ctx: RequestContext, name: str, txn: Any = None) -> dict[str, Any] | None:
    read = txn or ctx.store.read
    key_id = read.get(NAME_KIND, name, ctx.scope)
    return read.get(KIND, key_id, ctx.scope) if key_id else None


def delete_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, key_id = params.get("KeyName"), params.get("KeyPairId")
    if not name and not key_id:
        raise ServiceError("MissingParameter", "The request must contain the parameter KeyName or KeyPairId", 400)
    if key_id:
        check_ids("key", [key_id])
    dry_run(params)
    with ctx.store.transaction() as txn:
        if key_id:
            doc = txn.get(KIND, key_id, ctx.scope)
            if doc is None:
                raise not_found("key", [key_id])
        else:
            found = txn.get(NAME_KIND, name, ctx.scope)
            doc = txn.get(KIND, found, ctx.scope) if found else None
        if doc is None:  # deleting a missing key by name succeeds, as in AWS
            return {"Return": True}
        txn.delete(KIND, doc["KeyPairId"], ctx.scope)
        txn.delete(NAME_KIND, doc["KeyName"], ctx.scope)
    return {"Return": True, "KeyPairId": doc["KeyPairId"]}


def describe_key_pairs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("KeyNames") or []
    ids = check_ids("key", params.get("KeyPairIds") or [])
    items = [doc for _, doc in ctx.store.read.scan(KIND, ctx.scope)]
    if names:
        missing = [n for n in names if n not in {d["KeyName"] for d in items}]
        if missing:
            raise ServiceError("InvalidKeyPair.NotFound", f"The key pair '{missing[0]}' does not exist", 400)
        items = [d for d in items if d["KeyName"] in names]
    if ids:
        missing = [i for i in ids if i not in {d["KeyPairId"] for d in items}]
        if missing:
            raise not_found("key", missing)
        items = [d for d in items if d["KeyPairId"] in ids]
    items = apply_filters(items, params.get("Filters"), {
        "key-pair-id": "KeyPairId", "key-name": "KeyName", "fingerprint": "KeyFingerprint", "key-type": "KeyType"})
    include_public = params.get("IncludePublicKey")
    out = []
    for d in sorted(items, key=lambda d: d["KeyName"]):
        item = {k: v for k, v in d.items() if k != "PublicKey"}
        if include_public:
            item["PublicKey"] = d["PublicKey"] + "\n"
        out.append(item)
    return {"KeyPairs": out}
