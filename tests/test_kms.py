"""KMS: keys, real AES-256-GCM envelope encryption, aliases, key states, tags, pagination."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError


def error_of(excinfo) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def kms(nimbus):
    return nimbus.client("kms")


@pytest.fixture
def key(kms):
    return kms.create_key(Description="test key")["KeyMetadata"]


def test_create_and_describe_key(kms):
    meta = kms.create_key(Description="hello", Tags=[{"TagKey": "team", "TagValue": "core"}])["KeyMetadata"]
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT" and meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["Origin"] == "AWS_KMS" and meta["KeyManager"] == "CUSTOMER"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:000000000000:key/{meta['KeyId']}"
    assert meta["AWSAccountId"] == "000000000000" and meta["Description"] == "hello"
    assert "Material" not in json.dumps(meta, default=str)
    for ref in (meta["KeyId"], meta["Arn"]):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == meta["KeyId"]
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "core"}]
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::000000000000:root"}
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]
    assert mrk["KeyId"].startswith("mrk-") and mrk["MultiRegion"] is True


def test_keys_are_per_region(nimbus, key):
    with pytest.raises(ClientError) as err:
        nimbus.client("kms", region="eu-west-1").describe_key(KeyId=key["KeyId"])
    assert error_of(err) == ("NotFoundException", 400)


def test_encrypt_decrypt_round_trip(kms, key):
    context = {"purpose": "test", "tenant": "a"}
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret bytes", EncryptionContext=context)
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    assert b"secret bytes" not in blob
    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(context.items()))))
    assert back["Plaintext"] == b"secret bytes" and back["KeyId"] == key["Arn"]
    # Two encryptions of the same plaintext differ (random nonce).
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret bytes", EncryptionContext=context)["CiphertextBlob"] != blob
    for wrong in ({}, {"purpose": "test"}, {"purpose": "test", "tenant": "b"}):
        with pytest.raises(ClientError) as err:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert error_of(err) == ("InvalidCiphertextException", 400)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(ClientError) as err:
        kms.decrypt(CiphertextBlob=tampered, EncryptionContext=context)
    assert error_of(err)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as err:
        kms.decrypt(CiphertextBlob=b"not a kms ciphertext")
    assert error_of(err)[0] == "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as err:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=other["KeyId"])
    assert error_of(err)[0] == "IncorrectKeyException"
    re = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=other["KeyId"])
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"secret bytes"


def test_encrypt_through_the_cli(nimbus, key, tmp_path):
    source = tmp_path / "plain.txt"
    source.write_bytes(b"cli secret")
    out = nimbus.aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", f"fileb://{source}", "--output", "json")
    blob = json.loads(out.stdout)["CiphertextBlob"]
    (tmp_path / "blob").write_bytes(__import__("base64").b64decode(blob))
    back = nimbus.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}", "--output", "json")
    assert __import__("base64").b64decode(json.loads(back.stdout)["Plaintext"]) == b"cli secret"


def test_generate_data_key(kms, key):
    out = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext={"k": "v"})
    assert len(out["Plaintext"]) == 32 and out["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"] == out["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)["Plaintext"]) == 64
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    without = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in without and len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 32
    for kwargs in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}, {"NumberOfBytes": 2000}):
        with pytest.raises(ClientError) as err:
            kms.generate_data_key(KeyId=key["KeyId"], **kwargs)
        assert error_of(err) == ("ValidationException", 400)
    assert len(kms.generate_random(NumberOfBytes=20)["Plaintext"]) == 20


def test_aliases(kms, key):
    name = f"alias/test-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=key["Arn"])
    alias_arn = f"arn:aws:kms:us-east-1:000000000000:{name}"
    for ref in (name, alias_arn):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == key["KeyId"]
    blob = kms.encrypt(KeyId=name, Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    listed = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in listed] == [(name, alias_arn, key["KeyId"])]
    with pytest.raises(ClientError) as err:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert error_of(err) == ("AlreadyExistsException", 400)
    for bad in ("no-prefix", "alias/aws/mine", "alias/bad name!"):
        with pytest.raises(ClientError) as err:
            kms.create_alias(AliasName=bad, TargetKeyId=key["KeyId"])
        assert error_of(err)[0] in ("ValidationException", "InvalidAliasNameException")
    with pytest.raises(ClientError) as err:
        kms.create_alias(AliasName=name + "-2", TargetKeyId=name)
    assert error_of(err)[0] == "ValidationException"
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as err:
        kms.delete_alias(AliasName=name)
    assert error_of(err) == ("NotFoundException", 400)
    with pytest.raises(ClientError) as err:
        kms.describe_key(KeyId=name)
    assert error_of(err) == ("NotFoundException", 400)
    assert err.value.response["Error"]["Message"] == f"Alias {alias_arn} is not found."


def test_aws_managed_alias_is_created_on_first_use(kms):
    meta = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    assert kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["KeyId"] == meta["KeyId"]
    with pytest.raises(ClientError) as err:
        kms.disable_key(KeyId=meta["KeyId"])
    assert error_of(err)[0] == "UnsupportedOperationException"


def test_disable_and_enable(kms, key):
    kms.disable_key(KeyId=key["KeyId"])
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["Enabled"] is False
    with pytest.raises(ClientError) as err:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(err) == ("DisabledException", 400)
    assert err.value.response["Error"]["Message"] == f"{key['Arn']} is disabled."
    kms.enable_key(KeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as err:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(err)[0] == "DisabledException"


def test_schedule_and_cancel_deletion(kms, key):
    for days in (6, 31):
        with pytest.raises(ClientError) as err:
            kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=days)
        assert error_of(err) == ("ValidationException", 400)
    out = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7 and out["KeyId"] == key["Arn"]
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["DeletionDate"] == out["DeletionDate"]
    for call in (lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
                 lambda: kms.enable_key(KeyId=key["KeyId"]),
                 lambda: kms.schedule_key_deletion(KeyId=key["KeyId"])):
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err) == ("KMSInvalidStateException", 400)
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as err:
        kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert error_of(err)[0] == "KMSInvalidStateException"


def test_key_is_deleted_when_the_window_ends(fresh_nimbus):
    server = fresh_nimbus()
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    server.advance_clock(6 * 86400)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    server.advance_clock(86400 + 1)
    with pytest.raises(ClientError) as err:
        kms.describe_key(KeyId=key["KeyId"])
    assert error_of(err) == ("NotFoundException", 400)
    assert err.value.response["Error"]["Message"] == f"Key '{key['Arn']}' does not exist"
    assert kms.list_keys()["Keys"] == []
    assert kms.list_aliases()["Aliases"] == []


def test_list_keys_pagination(fresh_nimbus):
    server = fresh_nimbus()
    kms = server.client("kms")
    created = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    page = kms.list_keys(Limit=2)
    assert page["Truncated"] is True and len(page["Keys"]) == 2
    seen = [k["KeyId"] for k in page["Keys"]]
    while page["Truncated"]:
        page = kms.list_keys(Limit=2, Marker=page["NextMarker"])
        seen += [k["KeyId"] for k in page["Keys"]]
    assert sorted(seen) == sorted(created) and len(seen) == 5
    assert all(k["KeyArn"].endswith(k["KeyId"]) for k in kms.list_keys()["Keys"])
    with pytest.raises(ClientError) as err:
        server.client("kms", parameter_validation=False).list_keys(Limit=0)
    assert error_of(err) == ("ValidationException", 400)
    with pytest.raises(ClientError) as err:
        kms.list_keys(Marker="garbage!")
    assert error_of(err)[0] == "InvalidMarkerException"


def test_tags(kms, key):
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
    kms.tag_resource(KeyId=key["Arn"], Tags=[{"TagKey": "a", "TagValue": "3"}])
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [
        {"TagKey": "a", "TagValue": "3"}, {"TagKey": "b", "TagValue": "2"}]
    page = kms.list_resource_tags(KeyId=key["KeyId"], Limit=1)
    assert page["Truncated"] is True and len(page["Tags"]) == 1
    kms.untag_resource(KeyId=key["KeyId"], TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    with pytest.raises(ClientError) as err:
        kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
    assert error_of(err) == ("TagException", 400)


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda k: k.describe_key(KeyId="not-a-key"), "NotFoundException"),
        (lambda k: k.describe_key(KeyId=str(uuid.uuid4())), "NotFoundException"),
        (lambda k: k.encrypt(KeyId=str(uuid.uuid4()), Plaintext=b"x"), "NotFoundException"),
        (lambda k: k.create_key(KeySpec="AES_999"), "ValidationException"),
        (lambda k: k.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="SIGN_VERIFY"), "ValidationException"),
        (lambda k: k.create_key(KeyUsage="BOGUS"), "ValidationException"),
        (lambda k: k.create_key(KeySpec="RSA_2048", CustomerMasterKeySpec="RSA_2048"), "ValidationException"),
        (lambda k: k.create_key(Tags=[{"TagKey": "aws:x", "TagValue": "y"}]), "TagException"),
    ],
    ids=["malformed-id", "unknown-id", "encrypt-unknown", "bad-spec", "bad-usage-for-spec", "bad-usage", "both-specs", "bad-tag"],
)
def test_bad_inputs(kms, call, code):
    with pytest.raises(ClientError) as err:
        call(kms)
    assert error_of(err) == (code, 400)


def test_not_found_message_shape(kms):
    key_id = str(uuid.uuid4())
    with pytest.raises(ClientError) as err:
        kms.describe_key(KeyId=key_id)
    assert err.value.response["Error"]["Message"] == f"Key 'arn:aws:kms:us-east-1:000000000000:key/{key_id}' does not exist"
    with pytest.raises(ClientError) as err:
        kms.describe_key(KeyId="not-a-key")
    assert err.value.response["Error"]["Message"] == "Invalid keyId 'not-a-key'"


def test_cli_reports_unknown_alias(nimbus):
    result = nimbus.aws("kms", "encrypt", "--key-id", "alias/none", "--plaintext", "aGk=", check=False)
    assert result.returncode != 0 and "NotFoundException" in result.stderr
