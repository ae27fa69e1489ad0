"""IAM's records in the state store (all scoped by account id: IAM is global).

Kinds: ``iam:user``, ``iam:group``, ``iam:role``, ``iam:policy`` (customer managed,
key = policy name), ``iam:instance-profile``, ``iam:mfa`` (virtual MFA devices, key =
device name), ``iam:oidc`` (key = provider host/path), ``iam:server-cert``,
``iam:account`` (key ``settings``: password policy, aliases), ``iam:report`` and
``iam:job`` (generated reports), ``iam:key-used`` (scope "", key = access key id: the
last use of each access key, written by the audit log in its batches).
AWS managed policies are data (``managed_policies.json``), never stored.
"""

from __future__ import annotations

import functools
import json
import secrets
import string
from pathlib import Path
from typing import Any

USER = "iam:user"
GROUP = "iam:group"
ROLE = "iam:role"
POLICY = "iam:policy"
INSTANCE_PROFILE = "iam:instance-profile"
MFA = "iam:mfa"
OIDC = "iam:oidc"
SERVER_CERT = "iam:server-cert"
ACCOUNT = "iam:account"
REPORT = "iam:report"
JOB = "iam:job"
KEY_USED = "iam:key-used"
SECRET = "iam:secret"

# Kinds whose changes never alter what a principal may do (the engine ignores them).
NON_POLICY_KINDS = frozenset({REPORT, JOB, KEY_USED, SECRET, SERVER_CERT, OIDC, "cloudtrail:event"})

AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy"


def new_id(prefix: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(17))


@functools.lru_cache(maxsize=1)
def aws_managed() -> dict[str, dict[str, Any]]:
    """AWS managed policies by ARN (their real documents, see managed_policies.json)."""
    data = json.loads(Path(__file__).with_name("managed_policies.json").read_text())
    out = {}
    for name, p in data.items():
        arn = f"{AWS_MANAGED_PREFIX}{p['Path']}{name}"
        out[arn] = {"name": name, **p, "arn": arn, "text": json.dumps(p["Document"])}
    return out


def policy_name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def managed_policy_text(read: Any, arn: str) -> str | None:
    """The default version's document of a managed policy (AWS's or the account's)."""
    aws = aws_managed().get(arn)
    if aws is not None:
        return aws["text"]
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("policy/"):
        return None
    doc = read.get(POLICY, policy_name_from_arn(arn), parts[4])
    if doc is None or doc["arn"] != arn:
        return None
    return doc["versions"][doc["default"]]["document"]


def name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
