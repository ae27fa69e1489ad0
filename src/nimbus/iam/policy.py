"""The IAM policy language: validation on write and compilation for evaluation.

A policy document is parsed once into ``CompiledPolicy`` (a tuple of ``Statement``s
whose Action/Resource/Principal patterns are pre-compiled regular expressions and
whose conditions are closures, see ``conditions.py``), so evaluating a request never
re-reads JSON.  Grammar and limits follow the IAM user guide's "IAM JSON policy
elements reference" and "IAM and AWS STS quotas".
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .conditions import compile_conditions

VERSIONS = ("2012-10-17", "2008-10-17")
MAX_MANAGED_POLICY_SIZE = 6144
MAX_INLINE_USER = 2048
MAX_INLINE_ROLE = 10240
MAX_INLINE_GROUP = 5120
MAX_TRUST_POLICY = 2048

_TOP_KEYS = {"Version", "Id", "Statement"}
_STMT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
_VAR = re.compile(r"\$\{([^}]*)\}")


class PolicyError(ValueError):
    """A malformed policy document (the message is AWS's reason)."""


# ------------------------------------------------------------------ wildcard patterns


@functools.lru_cache(maxsize=8192)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\x00":  # ${*}: a literal asterisk
            out.append(re.escape("*"))
        elif ch == "\x01":  # ${?}: a literal question mark
            out.append(re.escape("?"))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern and "\x00" not in pattern and "\x01" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _glob_regex(pattern, ignore_case).match(value) is not None


def substitute(pattern: str, context: "Any") -> str | None:
    """Replace ``${key}`` policy variables; None when a variable has no value and no default."""
    missing = False

    def repl(m: re.Match[str]) -> str:
        nonlocal missing
        inner = m.group(1)
        if inner == "*":
            return "\x00"
        if inner == "?":
            return "\x01"
        if inner == "$":
            return "$"
        name, _, default = inner.partition(",")
        value = context.get(name.strip())
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            default = default.strip()
            if len(default) >= 2 and default[0] == default[-1] == "'":
                return default[1:-1]
            missing = True
            return ""
        return str(value)

    result = _VAR.sub(repl, pattern)
    if missing:
        return None
    return result


class Matcher:
    """One Action/Resource element: a list of patterns, maybe with ``${...}`` variables."""

    __slots__ = ("patterns", "ignore_case", "dynamic", "any")

    def __init__(self, patterns: list[str], ignore_case: bool) -> None:
        self.patterns = tuple(patterns)
        self.ignore_case = ignore_case
        self.dynamic = any("${" in p for p in patterns)
        self.any = "*" in patterns

    def match(self, value: str, context: Any = None) -> bool:
        if self.any:
            return True
        for pattern in self.patterns:
            if self.dynamic and "${" in pattern:
                if context is None:
                    continue
                resolved = substitute(pattern, context)
                if resolved is None:
                    continue
                if glob_match(resolved, value, self.ignore_case):
                    return True
            elif glob_match(pattern, value, self.ignore_case):
                return True
        return False


@dataclass(frozen=True)
class PrincipalSpec:
    """A statement's Principal (or NotPrincipal): '*' or per-type value lists."""

    wildcard: bool
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical: tuple[str, ...] = ()

    def matches(self, principal: "Any") -> tuple[bool, bool]:
        """(matches, matched only through the account) for a ``Principal``-like object."""
        if self.wildcard:
            return True, False
        if principal is None or principal.kind == "anonymous":
            return ("*" in self.aws), False
        if principal.kind == "service":
            return any(s == principal.arn or s == "*" for s in self.service), False
        if principal.kind == "web-identity":  # an OIDC provider's user: Principal {"Federated": <provider ARN>}
            return any(f == principal.arn or f == "*" for f in self.federated), False
        via_account = False
        account_arn = f"arn:aws:iam::{principal.account_id}:root"
        for value in self.aws:
            if value == "*":
                return True, False
            if value == principal.arn or value == getattr(principal, "parent_arn", ""):
                return True, False
            if principal.kind == "federated-user" and value == principal.arn:
                return True, False
            if value == account_arn or value == principal.account_id:
                via_account = True
        if via_account:
            return True, principal.kind != "root"
        return False, False


@dataclass
class Statement:
    sid: str
    allow: bool
    actions: Matcher | None
    not_actions: Matcher | None
    resources: Matcher | None
    not_resources: Matcher | None
    principal: PrincipalSpec | None
    not_principal: PrincipalSpec | None
    condition: Callable[[Any], bool] | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def matches_action(self, action: str) -> bool:
        if self.actions is not None:
            return self.actions.match(action)
        if self.not_actions is not None:
            return not self.not_actions.match(action)
        return False

    def matches_resource(self, resource: str, context: Any) -> bool:
        if self.resources is not None:
            return self.resources.match(resource, context)
        if self.not_resources is not None:
            return not self.not_resources.match(resource, context)
        return True  # resource-based policies may omit Resource (trust policies)

    def matches_principal(self, principal: Any) -> tuple[bool, bool]:
        if self.principal is not None:
            return self.principal.matches(principal)
        if self.not_principal is not None:
            matched, _ = self.not_principal.matches(principal)
            return (not matched), False
        return True, False

    def matches_condition(self, context: Any) -> bool:
        return self.condition is None or self.condition(context)


@dataclass
class CompiledPolicy:
    statements: tuple[Statement, ...]
    name: str = ""  # a label for messages (policy ARN or inline name)
    kind: str = "identity"  # identity | resource | boundary | session


# ------------------------------------------------------------------ validation + compile


def _as_list(value: Any, element: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, list) and not value:
        raise PolicyError(f"Syntax errors in policy. The {element} element must not be empty.")
    raise PolicyError(f"Syntax errors in policy. The {element} element must be a string or a list of strings.")


_ACTION_RE = re.compile(r"^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?_-]+)$")


def _check_action(action: str) -> None:
    if not _ACTION_RE.match(action):
        if ":" not in action and action != "*":
            raise PolicyError(f"Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
        raise PolicyError(f"Syntax errors in policy. Invalid action: {action}")


def _check_resource(resource: str) -> None:
    if resource == "*" or "${" in resource:
        return
    if not resource.startswith("arn:"):
        raise PolicyError(f"Resource {resource} must be in ARN format or \"*\".")
    if resource.count(":") < 5:
        raise PolicyError(f"Resource {resource} must be in ARN format or \"*\".")


def _principal(value: Any, element: str) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(wildcard=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError(f"Syntax errors in policy. Invalid {element} element.")
    kinds: dict[str, tuple[str, ...]] = {}
    for key, items in value.items():
        if key not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise PolicyError(f"Invalid principal in policy: \"{key}\":{json.dumps(items)}")
        values = _as_list(items, element)
        if key == "AWS":
            for v in values:
                if not (v == "*" or re.fullmatch(r"\d{12}", v) or v.startswith("arn:")):
                    raise PolicyError(f"Invalid principal in policy: \"AWS\":\"{v}\"")
        kinds[key] = tuple(values)
    return PrincipalSpec(
        wildcard=False,
        aws=kinds.get("AWS", ()),
        service=kinds.get("Service", ()),
        federated=kinds.get("Federated", ()),
        canonical=kinds.get("CanonicalUser", ()),
    )


def parse_document(text: Any, *, kind: str = "identity", max_size: int | None = None) -> dict[str, Any]:
    """Parse and validate a policy document (a JSON string or an already-decoded dict).

    ``kind``: "identity" (no Principal allowed), "resource" (Principal required),
    "trust" (a role's trust policy: Principal required, sts actions), "session",
    "boundary".  Raises ``PolicyError`` with AWS's reason.
    """
    if isinstance(text, str):
        if max_size is not None and len(re.sub(r"\s", "", text)) > max_size:
            raise PolicyError(f"Cannot exceed quota for PolicySize: {max_size}")
        if not text.strip():
            raise PolicyError("Syntax errors in policy.")
        try:
            doc = json.loads(text)
        except ValueError:
            raise PolicyError("Syntax errors in policy.") from None
    else:
        doc = text
    if not isinstance(doc, dict):
        raise PolicyError("Syntax errors in policy.")
    extra = set(doc) - _TOP_KEYS
    if extra:
        raise PolicyError(f"Syntax errors in policy. Unknown field {sorted(extra)[0]}.")
    version = doc.get("Version")
    if version is not None and version not in VERSIONS:
        raise PolicyError("The policy failed legacy parsing")
    if "Statement" not in doc:
        raise PolicyError("Syntax errors in policy. Missing required field Statement.")
    statements = doc["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Syntax errors in policy. The Statement element must not be empty.")
    sids: set[str] = set()
    for st in statements:
        if not isinstance(st, dict):
            raise PolicyError("Syntax errors in policy.")
        unknown = set(st) - _STMT_KEYS
        if unknown:
            raise PolicyError(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}.")
        sid = st.get("Sid")
        if sid is not None:
            if not isinstance(sid, str):
                raise PolicyError("Syntax errors in policy.")
            if kind == "identity" and sid and not re.fullmatch(r"[A-Za-z0-9]*", sid):
                raise PolicyError("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*")
            if sid and sid in sids:
                raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
            sids.add(sid)
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError("Syntax errors in policy. The Effect element must be \"Allow\" or \"Deny\"." if effect is not None else "Syntax errors in policy. Missing required field Effect.")
        if ("Action" in st) == ("NotAction" in st):
            raise PolicyError("Policy document should not specify both Action and NotAction." if "Action" in st else "Policy statement must contain actions.")
        for a in _as_list(st.get("Action", st.get("NotAction")), "Action"):
            _check_action(a)
        has_principal = "Principal" in st or "NotPrincipal" in st
        if kind in ("identity", "session", "boundary") and has_principal:
            raise PolicyError("Policy document should not specify a principal.")
        if kind in ("resource", "trust") and not has_principal:
            raise PolicyError("Missing required field Principal" if kind == "trust" else "Policy statement must contain a principal.")
        if "Principal" in st and "NotPrincipal" in st:
            raise PolicyError("Syntax errors in policy.")
        if has_principal:
            _principal(st.get("Principal", st.get("NotPrincipal")), "Principal")
        if "Resource" in st and "NotResource" in st:
            raise PolicyError("Policy document should not specify both Resource and NotResource.")
        if kind != "trust":
            if "Resource" not in st and "NotResource" not in st:
                raise PolicyError("Policy statement must contain resources.")
            for r in _as_list(st.get("Resource", st.get("NotResource")), "Resource"):
                _check_resource(r)
        elif "Resource" in st:
            raise PolicyError("Has prohibited field Resource")
        if "Condition" in st:
            try:
                compile_conditions(st["Condition"])
            except ValueError as exc:
                raise PolicyError(str(exc)) from None
    return doc


def compile_policy(doc: Any, *, name: str = "", kind: str = "identity") -> CompiledPolicy:
    """Compile an already-stored document (validation is best-effort: never raises on
    odd but stored data; statements that cannot compile are skipped)."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return CompiledPolicy((), name, kind)
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    compiled: list[Statement] = []
    for st in statements:
        if not isinstance(st, dict):
            continue
        try:
            compiled.append(_compile_statement(st))
        except (ValueError, TypeError, KeyError):
            continue
    return CompiledPolicy(tuple(compiled), name, kind)


def _compile_statement(st: dict[str, Any]) -> Statement:
    def matcher(key: str, ignore_case: bool) -> Matcher | None:
        if key not in st:
            return None
        value = st[key]
        return Matcher([value] if isinstance(value, str) else list(value), ignore_case)

    return Statement(
        sid=str(st.get("Sid", "")),
        allow=st.get("Effect") == "Allow",
        actions=matcher("Action", True),
        not_actions=matcher("NotAction", True),
        resources=matcher("Resource", False),
        not_resources=matcher("NotResource", False),
        principal=_principal(st["Principal"], "Principal") if "Principal" in st else None,
        not_principal=_principal(st["NotPrincipal"], "NotPrincipal") if "NotPrincipal" in st else None,
        condition=compile_conditions(st["Condition"]) if st.get("Condition") else None,
        raw=st,
    )


@functools.lru_cache(maxsize=4096)
def compile_cached(text: str, kind: str = "identity", name: str = "") -> CompiledPolicy:
    """Compile a policy JSON text, memoized by its text (managed policies are shared)."""
    return compile_policy(text, name=name, kind=kind)


__all__ = [
    "CompiledPolicy",
    "Matcher",
    "PolicyError",
    "PrincipalSpec",
    "Statement",
    "compile_cached",
    "compile_policy",
    "glob_match",
    "parse_document",
    "substitute",
]
