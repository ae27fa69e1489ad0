"""A local certificate authority, so Nimbus can serve TLS that clients can trust.

``LocalCA.load_or_create(directory)`` creates (first start) or loads (later starts) an
ECDSA P-256 root:

    directory/ca.pem          the root certificate (give this to users / AWS_CA_BUNDLE)
    directory/ca-key.pem      its private key, mode 0600
    directory/leaf/<name>.pem cached leaf certificates (key + certificate), mode 0600

Every file is written atomically (temp file in the same directory, fsync, rename), so a
process killed mid-write never leaves half a file behind.  Creation is serialised with
an ``flock`` so two processes starting on the same directory agree on one root.

``server_ssl_context()`` gives an aiohttp server context whose default certificate
covers ``localhost``/loopback, and whose SNI callback issues (and caches) a certificate
for the exact name a client asked for.  That matters because OpenSSL (and so Python,
curl, ...) refuses a wildcard directly under a single-label name: ``*.localhost`` does
*not* match ``bucket.localhost`` for an OpenSSL client, and no single-level wildcard can
match ``bucket.s3.localhost``.

Certificate validity is real (wall-clock) time, not the simulation clock: the clients
checking it run on real time.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import ipaddress
import logging
import os
import re
import ssl
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

try:  # Linux/macOS; Nimbus targets Linux.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = [
    "LocalCA",
    "CAError",
    "KEY_ALGORITHMS",
    "MAX_LEAF_DAYS",
    "DEFAULT_SERVER_HOSTNAMES",
    "DEFAULT_SERVER_IPS",
    "normalize_hostname",
    "hostname_matches",
]

CA_COMMON_NAME = "Nimbus Local CA"
CA_VALIDITY_DAYS = 3650
MAX_LEAF_DAYS = 397  # CA/Browser Forum and Apple limit is 398 days
DEFAULT_LEAF_DAYS = 397
# A leaf found in the disk cache is re-issued when it has less than this left.
LEAF_RENEW_BEFORE = _dt.timedelta(days=30)
BACKDATE = _dt.timedelta(hours=1)  # tolerate clients whose clock is a little behind

DEFAULT_SERVER_HOSTNAMES = ("localhost", "*.localhost")
DEFAULT_SERVER_IPS = ("127.0.0.1", "::1")

# ACM's KeyAlgorithm names -> key generators.
KEY_ALGORITHMS: dict[str, Callable[[], object]] = {
    "EC_prime256v1": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EC_secp384r1": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EC_secp521r1": lambda: ec.generate_private_key(ec.SECP521R1()),
    "RSA_2048": lambda: rsa.generate_private_key(65537, 2048),
    "RSA_3072": lambda: rsa.generate_private_key(65537, 3072),
    "RSA_4096": lambda: rsa.generate_private_key(65537, 4096),
}

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


class CAError(Exception):
    """The CA directory is unusable (e.g. a certificate without its key)."""


# --------------------------------------------------------------------------- names


def normalize_hostname(name: str, *, allow_wildcard: bool = True) -> str:
    """Lower-case, IDNA-encode and validate a DNS name; raise ValueError if invalid.

    A wildcard is allowed only as the whole left-most label (``*.example.com``).
    """
    if not isinstance(name, str):
        raise ValueError(f"hostname must be a string: {name!r}")
    n = name.strip().rstrip(".")
    if not n.isascii():
        try:
            n = n.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid hostname {name!r}: {exc}") from None
    n = n.lower()
    if not n or len(n) > 253:
        raise ValueError(f"invalid hostname {name!r}")
    labels = n.split(".")
    if labels[0] == "*":
        if not allow_wildcard:
            raise ValueError(f"wildcard not allowed here: {name!r}")
        if len(labels) < 2:
            raise ValueError(f"invalid wildcard {name!r}")
        labels = labels[1:]
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"invalid hostname {name!r}")
    return n


def hostname_matches(pattern: str, name: str) -> bool:
    """Would an OpenSSL client accept a certificate naming ``pattern`` for ``name``?

    Both arguments are normalised names.  Mirrors OpenSSL's X509_check_host: a wildcard
    matches exactly one whole label, and only if at least two labels follow it (so
    ``*.localhost`` matches nothing, ``*.s3.localhost`` matches ``b.s3.localhost``).
    """
    if pattern == name:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[1:]  # ".s3.localhost"
    if suffix.count(".") < 2:
        return False
    if not name.endswith(suffix):
        return False
    first = name[: -len(suffix)]
    return bool(first) and "." not in first


def _split_names(
    hostnames: Iterable[str], ips: Iterable[str]
) -> tuple[list[str], list[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]]:
    """Normalise and de-duplicate names; IP literals among ``hostnames`` become IPs."""
    dns: list[str] = []
    addrs: list[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]] = []
    if isinstance(hostnames, str) or isinstance(ips, str):
        raise TypeError("hostnames and ips must be lists of strings, not a string")
    for h in hostnames:
        try:
            a = ipaddress.ip_address(h.strip().strip("[]"))
        except ValueError:
            n = normalize_hostname(h)
            if n not in dns:
                dns.append(n)
        else:
            if a not in addrs:
                addrs.append(a)
    for i in ips:
        a = ipaddress.ip_address(str(i).strip().strip("[]"))
        if a not in addrs:
            addrs.append(a)
    return dns, addrs


# --------------------------------------------------------------------------- files


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a temp file + rename (never a half-written file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


# --------------------------------------------------------------------------- the CA


class LocalCA:
    """A root CA kept in ``directory``; issues leaf certificates and TLS contexts."""

    CERT_FILE = "ca.pem"
    KEY_FILE = "ca-key.pem"
    BUNDLE_FILE = "ca-bundle.pem"
    LEAF_DIR = "leaf"

    def __init__(
        self,
        directory: Path,
        cert: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        *,
        sni_cache_size: int = 1024,
        leaf_disk_limit: int = 4096,
    ) -> None:
        self.directory = Path(directory)
        self.cert = cert
        self.key = key
        self.cert_pem: bytes = cert.public_bytes(serialization.Encoding.PEM)
        self._ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        self.sni_cache_size = max(1, int(sni_cache_size))
        self.leaf_disk_limit = max(self.sni_cache_size, int(leaf_disk_limit))
        self._lock = threading.Lock()
        self._leaf_count: Optional[int] = None
        # server name -> SSLContext for exactly that name, most recently used last
        self._sni_cache: "OrderedDict[str, ssl.SSLContext]" = OrderedDict()
        self._leaf_dir = self.directory / self.LEAF_DIR

    # ---------------------------------------------------------------- creation

    @classmethod
    def load_or_create(cls, directory: Union[str, Path], **options) -> "LocalCA":
        """Load the CA from ``directory``, creating it (and the directory) on first use.

        ``options`` are passed to the constructor (``sni_cache_size``,
        ``leaf_disk_limit``).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_path = directory / cls.CERT_FILE
        key_path = directory / cls.KEY_FILE
        with _dir_lock(directory):
            # Leftovers of a write that was killed half-way.
            for stale in directory.glob(".ca*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
            if cert_path.exists():
                if not key_path.exists():
                    raise CAError(
                        f"{cert_path} exists but its key {key_path} is missing; "
                        f"remove {cert_path} to create a new CA"
                    )
                cert, key = cls._load(cert_path, key_path)
            else:
                # The key is written first and the certificate last, so the
                # certificate's presence means the pair is complete.  A key without
                # a certificate is the remains of an interrupted first start.
                cert, key = cls._generate()
                _atomic_write(key_path, _private_pem(key), 0o600)
                _atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
                log.info("created Nimbus local CA in %s", directory)
        if cert.not_valid_after_utc < _now():
            log.warning("the Nimbus local CA in %s has expired; remove it to create a new one",
                        directory)
        return cls(directory, cert, key, **options)

    @staticmethod
    def _load(cert_path: Path, key_path: Path):
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise CAError(f"cannot load the CA from {cert_path.parent}: {exc}") from exc
        if _public_der(key) != cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise CAError(f"{key_path} does not match {cert_path}")
        try:
            cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            raise CAError(f"{cert_path} has no subject key identifier") from None
        return cert, key

    @staticmethod
    def _generate():
        key = ec.generate_private_key(ec.SECP256R1())
        # A short random OU keeps the subjects of different Nimbus CAs apart, so a user
        # who trusts two of them never has a lookup by subject pick the wrong one.
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nimbus"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                   f"local {os.urandom(4).hex()}"),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            ]
        )
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + _dt.timedelta(days=CA_VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cert, key

    # ---------------------------------------------------------------- paths

    @property
    def cert_path(self) -> Path:
        """The root certificate (PEM)."""
        return self.directory / self.CERT_FILE

    @property
    def key_path(self) -> Path:
        return self.directory / self.KEY_FILE

    @property
    def ca_bundle_path(self) -> Path:
        """A file with just the Nimbus root: for ``verify=``, ``--ca-bundle``, etc."""
        return self.cert_path

    @property
    def fingerprint_sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex(":").upper()

    def write_ca_bundle(self, path: Optional[Path] = None, *,
                        include_system_roots: bool = True) -> Path:
        """Write a PEM bundle: the Nimbus root, plus (by default) the usual public roots.

        Point ``AWS_CA_BUNDLE``/``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` at it and
        clients trust Nimbus *without* losing the ordinary roots (those variables
        replace, not extend, the trust store).  Default path: ``directory/ca-bundle.pem``.
        """
        path = Path(path) if path is not None else self.directory / self.BUNDLE_FILE
        parts = [self.cert_pem]
        if include_system_roots:
            roots = _system_roots_pem()
            if roots:
                parts.append(b"\n" + roots)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, b"".join(parts), 0o644)
        return path

    # ---------------------------------------------------------------- issuing

    def issue(
        self,
        hostnames: Sequence[str],
        ips: Sequence[str] = (),
        *,
        days: int = DEFAULT_LEAF_DAYS,
        key_algorithm: str = "EC_prime256v1",
        client_auth: bool = False,
        not_before: Optional[_dt.datetime] = None,
    ) -> tuple[bytes, bytes]:
        """Issue a server certificate; return ``(cert_pem, key_pem)`` (PKCS#8 key).

        ``hostnames`` may hold DNS names, wildcards (``*.example.com``) and IP
        literals; ``ips`` IP literals.  The first DNS name (else the first IP) is the
        subject CN.  ``days`` is at most 397.  ``key_algorithm`` takes ACM's names
        (``EC_prime256v1`` default, ``EC_secp384r1``, ``RSA_2048``, ...);
        ``client_auth=True`` adds the clientAuth EKU as ACM certificates have.
        """
        cert, key = self._issue(hostnames, ips, days=days, key_algorithm=key_algorithm,
                                client_auth=client_auth, not_before=not_before)
        return cert.public_bytes(serialization.Encoding.PEM), _private_pem(key)

    def _issue(self, hostnames, ips, *, days=DEFAULT_LEAF_DAYS,
               key_algorithm="EC_prime256v1", client_auth=False, not_before=None):
        dns, addrs = _split_names(hostnames, ips)
        if not dns and not addrs:
            raise ValueError("a certificate needs at least one hostname or IP address")
        if not 0 < days <= MAX_LEAF_DAYS:
            raise ValueError(f"days must be between 1 and {MAX_LEAF_DAYS}")
        try:
            key = KEY_ALGORITHMS[key_algorithm]()
        except KeyError:
            raise ValueError(f"unknown key algorithm {key_algorithm!r}; "
                             f"one of {sorted(KEY_ALGORITHMS)}") from None
        start = not_before if not_before is not None else _now() - BACKDATE
        cn = dns[0] if dns else str(addrs[0])
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if len(cn) <= 64 \
            else x509.Name([])
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        sans += [x509.IPAddress(a) for a in addrs]
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH]
        if client_auth:
            ekus.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            # Validity counts from not_before, so the limit holds including the backdate.
            .not_valid_after(start + _dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=is_rsa, data_encipherment=False, key_agreement=False,
                    key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
            # RFC 5280: SAN must be critical when the subject is empty.
            .add_extension(x509.SubjectAlternativeName(sans), critical=not len(subject))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski),
                critical=False,
            )
        )
        return builder.sign(self.key, hashes.SHA256()), key

    # ---------------------------------------------------------------- TLS contexts

    @staticmethod
    def _new_server_context() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        return ctx

    def _context_from_pem(self, combined_pem_path: Path) -> ssl.SSLContext:
        ctx = self._new_server_context()
        ctx.load_cert_chain(combined_pem_path)
        return ctx

    def server_ssl_context(
        self,
        default_hostnames: Sequence[str] = (),
        *,
        default_ips: Sequence[str] = (),
        sni_filter: Optional[Callable[[str], bool]] = None,
    ) -> ssl.SSLContext:
        """A TLS 1.2+ server context for aiohttp (``web.TCPSite(..., ssl_context=)``).

        The default certificate covers ``localhost``, ``*.localhost``, ``127.0.0.1``,
        ``::1``, ``default_hostnames`` and ``default_ips`` (clients that send no SNI,
        e.g. ones connecting to an IP address, get it).  For any other server name a
        client sends, the SNI callback issues a certificate for exactly that name
        (cached in memory, LRU ``sni_cache_size``, and on disk under ``leaf/``) and
        switches the connection to it.  ``sni_filter(name) -> bool`` may restrict which
        names get one; refused or malformed names get the default certificate.
        """
        dns, addrs = _split_names(list(DEFAULT_SERVER_HOSTNAMES) + list(default_hostnames),
                                  list(DEFAULT_SERVER_IPS) + list(default_ips))
        cert, key = self._issue(dns, [str(a) for a in addrs])
        default = self._new_server_context()
        # load_cert_chain wants files; write the default pair like any cached leaf.
        path = self._write_leaf_file("_default-" + os.urandom(6).hex(), cert, key,
                                     count=False)
        try:
            default.load_cert_chain(path)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        covered = tuple(dns)

        def sni_callback(sslobj, server_name, _ctx):
            if not server_name:
                return None
            try:
                name = normalize_hostname(server_name, allow_wildcard=False)
            except ValueError:
                return None  # malformed: the default certificate, the client decides
            if any(hostname_matches(p, name) for p in covered):
                return None
            if sni_filter is not None and not sni_filter(name):
                return None
            try:
                sslobj.context = self.context_for(name)
            except Exception:  # never let a bug here kill the handshake loop
                log.exception("could not issue a TLS certificate for %r", name)
            return None

        default.sni_callback = sni_callback
        return default

    def context_for(self, name: str) -> ssl.SSLContext:
        """The server context for exactly ``name`` (memory LRU, then disk, then issue)."""
        name = normalize_hostname(name, allow_wildcard=False)
        with self._lock:
            ctx = self._sni_cache.get(name)
            if ctx is not None:
                self._sni_cache.move_to_end(name)
                return ctx
        path = self._leaf_dir / f"{name}.pem"
        ctx = None
        if self._leaf_usable(path, name):
            try:
                ctx = self._context_from_pem(path)
            except (ssl.SSLError, OSError):
                ctx = None
        if ctx is None:
            cert, key = self._issue([name], [])
            path = self._write_leaf_file(name, cert, key)
            ctx = self._context_from_pem(path)
        with self._lock:
            self._sni_cache[name] = ctx
            self._sni_cache.move_to_end(name)
            while len(self._sni_cache) > self.sni_cache_size:
                self._sni_cache.popitem(last=False)
        return ctx

    @property
    def sni_cache_len(self) -> int:
        return len(self._sni_cache)

    def _leaf_usable(self, path: Path, name: str) -> bool:
        try:
            data = path.read_bytes()
        except OSError:
            return False
        try:
            cert = x509.load_pem_x509_certificate(data)
            aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
            sans = cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except (ValueError, x509.ExtensionNotFound):
            return False
        return (
            cert.issuer == self.cert.subject
            and aki.key_identifier == self._ski.digest
            and name in sans
            and cert.not_valid_after_utc - LEAF_RENEW_BEFORE > _now()
        )

    def _write_leaf_file(self, stem: str, cert, key, *, count: bool = True) -> Path:
        self._leaf_dir.mkdir(mode=0o700, exist_ok=True)
        path = self._leaf_dir / f"{stem}.pem"
        # Not fsynced: a lost or torn-away leaf is simply issued again.
        _atomic_write(path, _private_pem(key) + cert.public_bytes(serialization.Encoding.PEM),
                      0o600, durable=False)
        if count:
            self._note_leaf_written()
        return path

    def _note_leaf_written(self) -> None:
        """Keep the on-disk leaf cache bounded (oldest files go first)."""
        with self._lock:
            if self._leaf_count is None:
                try:
                    self._leaf_count = sum(1 for _ in os.scandir(self._leaf_dir))
                except OSError:
                    self._leaf_count = 0
            else:
                self._leaf_count += 1
            if self._leaf_count <= self.leaf_disk_limit:
                return
            self._leaf_count = None  # recount next time
        entries = []
        with contextlib.suppress(OSError):
            for e in os.scandir(self._leaf_dir):
                with contextlib.suppress(OSError):
                    entries.append((e.stat().st_mtime, e.path))
        entries.sort()
        keep = (self.leaf_disk_limit * 3) // 4
        for _, p in entries[: max(0, len(entries) - keep)]:
            with contextlib.suppress(OSError):
                os.unlink(p)

    def client_ssl_context(self, *, include_system_roots: bool = False) -> ssl.SSLContext:
        """A verifying TLS 1.2+ client context that trusts the Nimbus root.

        Only the Nimbus root unless ``include_system_roots``.
        """
        ctx = ssl.create_default_context(cafile=str(self.cert_path))
        if include_system_roots:
            ctx.load_default_certs()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx


def _system_roots_pem() -> bytes:
    """The public roots as PEM: certifi's if installed, else the system bundle."""
    candidates = []
    with contextlib.suppress(ImportError):
        import certifi  # type: ignore[import-not-found]

        candidates.append(certifi.where())
    paths = ssl.get_default_verify_paths()
    candidates += [paths.cafile, paths.openssl_cafile]
    for c in candidates:
        if c and os.path.isfile(c):
            with contextlib.suppress(OSError):
                data = Path(c).read_bytes()
                if b"BEGIN CERTIFICATE" in data:
                    return data.rstrip(b"\n") + b"\n"
    return b""
