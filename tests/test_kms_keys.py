"""KMS asymmetric keys (Sign/Verify/GetPublicKey, RSA encryption), HMAC keys, grants, rotation."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding


def code_of(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


@pytest.fixture
def kms(nimbus):
    return nimbus.client("kms")


@pytest.mark.parametrize("spec,algorithm", [("RSA_2048", "RSASSA_PSS_SHA_256"), ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
                                            ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384")])
def test_sign_verify_and_public_key(kms, spec, algorithm):
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert algorithm in key["SigningAlgorithms"] and "EncryptionAlgorithms" not in key
    signature = kms.sign(KeyId=key["KeyId"], Message=b"hello", SigningAlgorithm=algorithm)["Signature"]
    assert kms.verify(KeyId=key["KeyId"], Message=b"hello", Signature=signature, SigningAlgorithm=algorithm)["SignatureValid"]
    assert code_of(lambda: kms.verify(KeyId=key["KeyId"], Message=b"hullo", Signature=signature, SigningAlgorithm=algorithm)) == "KMSInvalidSignatureException"
    # the public key verifies the signature outside KMS too
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    chosen = {"256": hashes.SHA256(), "384": hashes.SHA384()}[algorithm[-3:]]
    if algorithm.startswith("ECDSA"):
        public.verify(signature, b"hello", ec.ECDSA(chosen))
    elif "PSS" in algorithm:
        public.verify(signature, b"hello", padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size), chosen)
    else:
        public.verify(signature, b"hello", padding.PKCS1v15(), chosen)
    digest = hashlib.new("sha" + algorithm[-3:], b"big message").digest()
    signed = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
    assert kms.verify(KeyId=key["KeyId"], Message=b"big message", Signature=signed, SigningAlgorithm=algorithm)["SignatureValid"]
    assert code_of(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")) in ("InvalidKeyUsageException",)


def test_rsa_encryption(kms):
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    plain = kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"]
    assert plain == b"secret"
    assert code_of(lambda: kms.sign(KeyId=key["KeyId"], Message=b"x", SigningAlgorithm="RSASSA_PSS_SHA_256")) == "InvalidKeyUsageException"
    assert code_of(lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")) == "InvalidKeyUsageException"


def test_hmac_keys(kms):
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert key["MacAlgorithms"] == ["HMAC_SHA_256"]
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    assert kms.verify_mac(KeyId=key["KeyId"], Message=b"msg", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    assert code_of(lambda: kms.verify_mac(KeyId=key["KeyId"], Message=b"msh", Mac=mac, MacAlgorithm="HMAC_SHA_256")) == "KMSInvalidMacException"
    assert code_of(lambda: kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm="HMAC_SHA_512")) == "InvalidKeyUsageException"
    assert code_of(lambda: kms.create_key(KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")) == "ValidationException"


def test_grants(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grantee = "arn:aws:iam::000000000000:role/app"
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=["Encrypt", "Decrypt"],
                             RetiringPrincipal=grantee, Name="app-grant")
    listed = kms.list_grants(KeyId=key_id)["Grants"]
    assert [g["GrantId"] for g in listed] == [grant["GrantId"]] and listed[0]["Operations"] == ["Encrypt", "Decrypt"]
    assert kms.list_retirable_grants(RetiringPrincipal=grantee)["Grants"][0]["GrantId"] == grant["GrantId"]
    kms.retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    second = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=["Decrypt"])
    kms.revoke_grant(KeyId=key_id, GrantId=second["GrantId"])
    assert code_of(lambda: kms.revoke_grant(KeyId=key_id, GrantId=second["GrantId"])) == "NotFoundException"
    assert code_of(lambda: kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=["Fly"])) == "ValidationException"


def test_rotation_keeps_old_ciphertexts_readable(nimbus, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    new = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    nimbus.advance_clock(91 * 86400)
    kms.encrypt(KeyId=key_id, Plaintext=b"x")
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND", "AUTOMATIC"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    # ReEncrypt moves a ciphertext to another key
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(CiphertextBlob=old, DestinationKeyId=other)
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"before"
    assert other in moved["KeyId"]
