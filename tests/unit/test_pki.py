"""The local CA: files on disk, leaf certificates, and a real aiohttp HTTPS server."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import ipaddress
import socket
import ssl
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from nimbus.pki import CAError, LocalCA, hostname_matches, normalize_hostname

# --------------------------------------------------------------------------- helpers


def _ext(cert: x509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls)


def _verify_signed_by(cert: x509.Certificate, ca: LocalCA) -> None:
    ca.cert.public_key().verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )


class _Server:
    """A one-route aiohttp app served over TLS on 127.0.0.1, in a background thread."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=f"hello {request.host}")

        async def start() -> web.AppRunner:
            app = web.Application()
            app.router.add_get("/", hello)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
            await site.start()
            self.port = runner.addresses[0][1]
            return runner

        self.runner = self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    def __enter__(self) -> "_Server":
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def _https_get(port: int, server_hostname: str, ctx: ssl.SSLContext):
    """GET / with http.client, TLS to 127.0.0.1 but SNI/verification for the name."""
    conn = http.client.HTTPSConnection(server_hostname, port, context=ctx, timeout=10)
    conn._create_connection = (  # resolve every name to the server's address
        lambda addr, *a, **kw: socket.create_connection(("127.0.0.1", addr[1]), *a, **kw)
    )
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode()
        peer = conn.sock.getpeercert()
        version = conn.sock.version()
        return resp.status, body, peer, version
    finally:
        conn.close()


def _san_dns(peer: dict) -> list[str]:
    return [v for k, v in peer.get("subjectAltName", ()) if k == "DNS"]


def _strict_client(ca: LocalCA) -> ssl.SSLContext:
    ctx = ca.client_ssl_context()
    # What Python 3.13's create_default_context() turns on: catch malformed certs now.
    ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    return ctx


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA.load_or_create(tmp_path / "ca")


@pytest.fixture
def server(ca: LocalCA):
    with _Server(ca.server_ssl_context(["nimbus.test", "*.elb.localhost"])) as srv:
        yield srv


# --------------------------------------------------------------------------- the root


def test_root_ca_files_and_extensions(ca: LocalCA) -> None:
    assert ca.cert_path == ca.directory / "ca.pem"
    assert ca.cert_path.is_file() and ca.key_path.is_file()
    assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600
    assert ca.ca_bundle_path.read_bytes() == ca.cert_path.read_bytes()

    cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "Nimbus Local CA"
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3649) < life < dt.timedelta(days=3652)
    _verify_signed_by(cert, ca)  # self-signed with the stored key
    key = serialization.load_pem_private_key(ca.key_path.read_bytes(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_reload_gives_the_same_ca(tmp_path: Path, ca: LocalCA) -> None:
    first = ca.cert_path.read_bytes()
    again = LocalCA.load_or_create(ca.directory)
    assert again.cert_pem == first == ca.cert_pem
    assert again.cert_path.read_bytes() == first
    assert again.fingerprint_sha256 == ca.fingerprint_sha256
    # a certificate issued by the reloaded CA verifies against the original file
    cert_pem, _ = again.issue(["x.localhost"])
    _verify_signed_by(x509.load_pem_x509_certificate(cert_pem), ca)
    # no temp files left behind
    assert sorted(p.name for p in ca.directory.iterdir() if p.name.endswith(".tmp")) == []


def test_concurrent_first_start_agrees_on_one_ca(tmp_path: Path) -> None:
    d = tmp_path / "race"
    with ThreadPoolExecutor(8) as pool:
        cas = list(pool.map(lambda _: LocalCA.load_or_create(d), range(8)))
    assert len({c.cert_pem for c in cas}) == 1
    assert cas[0].cert_path.read_bytes() == cas[0].cert_pem


def test_interrupted_writes_are_recovered(tmp_path: Path) -> None:
    d = tmp_path / "ca"
    d.mkdir()
    # a kill after the key was written but before the certificate: start over
    (d / "ca-key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\ntrunc")
    (d / ".ca.pem.abc123.tmp").write_bytes(b"-----BEGIN CERT")  # half a temp file
    ca = LocalCA.load_or_create(d)
    assert not (d / ".ca.pem.abc123.tmp").exists()
    assert LocalCA.load_or_create(d).cert_pem == ca.cert_pem


def test_certificate_without_key_or_mismatched_key_is_an_error(tmp_path: Path) -> None:
    a = LocalCA.load_or_create(tmp_path / "a")
    b = LocalCA.load_or_create(tmp_path / "b")
    (tmp_path / "a" / "ca-key.pem").write_bytes(b.key_path.read_bytes())
    with pytest.raises(CAError, match="does not match"):
        LocalCA.load_or_create(tmp_path / "a")
    a.key_path.unlink()
    with pytest.raises(CAError, match="missing"):
        LocalCA.load_or_create(tmp_path / "a")


# --------------------------------------------------------------------------- leaves


def test_issue_leaf(ca: LocalCA) -> None:
    cert_pem, key_pem = ca.issue(
        ["API.Example.test", "*.example.test", "10.0.0.1"], ["127.0.0.1", "::1"]
    )
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    _verify_signed_by(cert, ca)
    assert cert.issuer == ca.cert.subject

    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example.test", "*.example.test"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert _ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert not _ext(cert, x509.BasicConstraints).value.ca
    assert _ext(cert, x509.KeyUsage).value.digital_signature
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(ca.cert, x509.SubjectKeyIdentifier).value.digest
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert life <= dt.timedelta(days=397)
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.timezone.utc)


def test_issue_options_and_validation(ca: LocalCA) -> None:
    cert_pem, key_pem = ca.issue(["acm.example.test"], key_algorithm="RSA_2048",
                                 client_auth=True, days=395)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.public_key().key_size == 2048
    assert ExtendedKeyUsageOID.CLIENT_AUTH in _ext(cert, x509.ExtendedKeyUsage).value
    assert _ext(cert, x509.KeyUsage).value.key_encipherment
    with pytest.raises(ValueError):
        ca.issue(["x.test"], days=398)
    with pytest.raises(ValueError):
        ca.issue([])
    with pytest.raises(ValueError):
        ca.issue(["bad..name"])
    with pytest.raises(ValueError):
        ca.issue(["a.*.test"])
    with pytest.raises(ValueError):
        ca.issue(["x.test"], key_algorithm="DSA")
    with pytest.raises(TypeError):
        ca.issue("x.test")  # a string is not a list of names


def test_name_helpers() -> None:
    assert normalize_hostname("Bücher.Localhost.") == "xn--bcher-kva.localhost"
    with pytest.raises(ValueError):
        normalize_hostname("*.localhost", allow_wildcard=False)
    for bad in ["", "-a.test", "a b.test", "a" * 64 + ".test", "x/../y"]:
        with pytest.raises(ValueError):
            normalize_hostname(bad)
    assert hostname_matches("*.s3.localhost", "b.s3.localhost")
    assert not hostname_matches("*.s3.localhost", "a.b.s3.localhost")
    assert not hostname_matches("*.s3.localhost", "s3.localhost")
    # like OpenSSL: a wildcard right under a single-label name matches nothing
    assert not hostname_matches("*.localhost", "bucket.localhost")


# --------------------------------------------------------------------------- HTTPS


def test_requests_trusts_the_ca(ca: LocalCA, server: _Server) -> None:
    for host in ("localhost", "127.0.0.1"):
        r = requests.get(f"https://{host}:{server.port}/", verify=str(ca.cert_path),
                         timeout=10)
        assert r.status_code == 200
        assert r.text == f"hello {host}:{server.port}"


def test_bundle_with_system_roots_also_works(ca: LocalCA, server: _Server) -> None:
    bundle = ca.write_ca_bundle()
    assert bundle.read_bytes().startswith(ca.cert_pem)
    assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") >= 1
    r = requests.get(f"https://localhost:{server.port}/", verify=str(bundle), timeout=10)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "bucket.localhost",  # *.localhost is not honoured by OpenSSL: exact cert
        "bucket.s3.localhost",
        "mybucket.s3.us-east-1.localhost",
        "a.b.c.localhost",
        "nimbus.test",  # a given default name
        "my-lb-1234.elb.localhost",  # covered by the given *.elb.localhost
        "db.example.internal",  # not under localhost: still issued
    ],
)
def test_sni_names_verify(ca: LocalCA, server: _Server, name: str) -> None:
    status, body, peer, version = _https_get(server.port, name, _strict_client(ca))
    assert status == 200
    assert body == f"hello {name}:{server.port}"
    assert version in ("TLSv1.2", "TLSv1.3")
    sans = _san_dns(peer)
    assert any(hostname_matches(s, name) for s in sans), sans
    default = {"localhost", "*.localhost", "nimbus.test", "*.elb.localhost"}
    if name in ("localhost", "nimbus.test", "my-lb-1234.elb.localhost"):
        assert set(sans) == default  # the default certificate
        assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]
    else:
        assert sans == [name]  # a certificate for exactly that name
        assert (ca.directory / "leaf" / f"{name}.pem").is_file()


def test_ssl_socket_handshake(ca: LocalCA, server: _Server) -> None:
    ctx = ca.client_ssl_context()
    for name in ("localhost", "bucket.s3.localhost", "a.b.c.localhost"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                peer = tls.getpeercert()
                assert any(hostname_matches(s, name) for s in _san_dns(peer))
                der = tls.getpeercert(binary_form=True)
                cert = x509.load_der_x509_certificate(der)
                _verify_signed_by(cert, ca)


def test_leaf_cache_on_disk_is_reused(ca: LocalCA, server: _Server) -> None:
    name = "cached.s3.localhost"
    _, _, peer1, _ = _https_get(server.port, name, ca.client_ssl_context())
    path = ca.directory / "leaf" / f"{name}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the same process: served from memory
    _, _, peer2, _ = _https_get(server.port, name, ca.client_ssl_context())
    assert peer2["serialNumber"] == peer1["serialNumber"]
    # a restarted process (new LocalCA on the same directory): served from disk
    ca2 = LocalCA.load_or_create(ca.directory)
    with _Server(ca2.server_ssl_context()) as srv2:
        _, _, peer3, _ = _https_get(srv2.port, name, ca2.client_ssl_context())
    assert peer3["serialNumber"] == peer1["serialNumber"]


def test_corrupt_cached_leaf_is_reissued(ca: LocalCA, server: _Server) -> None:
    leaf = ca.directory / "leaf"
    leaf.mkdir(exist_ok=True)
    (leaf / "broken.localhost.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nxx")
    status, _, peer, _ = _https_get(server.port, "broken.localhost", ca.client_ssl_context())
    assert status == 200 and _san_dns(peer) == ["broken.localhost"]


def test_sni_cache_is_bounded(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path / "ca", sni_cache_size=4, leaf_disk_limit=8)
    contexts = [ca.context_for(f"b{i}.s3.localhost") for i in range(20)]
    assert ca.sni_cache_len == 4
    assert ca.context_for("b19.s3.localhost") is contexts[19]  # recent: cached
    assert len(list((ca.directory / "leaf").iterdir())) <= 8  # disk bounded too


def test_sni_filter_refuses_names(ca: LocalCA) -> None:
    ctx = ca.server_ssl_context(sni_filter=lambda n: n.endswith(".localhost"))
    with _Server(ctx) as srv:
        ok = _https_get(srv.port, "x.y.localhost", ca.client_ssl_context())
        assert ok[0] == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            _https_get(srv.port, "evil.example.com", ca.client_ssl_context())
    assert not (ca.directory / "leaf" / "evil.example.com.pem").exists()


def test_untrusted_clients_fail(ca: LocalCA, server: _Server) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://localhost:{server.port}/", timeout=10)  # default roots
    with pytest.raises(ssl.SSLCertVerificationError):
        _https_get(server.port, "bucket.s3.localhost", ssl.create_default_context())
    other = LocalCA.load_or_create(ca.directory.parent / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        _https_get(server.port, "localhost", other.client_ssl_context())


def test_ip_clients_get_the_default_certificate(ca: LocalCA, server: _Server) -> None:
    """A client connecting to an IP sends no SNI: the default cert, with IP SANs."""
    ctx = ca.client_ssl_context()
    for ip in ("127.0.0.1",):
        with socket.create_connection((ip, server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=ip) as tls:
                assert ("IP Address", ip) in tls.getpeercert()["subjectAltName"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.2")  # not in the cert


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_is_refused(ca: LocalCA, server: _Server) -> None:
    ctx = ca.client_ssl_context()
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    srv_ctx = ca.server_ssl_context()
    assert srv_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ca.context_for("z.localhost").minimum_version == ssl.TLSVersion.TLSv1_2
