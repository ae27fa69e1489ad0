"""IAM database authentication: checking an ``rds generate-db-auth-token`` token.

A token is a SigV4-presigned URL (service ``rds-db``, action ``connect``) without its
scheme: ``<host>:<port>/?Action=connect&DBUser=<user>&X-Amz-...&X-Amz-Signature=...``,
signed on the client with its own credentials.  It is accepted as the password of a
database user granted ``rds_iam`` when: the signature is right for a known access key,
it is within its lifetime (at most 15 minutes, real time), it names this instance's
endpoint and this user, and the IAM policy engine allows the key's principal
``rds-db:connect`` on ``arn:aws:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<user>``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote

MAX_LIFETIME = 900


class TokenRejected(Exception):
    pass


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def verify_token(runtime: Any, token: str, *, hosts: set[str], port: int, user: str, region: str, account: str,
                 dbi_resource_id: str) -> Any:
    """The principal the token speaks for; TokenRejected with the reason otherwise."""
    if "/?" not in token:
        raise TokenRejected("not an IAM authentication token")
    hostport, _, query = token.partition("/?")
    host, _, tport = hostport.rpartition(":")
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if params.get("Action") != "connect" or params.get("DBUser") != user:
        raise TokenRejected("the token is not for this database user")
    if host not in hosts or tport != str(port):
        raise TokenRejected("the token is for another endpoint")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise TokenRejected("unsupported signing algorithm")
    try:
        key_id, date, scope_region, service, terminator = params["X-Amz-Credential"].split("/")
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        expires = int(params["X-Amz-Expires"])
    except (KeyError, ValueError):
        raise TokenRejected("malformed token") from None
    if service != "rds-db" or terminator != "aws4_request" or scope_region != region:
        raise TokenRejected("the token is not scoped to rds-db in this region")
    now = time.time()
    if not 0 < expires <= MAX_LIFETIME or now > signed_at + expires or signed_at > now + 300:
        raise TokenRejected("the token has expired")
    credential = runtime.accounts.lookup(key_id)
    if credential is None:
        raise TokenRejected("unknown access key")
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs)
                               if k != "X-Amz-Signature")
    canonical = "\n".join(["GET", "/", canonical_query, f"host:{hostport}", "", params.get("X-Amz-SignedHeaders", "host"),
                           hashlib.sha256(b"").hexdigest()])
    scope = f"{date}/{scope_region}/{service}/{terminator}"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + credential.secret_access_key).encode(), date), scope_region), service), terminator)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
        raise TokenRejected("the token's signature does not match")
    principal = credential.principal
    if principal.account_id != account:
        raise TokenRejected("the token's credentials belong to another account")
    if principal.kind != "root":
        resource = f"arn:aws:rds-db:{region}:{account}:dbuser:{dbi_resource_id}/{user}"
        from ...gateway.context import RequestContext
        from ...iam.authorizer import iam_state

        state = iam_state(runtime)
        if state.enforce:
            ctx = RequestContext(runtime=runtime, service="rds", operation="DescribeDBInstances", region=region,
                                 principal=principal, request_id="iam-db-auth")
            decision = state.engine.authorize_action(ctx, {}, "rds-db:connect", resource, principal=principal)
            if not decision.allowed:
                raise TokenRejected(f"{principal.arn} is not allowed rds-db:connect on {resource}")
    return principal
