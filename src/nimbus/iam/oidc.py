"""OpenID Connect web identity tokens: JWT signatures checked against the issuer's JWKS.

``sts:AssumeRoleWithWebIdentity`` hands a JWT (an OIDC ID token) to ``verify_token``.
The token's ``iss`` names an IAM OIDC provider of the role's account (``iam:oidc``
records, key = the URL without ``https://``); its signing keys come from the provider's
JWKS, found the way AWS finds them:

1. ``GET <issuer>/.well-known/openid-configuration`` → ``jwks_uri`` → the JWKS, over
   HTTPS.  The server's certificate must chain to a trusted CA (the system's or the
   Nimbus CA) **or** one certificate the server presents must have a SHA-1 fingerprint
   in the provider's ``ThumbprintList`` (AWS's thumbprint rule), so a local issuer with
   a self-signed certificate works by registering its thumbprint;
2. unless the provider carries the tag ``nimbus:jwks-uri`` (a Nimbus extension): then
   the JWKS is read from that URL instead (``https://``, ``http://`` or ``file://``),
   for issuers that serve no discovery document, or a JWKS kept in a file.

JWKS documents are cached in memory per provider for ``JWKS_TTL`` seconds and fetched
again at once when a token names a key id the cached set lacks (key rotation).
Signatures: RS256/384/512, PS256/384/512 and ES256/384/512, verified with
``cryptography``.  Times (``exp``, ``nbf``) are checked on the real clock: the issuer's
clock is real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import _ssl
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

JWKS_TTL = 3600.0
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT = 1 << 20
CLOCK_SKEW = 300  # seconds of leeway for nbf/iat, as STS allows
JWKS_URI_TAG = "nimbus:jwks-uri"

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}
SUPPORTED_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})


class TokenError(Exception):
    """A rejected token: ``code`` is STS's error code, the message AWS's wording."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> TokenError:
    return TokenError("InvalidIdentityToken", message)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class ParsedToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def issuer_host(self) -> str:
        return issuer_host(str(self.claims.get("iss", "")))

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        if isinstance(aud, str):
            return [aud]
        if isinstance(aud, list):
            return [a for a in aud if isinstance(a, str)]
        return []


def issuer_host(iss: str) -> str:
    """An issuer URL as IAM keys OIDC providers: without ``https://`` and trailing ``/``."""
    for scheme in ("https://", "http://"):
        if iss.startswith(scheme):
            iss = iss[len(scheme):]
            break
    return iss.rstrip("/")


def parse_token(token: Any) -> ParsedToken:
    """Split and decode a compact JWS; InvalidIdentityToken when it is not one."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise _invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    head, body, sig = token.split(".")
    try:
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(body))
        signature = b64url_decode(sig)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    return ParsedToken(header, claims, f"{head}.{body}".encode(), signature)


# ------------------------------------------------------------------ keys and signatures


def _b64int(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("not a base64url integer")
    return int.from_bytes(b64url_decode(value), "big")


def public_key(jwk: dict[str, Any]) -> Any:
    """A JWK (RSA or EC) → a ``cryptography`` public key; ValueError when unusable."""
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_b64int(jwk.get("e")), _b64int(jwk.get("n"))).public_key()
    if kty == "EC":
        curve = _CURVES.get(jwk.get("crv", ""))
        if curve is None:
            raise ValueError(f"unsupported curve {jwk.get('crv')}")
        return ec.EllipticCurvePublicNumbers(_b64int(jwk.get("x")), _b64int(jwk.get("y")), curve()).public_key()
    raise ValueError(f"unsupported key type {kty}")


def verify_signature(alg: str, key: Any, signing_input: bytes, signature: bytes) -> bool:
    digest = _HASHES[alg[2:]]()
    try:
        if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), digest)
            return True
        if alg.startswith("PS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size), digest)
            return True
        if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            size = _EC_SIZES[alg]
            if len(signature) != 2 * size:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
            key.verify(der, signing_input, ec.ECDSA(digest))
            return True
    except InvalidSignature:
        return False
    return False


def _key_fits(jwk: dict[str, Any], alg: str) -> bool:
    if jwk.get("use") not in (None, "sig"):
        return False
    if jwk.get("alg") not in (None, alg):
        return False
    return jwk.get("kty") == ("EC" if alg.startswith("ES") else "RSA")


# ------------------------------------------------------------------ fetching the JWKS


class _Fetcher:
    """HTTP(S) GETs of small JSON documents, with AWS's thumbprint rule for TLS."""

    def __init__(self, thumbprints: list[str], ca_file: str | None) -> None:
        self.thumbprints = {t.lower() for t in thumbprints}
        self.ca_file = ca_file

    def get_json(self, url: str) -> Any:
        if url.startswith("file://"):
            with open(url[len("file://"):], "rb") as f:
                return json.loads(f.read(MAX_DOCUMENT))
        if url.startswith("https://"):
            return json.loads(self._https(url))
        if url.startswith("http://"):
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as resp:  # noqa: S310 (scheme checked)
                return json.loads(resp.read(MAX_DOCUMENT))
        raise ValueError(f"unsupported URL {url}")

    def _https(self, url: str) -> bytes:
        # First the ordinary way: a certificate chaining to a trusted CA (system or Nimbus CA).
        trusted = ssl.create_default_context()
        if self.ca_file:
            try:
                trusted.load_verify_locations(self.ca_file)
            except (OSError, ssl.SSLError):
                pass
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT, context=trusted) as resp:  # noqa: S310
                return resp.read(MAX_DOCUMENT)
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ssl.SSLCertVerificationError) or not self.thumbprints:
                raise
        # Then AWS's thumbprint rule: one presented certificate's SHA-1 is registered.
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        handler = _ThumbprintHandler(unverified, self.thumbprints)
        opener = urllib.request.build_opener(handler)
        with opener.open(url, timeout=FETCH_TIMEOUT) as resp:
            if not handler.matched:
                raise ThumbprintMismatch()
            return resp.read(MAX_DOCUMENT)


class ThumbprintMismatch(Exception):
    pass


class _ThumbprintHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext, thumbprints: set[str]) -> None:
        super().__init__(context=context)
        self.thumbprints = thumbprints
        self.matched = False

    def https_open(self, req: Any) -> Any:
        import http.client

        handler = self

        class Connection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                certs = []
                sslobj = getattr(self.sock, "_sslobj", None)
                chain = getattr(self.sock, "get_unverified_chain", None) or getattr(sslobj, "get_unverified_chain", None)
                if chain is not None:
                    try:
                        certs = [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain() or []]
                    except Exception:  # private API on Python < 3.13: fall back to the leaf
                        certs = []
                if not certs:
                    leaf = self.sock.getpeercert(binary_form=True)
                    certs = [leaf] if leaf else []
                if any(hashlib.sha1(c).hexdigest() in handler.thumbprints for c in certs):  # noqa: S324 (AWS's thumbprint)
                    handler.matched = True
                else:
                    self.sock.close()
                    raise ThumbprintMismatch()

        return self.do_open(Connection, req, context=self._context)


class JwksCache:
    """The signing keys of each OIDC provider, fetched on demand and kept a while."""

    def __init__(self, ca_file: str | None = None) -> None:
        self.ca_file = ca_file
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}

    def keys(self, provider: dict[str, Any], *, refresh: bool = False) -> list[dict[str, Any]]:
        """The provider's JWKS ``keys`` (blocking: call it from a worker thread)."""
        source = jwks_source(provider)
        cache_key = (provider.get("arn", ""), source)
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit is not None and not refresh and time.time() - hit[0] < JWKS_TTL:
            return hit[1]
        fetcher = _Fetcher(provider.get("thumbprints") or [], self.ca_file)
        try:
            if source.startswith("discovery:"):
                issuer = source[len("discovery:"):]
                config = fetcher.get_json(f"{issuer}/.well-known/openid-configuration")
                jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
                if not isinstance(jwks_uri, str):
                    raise ValueError("no jwks_uri")
                document = fetcher.get_json(jwks_uri)
            else:
                document = fetcher.get_json(source)
        except ThumbprintMismatch:
            raise _invalid("OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint") from None
        except Exception:
            raise TokenError(
                "IDPCommunicationError",
                "Couldn't retrieve verification key from your identity provider,  please reference "
                "AssumeRoleWithWebIdentity documentation for requirements",
            ) from None
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise TokenError("IDPCommunicationError", "The JWKS of your identity provider has no keys.")
        keys = [k for k in keys if isinstance(k, dict)]
        with self._lock:
            self._cache[cache_key] = (time.time(), keys)
        return keys

    def forget(self, arn: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == arn]:
                del self._cache[key]


def jwks_source(provider: dict[str, Any]) -> str:
    """Where a provider's keys come from: the ``nimbus:jwks-uri`` tag, else discovery."""
    for tag in provider.get("tags") or []:
        if tag.get("Key") == JWKS_URI_TAG and tag.get("Value"):
            return tag["Value"]
    return "discovery:https://" + provider["url"]


# ------------------------------------------------------------------ the whole check


def verify_token(parsed: ParsedToken, provider: dict[str, Any], cache: JwksCache, now: float | None = None) -> dict[str, Any]:
    """Check a parsed token against its provider: audience, times, signature.

    Returns the claims; raises ``TokenError`` with STS's code and message.  Blocking
    (it may fetch the JWKS): run it in a worker thread.
    """
    now = time.time() if now is None else now
    claims = parsed.claims
    clients = provider.get("clients") or []
    if not any(a in clients for a in parsed.audiences) and not (claims.get("azp") in clients):
        raise _invalid("Incorrect token audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise _invalid("The token is missing the required claim exp")
    if exp <= now:
        raise TokenError("ExpiredTokenException", f"Token expired: current date/time {int(now)} must be before the expiration date/time {int(exp)}")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and not isinstance(nbf, bool) and nbf > now + CLOCK_SKEW:
        raise _invalid(f"Token is not valid yet: current date/time {int(now)} must be after the not-before date/time {int(nbf)}")
    iat = claims.get("iat")
    if isinstance(iat, (int, float)) and not isinstance(iat, bool) and iat > now + CLOCK_SKEW:
        raise _invalid("Token was issued in the future")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("IDPRejectedClaim", "The token is missing the required claim sub")
    alg = parsed.header.get("alg")
    if alg not in SUPPORTED_ALGS:
        raise _invalid(f"Unsupported signing algorithm: {alg}")
    kid = parsed.header.get("kid")
    for refresh in (False, True):
        keys = cache.keys(provider, refresh=refresh)
        candidates = [k for k in keys if _key_fits(k, alg) and (kid is None or k.get("kid") == kid)]
        if candidates or kid is None:
            break
    if not candidates:
        raise _invalid(f"No matching key found in the identity provider's JWKS for kid {kid}")
    for jwk in candidates:
        try:
            key = public_key(jwk)
        except ValueError:
            continue
        if verify_signature(alg, key, parsed.signing_input, parsed.signature):
            return claims
    raise _invalid("Signature verification failed")


__all__ = [
    "JWKS_URI_TAG",
    "JwksCache",
    "ParsedToken",
    "TokenError",
    "issuer_host",
    "jwks_source",
    "parse_token",
    "public_key",
    "verify_signature",
    "verify_token",
]
