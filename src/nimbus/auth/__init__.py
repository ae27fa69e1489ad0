"""Request authentication: SigV4 (header, presigned query, aws-chunked streaming
payloads with trailing checksums), S3 SigV2, and AWS-shaped auth errors."""

from .checksums import HashingStream, new_checksum
from .chunked import AwsChunkedStream
from .errors import auth_error
from .sigv2 import SigV2Credential, parse_sigv2, verify_sigv2
from .sigv4 import SigV4Credential, credential_scope_service, parse_sigv4, signing_key, verify_sigv4

__all__ = [
    "AwsChunkedStream",
    "HashingStream",
    "SigV2Credential",
    "SigV4Credential",
    "auth_error",
    "credential_scope_service",
    "new_checksum",
    "parse_sigv2",
    "parse_sigv4",
    "signing_key",
    "verify_sigv2",
    "verify_sigv4",
]
