"""S3 access rules: bucket policies, ACLs, Object Ownership and Block Public Access.

Where things live (the IAM engine reads the same fields):

- ``s3:bucket`` record, field ``"policy"``: the bucket policy JSON text exactly as
  PutBucketPolicy received it;
- field ``"acl"``: {"Owner": {...}, "Grants": [...]} (AWS's AccessControlPolicy shape);
  objects keep theirs in the object record's ``"acl"`` field;
- field ``"public_access_block"``: the PublicAccessBlockConfiguration dict;
- account level: kind ``"s3control:public-access-block"``, key = account id, scope "".

``is_public_policy`` and ``acl_allows`` are the functions the IAM engine calls.  The
small evaluator below (``policy_decision``) serves what must be decided without the
IAM engine: cross-account and anonymous access to S3 itself, website hosting and
presigned POST.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
from typing import Any, Iterable

from ...errors import ServiceError

ACCOUNT_BPA_KIND = "s3control:public-access-block"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
PUBLIC_GROUPS = (ALL_USERS, AUTH_USERS)
BPA_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
CANNED_ACLS = ("private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
               "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write")
# Condition keys whose values are fixed sets: a condition on them makes a statement non-public.
_RESTRICTING_KEYS = ("aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourceowner",
                     "aws:principalaccount", "aws:principalorgid", "aws:principalarn", "aws:userid",
                     "s3:dataaccesspointaccount", "s3:dataaccesspointarn", "aws:sourceip")


def canonical_user_id(account_id: str) -> str:
    return hashlib.sha256(f"nimbus-canonical-user:{account_id}".encode()).hexdigest()


def owner_of(account_id: str) -> dict[str, str]:
    return {"ID": canonical_user_id(account_id), "DisplayName": f"account-{account_id}"}


# -- policies --------------------------------------------------------------------------


def _malformed(message: str) -> ServiceError:
    return ServiceError("MalformedPolicy", message, 400)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_policy(text: str, bucket: str) -> dict[str, Any]:
    """The policy document, checked as S3 checks PutBucketPolicy input (MalformedPolicy)."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise _malformed("Policies must be valid JSON and the first byte must be '{'") from None
    if not isinstance(doc, dict):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    if doc.get("Version") not in (None, "2012-10-17", "2008-10-17"):
        raise _malformed("Invalid policy document version")
    statements = doc.get("Statement")
    if statements is None:
        raise _malformed("Missing required field Statement")
    for st in _as_list(statements):
        if not isinstance(st, dict):
            raise _malformed("Statement is not an object")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise _malformed("Invalid effect: " + str(st.get("Effect")))
        if "Principal" not in st and "NotPrincipal" not in st:
            raise _malformed("Missing required field Principal")
        actions = _as_list(st.get("Action")) + _as_list(st.get("NotAction"))
        if not actions:
            raise _malformed("Missing required field Action")
        for action in actions:
            if not isinstance(action, str) or not (action == "*" or action.lower().startswith("s3:")):
                raise _malformed("Policy has invalid action")
        resources = _as_list(st.get("Resource")) + _as_list(st.get("NotResource"))
        if not resources:
            raise _malformed("Missing required field Resource")
        for resource in resources:
            if not isinstance(resource, str):
                raise _malformed("Policy has invalid resource")
            if resource != "*" and not (resource == f"arn:aws:s3:::{bucket}" or resource.startswith(f"arn:aws:s3:::{bucket}/")
                                        or fnmatch.fnmatchcase(f"arn:aws:s3:::{bucket}", resource)):
                raise _malformed("Policy has invalid resource")
    return doc


def _principal_values(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        values: list[str] = []
        for kind, value in principal.items():
            for v in _as_list(value):
                values.append("*" if v == "*" and kind == "AWS" else str(v))
        return values
    return [str(p) for p in _as_list(principal)]


def _statement_is_public(st: dict[str, Any]) -> bool:
    if st.get("Effect") != "Allow" or "NotPrincipal" in st:
        return st.get("Effect") == "Allow" and "NotPrincipal" in st
    if "*" not in _principal_values(st.get("Principal")):
        return False
    for operator, block in (st.get("Condition") or {}).items():
        for key, values in (block or {}).items():
            if key.lower() in _RESTRICTING_KEYS and "*" not in str(values):
                if key.lower() == "aws:sourceip":
                    if all(_small_network(v) for v in _as_list(values)):
                        return False
                    continue
                return False
    return True


def _small_network(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen >= 8
    except ValueError:
        return False


def is_public_policy(policy: dict[str, Any] | str | None) -> bool:
    """Whether a bucket policy grants public access, by AWS's definition (Block Public Access)."""
    if not policy:
        return False
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return False
    return any(_statement_is_public(st) for st in _as_list(policy.get("Statement")) if isinstance(st, dict))


def _matches(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _principal_matches(st: dict[str, Any], principal_arn: str, account_id: str) -> bool:
    if "NotPrincipal" in st:
        return not any(_one_principal(v, principal_arn, account_id) for v in _principal_values(st["NotPrincipal"]))
    return any(_one_principal(v, principal_arn, account_id) for v in _principal_values(st.get("Principal")))


def _one_principal(value: str, principal_arn: str, account_id: str) -> bool:
    if value == "*":
        return True
    if not account_id:
        return False  # only "*" names anonymous callers
    if value in (account_id, f"arn:aws:iam::{account_id}:root"):
        return True
    return value == principal_arn


def _condition_holds(conditions: dict[str, Any] | None, context: dict[str, Any]) -> bool:
    for operator, block in (conditions or {}).items():
        op = operator
        if_exists = op.endswith("IfExists")
        if if_exists:
            op = op[: -len("IfExists")]
        for key, wanted in (block or {}).items():
            actual = context.get(key.lower())
            wanted_list = [str(w) for w in _as_list(wanted)]
            if op == "Null":
                want_null = str(wanted).lower() == "true"
                if (actual is None) != want_null:
                    return False
                continue
            if actual is None:
                if if_exists or op.startswith(("StringNot", "ArnNot")):
                    continue
                return False
            actual_list = [str(a) for a in _as_list(actual)]
            if op in ("StringEquals", "ArnEquals"):
                ok = any(a == w for a in actual_list for w in wanted_list)
            elif op == "StringEqualsIgnoreCase":
                ok = any(a.lower() == w.lower() for a in actual_list for w in wanted_list)
            elif op in ("StringLike", "ArnLike"):
                ok = any(_matches(w, a) for a in actual_list for w in wanted_list)
            elif op in ("StringNotEquals", "ArnNotEquals"):
                ok = not any(a == w for a in actual_list for w in wanted_list)
            elif op in ("StringNotLike", "ArnNotLike"):
                ok = not any(_matches(w, a) for a in actual_list for w in wanted_list)
            elif op == "Bool":
                ok = any(a.lower() == w.lower() for a in actual_list for w in wanted_list)
            elif op in ("IpAddress", "NotIpAddress"):
                try:
                    inside = any(ipaddress.ip_address(a) in ipaddress.ip_network(w, strict=False)
                                 for a in actual_list for w in wanted_list)
                except ValueError:
                    inside = False
                ok = inside if op == "IpAddress" else not inside
            elif op.startswith("Numeric"):
                try:
                    a, w = float(actual_list[0]), float(wanted_list[0])
                except (ValueError, IndexError):
                    return False
                ok = {"NumericEquals": a == w, "NumericNotEquals": a != w, "NumericLessThan": a < w,
                      "NumericLessThanEquals": a <= w, "NumericGreaterThan": a > w,
                      "NumericGreaterThanEquals": a >= w}.get(op, False)
            else:
                return False  # an operator this evaluator does not know never matches
            if not ok:
                return False
    return True


def policy_decision(policy: dict[str, Any] | str | None, *, principal_arn: str, account_id: str, action: str,
                    resource: str, context: dict[str, Any] | None = None) -> str | None:
    """"Deny", "Allow" or None (no statement applies) for one request against a bucket policy."""
    if not policy:
        return None
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return None
    context = {k.lower(): v for k, v in (context or {}).items()}
    decision = None
    for st in _as_list(policy.get("Statement")):
        if not isinstance(st, dict):
            continue
        if "Action" in st:
            if not any(_matches(a, action, case=False) for a in _as_list(st["Action"])):
                continue
        elif any(_matches(a, action, case=False) for a in _as_list(st.get("NotAction"))):
            continue
        if "Resource" in st:
            if not any(_matches(r, resource) for r in _as_list(st["Resource"])):
                continue
        elif any(_matches(r, resource) for r in _as_list(st.get("NotResource"))):
            continue
        if not _principal_matches(st, principal_arn, account_id):
            continue
        if not _condition_holds(st.get("Condition"), context):
            continue
        if st["Effect"] == "Deny":
            return "Deny"
        decision = "Allow"
    return decision


# -- ACLs ------------------------------------------------------------------------------


def _grantee(kind: str, **values: str) -> dict[str, str]:
    return {"Type": kind, **values}


def canned_acl(name: str, owner_account: str, bucket_owner_account: str | None = None) -> dict[str, Any]:
    """The AccessControlPolicy a canned ACL stands for."""
    if name not in CANNED_ACLS:
        raise ServiceError("InvalidArgument", f"Argument format not recognized: {name}", 400,
                           fields={"ArgumentName": "x-amz-acl", "ArgumentValue": name})
    owner = owner_of(owner_account)
    grants = [{"Grantee": _grantee("CanonicalUser", **owner), "Permission": "FULL_CONTROL"}]
    if name == "public-read":
        grants.append({"Grantee": _grantee("Group", URI=ALL_USERS), "Permission": "READ"})
    elif name == "public-read-write":
        grants.append({"Grantee": _grantee("Group", URI=ALL_USERS), "Permission": "READ"})
        grants.append({"Grantee": _grantee("Group", URI=ALL_USERS), "Permission": "WRITE"})
    elif name == "authenticated-read":
        grants.append({"Grantee": _grantee("Group", URI=AUTH_USERS), "Permission": "READ"})
    elif name == "log-delivery-write":
        grants.append({"Grantee": _grantee("Group", URI=LOG_DELIVERY), "Permission": "WRITE"})
        grants.append({"Grantee": _grantee("Group", URI=LOG_DELIVERY), "Permission": "READ_ACP"})
    elif name in ("bucket-owner-read", "bucket-owner-full-control") and bucket_owner_account and bucket_owner_account != owner_account:
        grants.append({"Grantee": _grantee("CanonicalUser", **owner_of(bucket_owner_account)),
                       "Permission": "READ" if name == "bucket-owner-read" else "FULL_CONTROL"})
    return {"Owner": owner, "Grants": grants}


def grants_from_headers(params: dict[str, Any], owner_account: str) -> dict[str, Any] | None:
    """An AccessControlPolicy from x-amz-grant-* headers, or None when none was sent."""
    headers = {"GrantFullControl": "FULL_CONTROL", "GrantRead": "READ", "GrantReadACP": "READ_ACP",
               "GrantWrite": "WRITE", "GrantWriteACP": "WRITE_ACP"}
    grants = []
    for param, permission in headers.items():
        text = params.get(param)
        if not text:
            continue
        for item in text.split(","):
            kind, _, value = item.strip().partition("=")
            value = value.strip().strip('"')
            kind = kind.strip().lower()
            if kind == "id":
                grantee = _grantee("CanonicalUser", ID=value)
            elif kind == "uri":
                grantee = _grantee("Group", URI=value)
            elif kind == "emailaddress":
                grantee = _grantee("AmazonCustomerByEmail", EmailAddress=value)
            else:
                raise ServiceError("InvalidArgument", "Invalid grantee type", 400)
            grants.append({"Grantee": grantee, "Permission": permission})
    if not grants:
        return None
    return {"Owner": owner_of(owner_account), "Grants": grants}


def check_acl(acl: dict[str, Any]) -> dict[str, Any]:
    """Validate an AccessControlPolicy body (MalformedACLError as S3 answers)."""
    for grant in acl.get("Grants") or []:
        grantee = grant.get("Grantee") or {}
        if grant.get("Permission") not in PERMISSIONS or grantee.get("Type") not in ("CanonicalUser", "Group", "AmazonCustomerByEmail"):
            raise ServiceError("MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        if grantee.get("Type") == "Group" and grantee.get("URI") not in (ALL_USERS, AUTH_USERS, LOG_DELIVERY):
            raise ServiceError("InvalidArgument", "Invalid group uri", 400)
    if not acl.get("Owner"):
        raise ServiceError("MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema", 400)
    return acl


def is_public_acl(acl: dict[str, Any] | None) -> bool:
    return any((g.get("Grantee") or {}).get("URI") in PUBLIC_GROUPS for g in (acl or {}).get("Grants") or [])


_IMPLIED = {"FULL_CONTROL": set(PERMISSIONS)}


def acl_allows(acl: dict[str, Any] | None, principal: Any, permission: str) -> bool:
    """Whether ``acl`` grants ``permission`` (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL) to ``principal``.

    ``principal`` is a nimbus ``Principal`` (or None / anonymous): anonymous callers match
    only AllUsers; signed callers match AllUsers, AuthenticatedUsers and their account's
    canonical user id.
    """
    if not acl:
        return False
    account = getattr(principal, "account_id", "") or ""
    anonymous = not account or getattr(principal, "kind", "") == "anonymous"
    canonical = canonical_user_id(account) if not anonymous else None
    for grant in acl.get("Grants") or []:
        granted = grant.get("Permission")
        if granted != permission and permission not in _IMPLIED.get(granted, ()):
            continue
        grantee = grant.get("Grantee") or {}
        uri = grantee.get("URI")
        if uri == ALL_USERS or (uri == AUTH_USERS and not anonymous):
            return True
        if canonical and grantee.get("ID") == canonical:
            return True
    return False


# -- Block Public Access ----------------------------------------------------------------


def effective_bpa(read: Any, bucket: dict[str, Any]) -> dict[str, bool]:
    """The four settings in force for a bucket: bucket-level OR account-level."""
    account = read.get(ACCOUNT_BPA_KIND, bucket["owner"]) or {}
    own = bucket.get("public_access_block") or {}
    return {f: bool(own.get(f)) or bool(account.get(f)) for f in BPA_FIELDS}


def bucket_is_public(read: Any, bucket: dict[str, Any]) -> bool:
    settings = effective_bpa(read, bucket)
    return is_public_policy(bucket.get("policy")) and not settings["RestrictPublicBuckets"]


def anonymous_decision(read: Any, bucket: dict[str, Any], action: str, resource: str,
                       object_acl: dict[str, Any] | None = None, context: dict[str, Any] | None = None) -> bool:
    """Whether an unsigned request may do ``action`` on ``resource`` (policy and ACLs, BPA applied)."""
    settings = effective_bpa(read, bucket)
    policy = bucket.get("policy")
    if policy and not (settings["RestrictPublicBuckets"] and is_public_policy(policy)):
        decision = policy_decision(policy, principal_arn="*", account_id="", action=action, resource=resource,
                                   context=context)
        if decision == "Deny":
            return False
        if decision == "Allow":
            return True
    if settings["IgnorePublicAcls"] or bucket.get("object_ownership") == "BucketOwnerEnforced":
        return False
    permission = {"s3:GetObject": "READ", "s3:ListBucket": "READ", "s3:PutObject": "WRITE"}.get(action)
    if permission is None:
        return False
    acl = object_acl if action == "s3:GetObject" else bucket.get("acl")
    return acl_allows(acl, None, permission)


def actions_of(operation: str) -> str:
    """The IAM action S3 checks for an operation (s3:GetObject for HeadObject ...)."""
    special = {"HeadObject": "s3:GetObject", "HeadBucket": "s3:ListBucket", "ListObjects": "s3:ListBucket",
               "ListObjectsV2": "s3:ListBucket", "ListObjectVersions": "s3:ListBucketVersions",
               "DeleteObjects": "s3:DeleteObject", "CompleteMultipartUpload": "s3:PutObject",
               "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject", "UploadPartCopy": "s3:PutObject",
               "CopyObject": "s3:PutObject", "ListMultipartUploads": "s3:ListBucketMultipartUploads",
               "ListParts": "s3:ListMultipartUploadParts", "AbortMultipartUpload": "s3:AbortMultipartUpload",
               "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
               "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
               "PutBucketCors": "s3:PutBucketCORS", "GetBucketCors": "s3:GetBucketCORS"}
    return special.get(operation, "s3:" + operation)


def principals_of(values: Iterable[Any]) -> list[str]:
    return [v for v in values]
