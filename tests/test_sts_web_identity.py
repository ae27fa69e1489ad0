"""sts:AssumeRoleWithWebIdentity for real: an OIDC issuer started by the test (HTTPS with
a self-signed certificate registered by its thumbprint, a discovery document and a
JWKS), tokens signed with RS256 and ES256, the role's trust policy with conditions on
``<provider>:aud`` / ``:sub``, session tags from the token, and every refusal."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from nimbus_process import aws_cli

ACCOUNT = "000000000000"
AUDIENCE = "sts.amazonaws.com"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64(value: int, length: int | None = None) -> str:
    length = length or (value.bit_length() + 7) // 8
    return b64url(value.to_bytes(length, "big"))


class Issuer:
    """A local OpenID Connect issuer: HTTPS, discovery document, JWKS, signing keys."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tls_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(tls_key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                     .sign(tls_key, hashes.SHA256()))
        self.thumbprint = hashlib.sha1(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys", "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == "/keys":
                    body = issuer.jwks()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        import tempfile, os
        with tempfile.TemporaryDirectory() as d:
            cert_path, key_path = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            open(cert_path, "wb").write(self.cert.public_bytes(serialization.Encoding.PEM))
            open(key_path, "wb").write(tls_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        self.host = self.url[len("https://"):]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def jwks(self) -> dict:
        n = self.rsa.public_key().public_numbers()
        e = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": int_b64(n.n), "e": int_b64(n.e)},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": int_b64(e.x, 32), "y": int_b64(e.y, 32)},
        ]}

    def token(self, *, alg: str = "RS256", kid: str | None = None, key=None, iss: str | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": iss or self.url, "aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main", "iat": now, "exp": now + 600}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": alg, "typ": "JWT", "kid": kid or ("ec-1" if alg == "ES256" else "rsa-1")}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}".encode()
        if alg == "RS256":
            signature = (key or self.rsa).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            r, s = decode_dss_signature((key or self.ec).sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = b""
        return f"{signing_input.decode()}.{b64url(signature)}"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def issuer():
    server = Issuer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def provider(nimbus, issuer):
    iam = nimbus.client("iam")
    arn = iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[AUDIENCE], ThumbprintList=[issuer.thumbprint])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.host}"
    return arn


def trust(provider_arn: str, host: str, sub: str = "repo:acme/*", actions=("sts:AssumeRoleWithWebIdentity",)) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": list(actions),
        "Condition": {"StringEquals": {f"{host}:aud": AUDIENCE}, "StringLike": {f"{host}:sub": sub}}}]})


@pytest.fixture(scope="module")
def role(nimbus, issuer, provider):
    iam = nimbus.client("iam")
    name = uid("ci-deployer")
    out = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(provider, issuer.host))["Role"]
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    return out


def anonymous_sts(nimbus):
    return boto3.client("sts", endpoint_url=nimbus.endpoint, region_name="us-east-1",
                        config=BotoConfig(signature_version=UNSIGNED, retries={"max_attempts": 1}))


def assume(nimbus, role_arn: str, token: str, **kw):
    return anonymous_sts(nimbus).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token, **kw)


def creds_client(nimbus, service, creds):
    return boto3.client(service, endpoint_url=nimbus.endpoint, region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                        config=BotoConfig(retries={"max_attempts": 1}))


def refused(nimbus, role_arn, token, code, fragment="", **kw):
    with pytest.raises(ClientError) as info:
        assume(nimbus, role_arn, token, **kw)
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    assert fragment in error["Message"], error
    return info.value.response


def test_rs256_and_es256_tokens_assume_the_role(nimbus, issuer, provider, role):
    out = assume(nimbus, role["Arn"], issuer.token(), DurationSeconds=900)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/ci"
    assert out["SubjectFromWebIdentityToken"] == "repo:acme/web:ref:refs/heads/main"
    assert out["Audience"] == AUDIENCE and out["Provider"] == issuer.url
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    who = creds_client(nimbus, "sts", creds).get_caller_identity()
    assert who["Arn"] == out["AssumedRoleUser"]["Arn"]
    s3 = creds_client(nimbus, "s3", creds)
    s3.list_buckets()  # AmazonS3ReadOnlyAccess
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=uid("nope"))
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    # the keys came from the issuer's discovery document and JWKS, over HTTPS
    assert "/.well-known/openid-configuration" in issuer.requests and "/keys" in issuer.requests
    es = assume(nimbus, role["Arn"], issuer.token(alg="ES256"))
    assert creds_client(nimbus, "sts", es["Credentials"]).get_caller_identity()["Arn"].endswith("/ci")
    # the call is recorded in the role's account as the web identity user
    events = nimbus.client("cloudtrail").lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}])["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "WebIdentityUser"
    assert record["userIdentity"]["identityProvider"] == issuer.host


def test_aws_cli_and_the_sdk_credential_chain(nimbus, issuer, provider, role, tmp_path):
    token = issuer.token()
    env = nimbus.cli_env()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    out = subprocess.run([aws_cli(), "--endpoint-url", nimbus.endpoint, "sts", "assume-role-with-web-identity", "--role-arn", role["Arn"],
                          "--role-session-name", "cli", "--web-identity-token", token], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AssumedRoleUser"]["Arn"].endswith(f"{role['RoleName']}/cli")
    # what EKS pods and CI runners do: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
    token_file = tmp_path / "token"
    token_file.write_text(token)
    env.update(AWS_ROLE_ARN=role["Arn"], AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ROLE_SESSION_NAME="pod")
    who = subprocess.run([aws_cli(), "--endpoint-url", nimbus.endpoint, "sts", "get-caller-identity"], env=env, capture_output=True, text=True, timeout=120)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/pod"


def test_bad_tokens_are_refused_with_sts_errors(nimbus, issuer, provider, role):
    now = int(time.time())
    refused(nimbus, role["Arn"], issuer.token(aud="someone-else"), "InvalidIdentityToken", "Incorrect token audience")
    response = refused(nimbus, role["Arn"], issuer.token(exp=now - 60), "ExpiredTokenException", "Token expired")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    refused(nimbus, role["Arn"], issuer.token(nbf=now + 3600), "InvalidIdentityToken", "not valid yet")
    refused(nimbus, role["Arn"], issuer.token(key=issuer.rogue), "InvalidIdentityToken", "Signature")  # signed by another key
    forged = issuer.token().rsplit(".", 1)
    refused(nimbus, role["Arn"], forged[0][:-2] + "xx." + forged[1], "InvalidIdentityToken")  # claims changed after signing
    refused(nimbus, role["Arn"], issuer.token(alg="none"), "InvalidIdentityToken", "none")
    refused(nimbus, role["Arn"], issuer.token(alg="ES256", kid="rsa-1"), "InvalidIdentityToken")  # key of the wrong type
    refused(nimbus, role["Arn"], "not-a-jwt-at-all", "InvalidIdentityToken", "not a valid JWT")
    refused(nimbus, role["Arn"], issuer.token(iss="https://unknown.example"), "InvalidIdentityToken",
            "No OpenIDConnect provider found in your account for https://unknown.example")
    refused(nimbus, role["Arn"], issuer.token(sub=None), "IDPRejectedClaim")
    # the trust policy decides: a subject outside repo:acme/* is not trusted
    response = refused(nimbus, role["Arn"], issuer.token(sub="repo:evil/web"), "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    refused(nimbus, f"arn:aws:iam::{ACCOUNT}:role/{uid('missing')}", issuer.token(), "AccessDenied")
    refused(nimbus, role["Arn"], issuer.token(), "ValidationError", DurationSeconds=7200)  # over the role's MaxSessionDuration


def test_provider_settings_decide(nimbus, issuer, provider, role):
    iam = nimbus.client("iam")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID="web-app")
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert got["ClientIDList"] == [AUDIENCE, "web-app"] and got["ThumbprintList"] == [issuer.thumbprint]
    assert got["Url"] == issuer.host
    # a token for web-app passes the provider but not the trust policy's aud condition
    refused(nimbus, role["Arn"], issuer.token(aud="web-app"), "AccessDenied")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID="web-app")
    refused(nimbus, role["Arn"], issuer.token(aud="web-app"), "InvalidIdentityToken", "Incorrect token audience")
    # a thumbprint that is not the issuer's certificate's: the keys cannot be trusted
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider, ThumbprintList=["0" * 40])
    try:
        refused(nimbus, role["Arn"], issuer.token(), "InvalidIdentityToken", "thumbprint")
    finally:
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider, ThumbprintList=[issuer.thumbprint])
    assume(nimbus, role["Arn"], issuer.token())
    with pytest.raises(ClientError) as info:
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider, ThumbprintList=["abc"])
    assert info.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as info:
        iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[AUDIENCE], ThumbprintList=[issuer.thumbprint])
    assert info.value.response["Error"]["Code"] == "EntityAlreadyExists"
    with pytest.raises(ClientError) as info:
        iam.create_open_id_connect_provider(Url="http://plain.example", ClientIDList=[AUDIENCE])
    assert info.value.response["Error"]["Code"] == "ValidationError"
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=provider, Tags=[{"Key": "team", "Value": "ci"}])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider)["Tags"] == [{"Key": "team", "Value": "ci"}]
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=provider, TagKeys=["team"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider)["Tags"] == []
    assert provider in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]


def test_jwks_from_a_file_through_the_nimbus_tag(nimbus, issuer, tmp_path):
    """An issuer that serves nothing: its JWKS registered with the nimbus:jwks-uri tag."""
    iam = nimbus.client("iam")
    url = f"https://{uid('offline')}.example.com/tenant"
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.jwks()))
    arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["app"], Tags=[{"Key": "nimbus:jwks-uri", "Value": jwks.as_uri()}])["OpenIDConnectProviderArn"]
    host = url[len("https://"):]
    name = uid("offline-role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:sub": "user-7", f"{host}:aud": "app"}}}]}))["Role"]
    out = assume(nimbus, role["Arn"], issuer.token(iss=url, aud="app", sub="user-7", alg="ES256"))
    assert out["Provider"] == url and out["SubjectFromWebIdentityToken"] == "user-7"
    refused(nimbus, role["Arn"], issuer.token(iss=url, aud="app", sub="user-8"), "AccessDenied")
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["nimbus:jwks-uri"])
    # without the tag, Nimbus must fetch from the issuer, which does not exist
    refused(nimbus, role["Arn"], issuer.token(iss=url, aud="app", sub="user-7"), "IDPCommunicationError")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)  # idempotent, as in AWS
    refused(nimbus, role["Arn"], issuer.token(iss=url, aud="app", sub="user-7"), "InvalidIdentityToken", "No OpenIDConnect provider")


def test_session_tags_from_the_token_need_tag_session(nimbus, issuer, provider):
    iam = nimbus.client("iam")
    tags_claim = {"https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]},
                  "https://aws.amazon.com/source_identity": "alice@example.com"}
    strict = iam.create_role(RoleName=uid("no-tags"), AssumeRolePolicyDocument=trust(provider, issuer.host))["Role"]
    refused(nimbus, strict["Arn"], issuer.token(**tags_claim), "AccessDenied", "sts:TagSession")
    name = uid("tagged")
    tagged = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(
        provider, issuer.host, actions=("sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity")))["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="own-team-buckets", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:CreateBucket", "Resource": "arn:aws:s3:::${aws:PrincipalTag/team}-*"}]}))
    out = assume(nimbus, tagged["Arn"], issuer.token(**tags_claim))
    assert out["SourceIdentity"] == "alice@example.com"
    s3 = creds_client(nimbus, "s3", out["Credentials"])
    s3.create_bucket(Bucket=uid("blue"))
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=uid("red"))
    assert info.value.response["Error"]["Code"] == "AccessDenied"
