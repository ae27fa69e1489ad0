"""Accounts and the access keys that sign requests for them.

An access key resolves to a ``Principal``: the account it acts in and the identity
(root, IAM users, role sessions, federated users).  Keys live in the state store
(kind ``access-key``, scope ""), so a restart keeps every account and key:

- root keys ``{secret, account, kind: "root", status}``;
- IAM user keys add ``arn``, ``user_id``, ``name`` (the user name) and ``created``;
- temporary keys (``ASIA…``) add ``session_token``, ``expires`` (epoch seconds, real
  time) and ``session``: the session's policies, tags, MFA time, source identity and
  parent (the role or user the session acts for).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from .state import Store

ACCOUNT_KIND = "account"
KEY_KIND = "access-key"


@dataclass(frozen=True)
class Principal:
    account_id: str
    arn: str
    user_id: str
    kind: str = "root"  # root | user | assumed-role | federated-user | anonymous
    name: str = ""  # user name; role name for role sessions; federated user name
    access_key: str = ""
    parent_arn: str = ""  # the role of a role session, the user of a federation token
    # Temporary credentials: {"policies": [json...], "policy_arns": [...], "tags": {...},
    # "mfa_time": epoch|None, "issued": epoch, "source_identity": str, "transitive": [...]}
    session: Any = field(default=None, compare=False, hash=False)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


ANONYMOUS = Principal(account_id="", arn="*", user_id="anonymous", kind="anonymous")


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    principal: Principal
    session_token: str | None = None
    expires: float | None = None  # epoch seconds (temporary credentials)
    active: bool = True


def root_principal(account_id: str) -> Principal:
    return Principal(account_id=account_id, arn=f"arn:aws:iam::{account_id}:root", user_id=account_id, kind="root")


def new_access_key_id(prefix: str = "AKIA") -> str:
    alphabet = string.ascii_uppercase + "234567"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


def new_secret_access_key() -> str:
    return secrets.token_urlsafe(30)[:40]


class Accounts:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, Credential | None] = {}
        store.subscribe(self._invalidate)

    def _invalidate(self, changes) -> None:
        if any(c.kind == KEY_KIND for c in changes):
            self._cache.clear()

    def ensure_root(self, account_id: str, access_key_id: str, secret_access_key: str, name: str = "default") -> None:
        """Create the account and its root key if absent (first start)."""
        with self.store.transaction() as txn:
            txn.insert(ACCOUNT_KIND, account_id, {"id": account_id, "name": name})
            txn.put(
                KEY_KIND,
                access_key_id,
                {"secret": secret_access_key, "account": account_id, "kind": "root", "status": "Active"},
            )

    def create_account(self, name: str) -> tuple[str, str, str]:
        """A new account with its own root key: (account id, access key id, secret)."""
        with self.store.transaction() as txn:
            while True:
                account_id = "".join(secrets.choice(string.digits) for _ in range(12))
                if txn.insert(ACCOUNT_KIND, account_id, {"id": account_id, "name": name}):
                    break
            key_id, secret = new_access_key_id(), new_secret_access_key()
            txn.put(KEY_KIND, key_id, {"secret": secret, "account": account_id, "kind": "root", "status": "Active"})
        return account_id, key_id, secret

    def list_accounts(self) -> list[dict]:
        return [doc for _, doc in self.store.read.scan(ACCOUNT_KIND)]

    def root_keys(self, account_id: str) -> list[str]:
        return [k for k, d in self.store.read.scan(KEY_KIND) if d["account"] == account_id and d["kind"] == "root"]

    def lookup(self, access_key_id: str) -> Credential | None:
        if access_key_id in self._cache:
            return self._cache[access_key_id]
        doc = self.store.read.get(KEY_KIND, access_key_id)
        credential = None
        if doc is not None:
            account = doc["account"]
            if doc["kind"] == "root":
                principal = Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", user_id=account,
                                      kind="root", access_key=access_key_id)
            else:
                principal = Principal(
                    account_id=account,
                    arn=doc["arn"],
                    user_id=doc.get("user_id", access_key_id),
                    kind=doc["kind"],
                    name=doc.get("name", ""),
                    access_key=access_key_id,
                    parent_arn=doc.get("parent_arn", ""),
                    session=doc.get("session"),
                )
            credential = Credential(
                access_key_id=access_key_id,
                secret_access_key=doc["secret"],
                principal=principal,
                session_token=doc.get("session_token"),
                expires=doc.get("expires"),
                active=doc.get("status", "Active") == "Active",
            )
        if credential is not None:  # unknown keys are not cached: another process may add them
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[access_key_id] = credential
        return credential
