"""Encryption at rest of RDS snapshot data (the files under ``engines/snapshots``).

An encrypted snapshot's files are AES-256-GCM ciphertext under a data key of its own,
which RDS obtains from KMS (``GenerateDataKey`` under the snapshot's KMS key) and keeps
only wrapped in the snapshot record.  The plaintext data key never reaches the state
store: the provider hands it to this plane in memory (``KEYRING``), for the one job or
restore that needs it, and the plane drops it when done.  A job whose key is gone
(Nimbus restarted in between) fails and says so.

Each file is sealed in 1 MiB chunks, each chunk under a key derived from the data key
and the file's relative path (HMAC-SHA256), with the chunk number as nonce and the
"last chunk" flag in the associated data, so chunks cannot be reordered, moved between
files or truncated unnoticed.  A directory holding ``.nimbus-encrypted`` is encrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MARKER = ".nimbus-encrypted"
CHUNK = 1 << 20
TAG = 16

# Plaintext data keys handed over in memory by the RDS provider: job or node key → key.
KEYRING: dict[str, bytes] = {}


class SnapshotKeyError(Exception):
    pass


def is_encrypted(directory: Path) -> bool:
    return (directory / MARKER).exists()


def _cipher(data_key: bytes, rel: str) -> AESGCM:
    return AESGCM(hmac.new(data_key, b"rds-snapshot|" + rel.encode(), hashlib.sha256).digest())


def _files(directory: Path):
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != MARKER:
            yield path, path.relative_to(directory).as_posix()


def _seal_file(src: Path, dst: Path, cipher: AESGCM) -> None:
    size = src.stat().st_size
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        index = 0
        remaining = size
        while True:
            chunk = fin.read(CHUNK)
            remaining -= len(chunk)
            last = remaining <= 0
            fout.write(cipher.encrypt(index.to_bytes(12, "big"), chunk, b"1" if last else b"0"))
            index += 1
            if last:
                break


def _open_file(src: Path, dst: Path, cipher: AESGCM) -> None:
    size = src.stat().st_size
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        index = 0
        consumed = 0
        while True:
            sealed = fin.read(CHUNK + TAG)
            consumed += len(sealed)
            last = consumed >= size
            try:
                fout.write(cipher.decrypt(index.to_bytes(12, "big"), sealed, b"1" if last else b"0"))
            except InvalidTag:
                raise SnapshotKeyError(f"snapshot file {src.name} does not decrypt: wrong key or damaged data") from None
            index += 1
            if last:
                break


def encrypt_in_place(directory: Path, data_key: bytes) -> None:
    """Replace every file of a plaintext snapshot directory by its ciphertext."""
    for path, rel in list(_files(directory)):
        sealed = path.with_name(path.name + ".sealing")
        _seal_file(path, sealed, _cipher(data_key, rel))
        os.chmod(sealed, 0o600)
        sealed.replace(path)
    (directory / MARKER).write_text("AES-256-GCM, 1 MiB chunks, per-file keys from the snapshot's KMS data key\n")


def copy(source: Path, dest: Path, source_key: bytes | None, dest_key: bytes | None) -> None:
    """Copy a snapshot directory, decrypting with ``source_key`` when it is encrypted and
    encrypting with ``dest_key`` when one is given."""
    if is_encrypted(source) and source_key is None:
        raise SnapshotKeyError("the source snapshot is encrypted and its data key is not available")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path, rel in _files(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_encrypted(source):
            plain = target if dest_key is None else target.with_name(target.name + ".plain")
            _open_file(path, plain, _cipher(source_key, rel))  # type: ignore[arg-type]
        else:
            plain = target if dest_key is None else target.with_name(target.name + ".plain")
            shutil.copy2(path, plain)
        if dest_key is not None:
            _seal_file(plain, target, _cipher(dest_key, rel))
            plain.unlink()
        os.chmod(target, 0o600)
    for path in sorted(source.rglob("*")):  # empty directories matter to PostgreSQL (pg_wal, pg_tblspc …)
        if path.is_dir():
            (dest / path.relative_to(source)).mkdir(parents=True, exist_ok=True)
    if dest_key is not None:
        (dest / MARKER).write_text("AES-256-GCM, 1 MiB chunks, per-file keys from the snapshot's KMS data key\n")
