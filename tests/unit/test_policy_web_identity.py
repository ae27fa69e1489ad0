"""Web identity pieces without a server: JWT parsing and signature checks (RS256, ES256),
the token's claims rules, and trust-policy statements naming a Federated principal."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from nimbus.accounts import Principal
from nimbus.iam import oidc
from nimbus.iam.engine import session_restriction
from nimbus.iam.policy import compile_policy

PROVIDER = "arn:aws:iam::111111111111:oidc-provider/issuer.example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def num(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


class StaticKeys(oidc.JwksCache):
    def __init__(self, keys):
        super().__init__()
        self._keys = keys
        self.fetches = 0

    def keys(self, provider, *, refresh=False):
        self.fetches += 1
        return self._keys


@pytest.fixture(scope="module")
def keys():
    r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    e = ec.generate_private_key(ec.SECP256R1())
    rn, en = r.public_key().public_numbers(), e.public_key().public_numbers()
    jwks = [{"kty": "RSA", "kid": "r", "n": num(rn.n), "e": num(rn.e)},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": num(en.x, 32), "y": num(en.y, 32)}]
    return r, e, jwks


def token(key, alg, kid, **claims):
    body = {"iss": "https://issuer.example", "aud": "app", "sub": "u1", "exp": int(time.time()) + 60, **claims}
    signing_input = f"{b64(json.dumps({'alg': alg, 'kid': kid}).encode())}.{b64(json.dumps(body).encode())}".encode()
    if alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64(sig)}"


PROVIDER_DOC = {"url": "issuer.example", "arn": PROVIDER, "clients": ["app"], "thumbprints": [], "tags": []}


@pytest.mark.parametrize("alg,kid", [("RS256", "r"), ("ES256", "e")])
def test_valid_tokens_verify(keys, alg, kid):
    r, e, jwks = keys
    parsed = oidc.parse_token(token(r if alg == "RS256" else e, alg, kid))
    assert parsed.issuer_host == "issuer.example"
    assert oidc.verify_token(parsed, PROVIDER_DOC, StaticKeys(jwks))["sub"] == "u1"


def test_rejections(keys):
    r, e, jwks = keys
    cache = StaticKeys(jwks)
    cases = [
        (token(r, "RS256", "r", aud="other"), "InvalidIdentityToken"),
        (token(r, "RS256", "r", exp=int(time.time()) - 1), "ExpiredTokenException"),
        (token(r, "RS256", "r", nbf=int(time.time()) + 3600), "InvalidIdentityToken"),
        (token(r, "RS256", "e"), "InvalidIdentityToken"),  # an EC key cannot verify RS256
        (token(r, "RS256", "missing"), "InvalidIdentityToken"),
        (token(r, "RS256", "r", sub=""), "IDPRejectedClaim"),
        (token(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "r"), "InvalidIdentityToken"),
    ]
    for text, code in cases:
        with pytest.raises(oidc.TokenError) as info:
            oidc.verify_token(oidc.parse_token(text), PROVIDER_DOC, cache)
        assert info.value.code == code, text
    for garbage in ("abc", "a.b", "!!.!!.!!", None):
        with pytest.raises(oidc.TokenError):
            oidc.parse_token(garbage)


def test_unknown_kid_refetches_once(keys):
    r, e, jwks = keys
    cache = StaticKeys(jwks)
    with pytest.raises(oidc.TokenError):
        oidc.verify_token(oidc.parse_token(token(r, "RS256", "rotated")), PROVIDER_DOC, cache)
    assert cache.fetches == 2


def test_jwks_source_tag():
    assert oidc.jwks_source(PROVIDER_DOC) == "discovery:https://issuer.example"
    tagged = dict(PROVIDER_DOC, tags=[{"Key": oidc.JWKS_URI_TAG, "Value": "file:///tmp/jwks.json"}])
    assert oidc.jwks_source(tagged) == "file:///tmp/jwks.json"


def test_federated_principal_matching():
    policy = compile_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}]}, kind="trust")
    st = policy.statements[0]
    web = Principal(account_id="111111111111", arn=PROVIDER, user_id="x", kind="web-identity")
    other = Principal(account_id="111111111111", arn=PROVIDER + "2", user_id="x", kind="web-identity")
    user = Principal(account_id="111111111111", arn=PROVIDER, user_id="x", kind="user")
    assert st.matches_principal(web) == (True, False)
    assert st.matches_principal(other) == (False, False)
    assert st.matches_principal(user)[0] is False  # an AWS principal is not a Federated one


def test_session_restrictions():
    fed = Principal(account_id="1", arn="arn:aws:sts::1:federated-user/f", user_id="1:f", kind="federated-user", session={})
    assert session_restriction(fed, "iam:ListUsers") and session_restriction(fed, "sts:AssumeRole")
    assert not session_restriction(fed, "sts:GetCallerIdentity") and not session_restriction(fed, "s3:GetObject")
    plain = Principal(account_id="1", arn="arn:aws:iam::1:user/u", user_id="U", kind="user", session={"mfa_time": None})
    with_mfa = Principal(account_id="1", arn="arn:aws:iam::1:user/u", user_id="U", kind="user", session={"mfa_time": 1.0})
    assert session_restriction(plain, "iam:ListUsers") and not session_restriction(with_mfa, "iam:ListUsers")
    assert not session_restriction(plain, "sts:AssumeRole")
    long_term = Principal(account_id="1", arn="arn:aws:iam::1:user/u", user_id="U", kind="user")
    assert not session_restriction(long_term, "iam:ListUsers")
