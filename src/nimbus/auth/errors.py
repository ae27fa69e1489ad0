"""Authentication errors, shaped as each AWS service family really answers them.

AWS front-ends differ by service family, so ``auth_error(kind, service)`` looks the
signing name (the service in the credential scope) up in a family table:

``s3`` (rest-xml, S3's own codes; S3 API reference "Error responses" list and the
S3 SigV4 pages):
  unknown_key   403 InvalidAccessKeyId "The AWS Access Key Id you provided does not exist in our records."
  bad_signature 403 SignatureDoesNotMatch "The request signature we calculated does not match
                the signature you provided. Check your key and signing method."
  skewed        403 RequestTimeTooSkewed "The difference between the request time and the current
                time is too large." (+ RequestTime, ServerTime, MaxAllowedSkewMilliseconds)
  expired       403 AccessDenied "Request has expired" (presigned URLs; + X-Amz-Expires, Expires,
                ServerTime — as LocalStack's snapshot-tested presigned_url.py reproduces)
  malformed     400 AuthorizationHeaderMalformed; malformed_query 400 AuthorizationQueryParametersError
  unsupported   400 InvalidRequest "The authorization mechanism you have provided is not
                supported. Please use AWS4-HMAC-SHA256." (SigV2 ``AWS key:sig`` header)
  missing       403 AccessDenied "Access Denied"
  token_invalid 400 InvalidToken "The provided token is malformed or otherwise invalid."
  token_expired 400 ExpiredToken "The provided token has expired."

``ec2`` (EC2 API reference, "Error codes"):
  unknown_key / bad_signature / token_invalid  401 AuthFailure "AWS was not able to validate the
                provided access credentials"
  expired / skewed / token_expired  400 RequestExpired (the request reached the service more
                than 15 minutes after its date stamp, or a presigned URL expired)
  missing       401 MissingAuthenticationToken; malformed 400 IncompleteSignature

``query`` (sts, iam, monitoring, autoscaling, elasticloadbalancing, rds, elasticache,
route53, sns, sqs...; AWS "Common Errors" page and what STS/IAM answer):
  unknown_key / token_invalid 403 InvalidClientTokenId "The security token included in the
                request is invalid."
  bad_signature 403 SignatureDoesNotMatch "The request signature we calculated does not match the
                signature you provided. Check your AWS Secret Access Key and signing method.
                Consult the service documentation for details."
  skewed/expired 403 SignatureDoesNotMatch "Signature expired: 20141106T010406Z is now earlier
                than 20141106T011252Z (20141106T011752Z - 15 min.)"
  token_expired 400 ExpiredToken "The security token included in the request is expired"
  missing       403 MissingAuthenticationToken "Request is missing Authentication Token"
  malformed     400 IncompleteSignature

``json`` (awsJson 1.0/1.1 services: kms, dynamodb, logs, acm, ssm...; 400 like the
Coral front-end: e.g. "Status Code: 400 ... Error Code: UnrecognizedClientException"
reported against DynamoDB, Kinesis, ECS) and ``rest-json`` (lambda, efs...: the same
codes with 403):
  unknown_key / token_invalid UnrecognizedClientException "The security token included in the
                request is invalid."
  bad_signature / skewed / expired InvalidSignatureException
  token_expired ExpiredTokenException, missing MissingAuthenticationTokenException,
  malformed     IncompleteSignatureException
"""

from __future__ import annotations

from typing import Any

from ..errors import ServiceError

KINDS = (
    "unknown_key",
    "bad_signature",
    "expired",
    "skewed",
    "malformed",
    "malformed_query",
    "unsupported",
    "missing",
    "token_invalid",
    "token_expired",
)

# Credential-scope service (signing name) -> family.  Unknown names use "query".
_FAMILIES: dict[str, str] = {
    "s3": "s3",
    "s3-object-lambda": "s3",
    "s3express": "s3",
    "ec2": "ec2",
    # awsJson protocol services
    "kms": "json",
    "dynamodb": "json",
    "logs": "json",
    "acm": "json",
    "ssm": "json",
    "secretsmanager": "json",
    "events": "json",
    "kinesis": "json",
    "firehose": "json",
    "ecs": "json",
    "ecr": "json",
    "cognito-idp": "json",
    "states": "json",
    "codebuild": "json",
    "application-autoscaling": "json",
    "route53domains": "json",
    # restJson services
    "lambda": "rest-json",
    "elasticfilesystem": "rest-json",
    "apigateway": "rest-json",
    "execute-api": "rest-json",
    "eks": "rest-json",
    "backup": "rest-json",
}

SIGNATURE_MISMATCH_LONG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
SIGNATURE_MISMATCH_S3 = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
TOKEN_INVALID = "The security token included in the request is invalid."
TOKEN_EXPIRED = "The security token included in the request is expired"

# (code, status, default message) per family and kind
_TABLE: dict[str, dict[str, tuple[str, int, str]]] = {
    "s3": {
        "unknown_key": (
            "InvalidAccessKeyId",
            403,
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        "bad_signature": ("SignatureDoesNotMatch", 403, SIGNATURE_MISMATCH_S3),
        "skewed": (
            "RequestTimeTooSkewed",
            403,
            "The difference between the request time and the current time is too large.",
        ),
        "expired": ("AccessDenied", 403, "Request has expired"),
        "malformed": ("AuthorizationHeaderMalformed", 400, "The authorization header is malformed"),
        "malformed_query": (
            "AuthorizationQueryParametersError",
            400,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ),
        "unsupported": (
            "InvalidRequest",
            400,
            "The authorization mechanism you have provided is not supported. "
            "Please use AWS4-HMAC-SHA256.",
        ),
        "missing": ("AccessDenied", 403, "Access Denied"),
        "token_invalid": ("InvalidToken", 400, "The provided token is malformed or otherwise invalid."),
        "token_expired": ("ExpiredToken", 400, "The provided token has expired."),
    },
    "ec2": {
        "unknown_key": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
        "bad_signature": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
        "skewed": ("RequestExpired", 400, "Request has expired."),
        "expired": ("RequestExpired", 400, "Request has expired."),
        "malformed": ("IncompleteSignature", 400, "The request signature does not conform to AWS standards."),
        "malformed_query": ("IncompleteSignature", 400, "The request signature does not conform to AWS standards."),
        "unsupported": ("IncompleteSignature", 400, "The request signature does not conform to AWS standards."),
        "missing": (
            "MissingAuthenticationToken",
            401,
            "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.",
        ),
        "token_invalid": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
        "token_expired": ("RequestExpired", 400, "Request has expired."),
    },
    "query": {
        "unknown_key": ("InvalidClientTokenId", 403, TOKEN_INVALID),
        "bad_signature": ("SignatureDoesNotMatch", 403, SIGNATURE_MISMATCH_LONG),
        "skewed": ("SignatureDoesNotMatch", 403, "Signature expired"),
        "expired": ("SignatureDoesNotMatch", 403, "Signature expired"),
        "malformed": ("IncompleteSignature", 400, "The request signature does not conform to AWS standards."),
        "malformed_query": ("IncompleteSignature", 400, "The request signature does not conform to AWS standards."),
        "unsupported": ("IncompleteSignature", 400, "The request signature does not conform to AWS standards."),
        "missing": ("MissingAuthenticationToken", 403, "Request is missing Authentication Token"),
        "token_invalid": ("InvalidClientTokenId", 403, TOKEN_INVALID),
        "token_expired": ("ExpiredToken", 400, TOKEN_EXPIRED),
    },
    "json": {
        "unknown_key": ("UnrecognizedClientException", 400, TOKEN_INVALID),
        "bad_signature": ("InvalidSignatureException", 400, SIGNATURE_MISMATCH_LONG),
        "skewed": ("InvalidSignatureException", 400, "Signature expired"),
        "expired": ("InvalidSignatureException", 400, "Signature expired"),
        "malformed": ("IncompleteSignatureException", 400, "The request signature does not conform to AWS standards."),
        "malformed_query": ("IncompleteSignatureException", 400, "The request signature does not conform to AWS standards."),
        "unsupported": ("IncompleteSignatureException", 400, "The request signature does not conform to AWS standards."),
        "missing": ("MissingAuthenticationTokenException", 400, "Missing Authentication Token"),
        "token_invalid": ("UnrecognizedClientException", 400, TOKEN_INVALID),
        "token_expired": ("ExpiredTokenException", 400, TOKEN_EXPIRED),
    },
}
_TABLE["rest-json"] = {k: (c, 403, m) for k, (c, _s, m) in _TABLE["json"].items()}


def service_family(service: str) -> str:
    """'s3' | 'ec2' | 'query' | 'json' | 'rest-json' for a credential-scope service name."""
    return _FAMILIES.get(service, "query")


def is_s3(service: str) -> bool:
    return _FAMILIES.get(service) == "s3"


def auth_error(
    kind: str,
    service: str,
    detail: str = "",
    *,
    fields: dict[str, Any] | None = None,
) -> ServiceError:
    """The AWS error for an authentication failure of ``kind`` at ``service``.

    ``detail`` replaces the default message where AWS puts specifics in it (the
    "Signature expired: ..." text, S3's malformed-header reasons); for S3's
    ``malformed`` kind it is appended as "The authorization header is malformed; <detail>".
    ``fields`` become extra members of the error body (S3 puts AWSAccessKeyId,
    StringToSign, CanonicalRequest, RequestTime/ServerTime ... there).
    """
    family = service_family(service)
    try:
        code, status, message = _TABLE[family][kind]
    except KeyError:
        raise ValueError(f"unknown auth error kind {kind!r}") from None
    if detail:
        if family == "s3" and kind == "malformed":
            message = f"{message}; {detail}"
        elif family == "s3" and kind in ("unknown_key", "skewed", "missing", "token_invalid", "token_expired"):
            pass  # S3 keeps its fixed wording for these; detail goes nowhere
        elif family == "ec2" and kind in ("unknown_key", "bad_signature", "token_invalid"):
            pass
        else:
            message = detail
    return ServiceError(code, message, status, sender_fault=True, fields=dict(fields or {}))
