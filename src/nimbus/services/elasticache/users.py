"""ElastiCache role-based access control: users, user groups, AUTH tokens, and the Valkey
ACL lines that enforce them.

Records (scope ``<account>/<region>``): ``elasticache:user`` (passwords kept only as
SHA-256 hashes, which is also how the ACL file names them) and ``elasticache:user-group``.
The region's ``default`` user (user ID and name ``default``, ``on ~* +@all``, no password)
exists without a record, as in ElastiCache, and cannot be modified or deleted.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

USER = "elasticache:user"
USER_GROUP = "elasticache:user-group"

DEFAULT_USER = {"UserId": "default", "UserName": "default", "Engine": "redis", "AccessString": "on ~* +@all",
                "Hashes": [], "NoPassword": True, "Builtin": True}

USER_ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,39}(?<!-)$")
# AUTH tokens and user passwords: 16-128 printable characters, the only specials ! & # $ ^ < > -
PASSWORD = re.compile(r"^[A-Za-z0-9!&#$^<>-]{16,128}$")
_RULE = re.compile(r"^(on|off|allkeys|resetkeys|allchannels|resetchannels|allcommands|nocommands|reset|"
                   r"(%R|%W|%RW)?~\S+|&\S+|[+-]@?[a-z0-9|_-]+)$", re.IGNORECASE)


def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def check_password(value: str | None, what: str = "password") -> str | None:
    """Why a password/AUTH token is invalid (None when valid)."""
    if value is None or not PASSWORD.match(value):
        return (f"Invalid {what}: it must be 16 to 128 printable characters; the only special characters "
                "allowed are !, &, #, $, ^, <, > and -.")
    return None


def check_access_string(value: str | None) -> str | None:
    if not value or not value.strip():
        return "Access string must not be empty."
    for token in value.split():
        if not _RULE.match(token) or token.lower() in ("nopass",) or token.startswith((">", "<", "#", "!")):
            return f"Access string '{value}' is not valid: '{token}' is not an access rule."
    return None


def acl_line(user_name: str, access: str, hashes: list[str], nopass: bool) -> str:
    rules = access.split()
    if not any(r.startswith("&") or r.lower() in ("allchannels", "resetchannels") for r in rules):
        rules.append("&*")  # ElastiCache grants all Pub/Sub channels unless the access string says otherwise
    secrets = ["nopass"] if nopass else [f"#{h}" for h in hashes]
    return " ".join(["user", user_name, "reset", *secrets, *rules])


def user_acl(user: dict[str, Any]) -> str:
    return acl_line(user["UserName"], user["AccessString"], user.get("Hashes") or [], bool(user.get("NoPassword")))


def token_acl(hashes: list[str]) -> str:
    """The default user of a node with AUTH tokens (or none: everyone may connect)."""
    return acl_line("default", "on ~* +@all", hashes, not hashes)


def user_out(user: dict[str, Any], groups: list[str], arn: str) -> dict[str, Any]:
    mode = "no-password" if user.get("NoPassword") else "password"
    return {"UserId": user["UserId"], "UserName": user["UserName"], "Status": "active", "Engine": user["Engine"],
            "MinimumEngineVersion": "6.0", "AccessString": user["AccessString"], "UserGroupIds": groups,
            "Authentication": {"Type": mode, "PasswordCount": len(user.get("Hashes") or [])}, "ARN": arn}
