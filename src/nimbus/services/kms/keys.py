"""KMS key material beyond symmetric keys: RSA and ECC key pairs (sign/verify, RSA
encryption) and HMAC keys, with real cryptography.

Private material is kept in the key record as PKCS#8 DER (base64), like the symmetric
material: a local emulator's compromise, never returned by any API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from ...errors import ServiceError

RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1, "ECC_NIST_P521": ec.SECP521R1,
          "ECC_SECG_P256K1": ec.SECP256K1}
HMAC_BYTES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512, "224": hashes.SHA224, "1": hashes.SHA1}
SUPPORTED = ("SYMMETRIC_DEFAULT", *RSA_BITS, *CURVES, *HMAC_BYTES)


def new_material(spec: str) -> str:
    if spec in RSA_BITS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[spec])
    elif spec in CURVES:
        key = ec.generate_private_key(CURVES[spec]())
    elif spec in HMAC_BYTES:
        return base64.b64encode(os.urandom(HMAC_BYTES[spec])).decode()
    else:
        return base64.b64encode(os.urandom(32)).decode()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(der).decode()


def _private(doc: dict[str, Any]):
    return serialization.load_der_private_key(base64.b64decode(doc["Material"]), password=None)


def signing_algorithms(spec: str) -> list[str]:
    if spec in RSA_BITS:
        return [f"RSASSA_PSS_SHA_{n}" for n in (256, 384, 512)] + [f"RSASSA_PKCS1_V1_5_SHA_{n}" for n in (256, 384, 512)]
    if spec == "ECC_NIST_P384":
        return ["ECDSA_SHA_384"]
    if spec == "ECC_NIST_P521":
        return ["ECDSA_SHA_512"]
    if spec in CURVES:
        return ["ECDSA_SHA_256"]
    return []


def encryption_algorithms(spec: str) -> list[str]:
    if spec in RSA_BITS:
        return ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    return ["SYMMETRIC_DEFAULT"] if spec == "SYMMETRIC_DEFAULT" else []


def mac_algorithms(spec: str) -> list[str]:
    return [f"HMAC_SHA_{spec.split('_')[1]}"] if spec in HMAC_BYTES else []


def public_key_der(doc: dict[str, Any]) -> bytes:
    return _private(doc).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_usage(doc: dict[str, Any], usage: str, action: str) -> None:
    if doc["KeyUsage"] != usage:
        raise ServiceError("InvalidKeyUsageException", f"{doc['Arn']} key usage is {doc['KeyUsage']} which is not valid for {action}.")


def _digest(algorithm: str, message: bytes, message_type: str):
    bits = algorithm.rsplit("_", 1)[1]
    chosen = _HASHES[bits]()
    if message_type == "DIGEST":
        if len(message) != chosen.digest_size:
            raise ServiceError("ValidationException", "Digest is invalid length for algorithm " + algorithm + ".")
        return message, utils.Prehashed(chosen), chosen
    return message, chosen, chosen


def _check_signing(doc: dict[str, Any], algorithm: str | None, message: bytes, message_type: str | None) -> str:
    allowed = signing_algorithms(doc["KeySpec"])
    if algorithm not in allowed:
        raise ServiceError("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec {doc['KeySpec']}.")
    if message_type not in (None, "RAW", "DIGEST"):
        raise ServiceError("ValidationException", f"Value '{message_type}' at 'messageType' failed to satisfy constraint.")
    if (message_type or "RAW") == "RAW" and len(message) > 4096:
        raise ServiceError("ValidationException", "Message must be at most 4096 bytes; send a DIGEST instead.")
    return message_type or "RAW"


def sign(doc: dict[str, Any], message: bytes, algorithm: str, message_type: str | None) -> bytes:
    _check_usage(doc, "SIGN_VERIFY", "Sign")
    message_type = _check_signing(doc, algorithm, message, message_type)
    data, hashing, chosen = _digest(algorithm, message, message_type)
    key = _private(doc)
    if algorithm.startswith("ECDSA"):
        return key.sign(data, ec.ECDSA(hashing))
    pad = padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size) if "PSS" in algorithm else padding.PKCS1v15()
    return key.sign(data, pad, hashing)


def verify(doc: dict[str, Any], message: bytes, signature: bytes, algorithm: str, message_type: str | None) -> bool:
    _check_usage(doc, "SIGN_VERIFY", "Verify")
    message_type = _check_signing(doc, algorithm, message, message_type)
    data, hashing, chosen = _digest(algorithm, message, message_type)
    public = _private(doc).public_key()
    try:
        if algorithm.startswith("ECDSA"):
            public.verify(signature, data, ec.ECDSA(hashing))
        else:
            pad = padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size) if "PSS" in algorithm else padding.PKCS1v15()
            public.verify(signature, data, pad, hashing)
    except (InvalidSignature, ValueError):
        return False
    return True


def _oaep(algorithm: str) -> padding.OAEP:
    chosen = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(chosen), algorithm=chosen, label=None)


def rsa_encrypt(doc: dict[str, Any], plaintext: bytes, algorithm: str | None) -> bytes:
    if algorithm not in encryption_algorithms(doc["KeySpec"]):
        raise ServiceError("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec {doc['KeySpec']}.")
    try:
        return _private(doc).public_key().encrypt(plaintext, _oaep(algorithm))
    except ValueError:
        raise ServiceError("ValidationException", "Plaintext is too long for this key and algorithm.") from None


def rsa_decrypt(doc: dict[str, Any], ciphertext: bytes, algorithm: str | None) -> bytes:
    if algorithm not in encryption_algorithms(doc["KeySpec"]):
        raise ServiceError("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec {doc['KeySpec']}.")
    try:
        return _private(doc).decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise ServiceError("InvalidCiphertextException", "The ciphertext is invalid.") from None


def mac(doc: dict[str, Any], message: bytes, algorithm: str) -> bytes:
    _check_usage(doc, "GENERATE_VERIFY_MAC", "GenerateMac")
    if algorithm not in mac_algorithms(doc["KeySpec"]):
        raise ServiceError("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec {doc['KeySpec']}.")
    if not 1 <= len(message) <= 4096:
        raise ServiceError("ValidationException", "Message must be between 1 and 4096 bytes.")
    digest = getattr(hashlib, "sha" + algorithm.rsplit("_", 1)[1])
    return hmac.new(base64.b64decode(doc["Material"]), message, digest).digest()
