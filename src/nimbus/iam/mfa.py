"""Virtual MFA devices: RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30-second steps).

``verify_totp(store, account_id, serial_number, code, now)`` is the one entry point
other services use (S3's MFA Delete): True when ``code`` is valid for the enabled
device ``serial_number`` at ``now`` (epoch seconds, real time: the user's
authenticator app runs on the real clock), allowing one step of drift either way as
AWS does, and never twice for the same time step (a replayed code is refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from typing import Any

from .records import MFA

STEP = 30
DIGITS = 6


def new_seed() -> str:
    """A base32 seed (AWS hands out 64 base32 characters)."""
    return base64.b32encode(secrets.token_bytes(40)).decode()


def otpauth_uri(device_name: str, account_name: str, seed: str) -> str:
    """What the QR code of a new virtual MFA device encodes (AWS's documented form:
    ``otpauth://totp/$virtualMFADeviceName@$AccountName?secret=$Base32String``)."""
    from urllib.parse import quote

    return f"otpauth://totp/{quote(device_name, safe='')}@{quote(account_name, safe='')}?secret={seed}"


def qr_png(text: str) -> bytes:
    """A PNG image of a QR code encoding ``text`` (segno: pure Python, no dependencies)."""
    import io

    import segno

    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def totp(seed: str, counter: int) -> str:
    key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def matching_step(seed: str, code: str, now: float, window: int = 1) -> int | None:
    """The time step ``code`` belongs to (within ±window steps of now), or None."""
    if not isinstance(code, str) or len(code) != DIGITS or not code.isdigit():
        return None
    current = int(now // STEP)
    for counter in range(current - window, current + window + 1):
        if hmac.compare_digest(totp(seed, counter), code):
            return counter
    return None


def serial_parts(serial_number: str) -> tuple[str, str] | None:
    """``arn:aws:iam::<account>:mfa/<path><name>`` → (account, name)."""
    parts = serial_number.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("mfa/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


def verify_totp(store: Any, account_id: str, serial_number: str, code: str, now: float | None = None) -> bool:
    """Check a code against an enabled virtual MFA device; consumes its time step."""
    parsed = serial_parts(serial_number)
    if parsed is None or parsed[0] != account_id:
        return False
    now = time.time() if now is None else now
    with store.transaction() as txn:
        device = txn.get(MFA, parsed[1], account_id)
        if device is None or not device.get("user") or device.get("serial") != serial_number:
            return False
        step = matching_step(device["seed"], code, now)
        if step is None or step <= device.get("last_step", -1):
            return False
        device["last_step"] = step
        txn.put(MFA, parsed[1], device, account_id)
    return True


__all__ = ["matching_step", "new_seed", "otpauth_uri", "qr_png", "serial_parts", "totp", "verify_totp"]
