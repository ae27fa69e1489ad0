"""Bucket configuration operations: the subresources kept as fields of the bucket record.

versioning (+ MFA delete), policy, ACL, ownership controls, Block Public Access, tags,
CORS, website, lifecycle, logging, default encryption and object lock.  Each Put checks
its document as S3 does and stores it in the shape the Get answers with.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from . import access, versions

BUCKET = "s3:bucket"
MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")


def _malformed() -> ServiceError:
    return ServiceError("MalformedXML", MALFORMED_XML, 400)


def to_json(value: Any) -> Any:
    """Parsed input → something the JSON record store keeps (datetimes become markers)."""
    if isinstance(value, datetime):
        return {"$dt": value.timestamp()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromtimestamp(value["$dt"], tz=timezone.utc)
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


class BucketConfigMixin:
    """Operations on a bucket's configuration (mixed into S3Provider)."""

    def _set_field(self, ctx, params: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            bucket = self._owned_bucket(txn, ctx, params["Bucket"])
            if value is None:
                bucket.pop(field, None)
            else:
                bucket[field] = value
            txn.put(BUCKET, bucket["name"], bucket)
        return bucket

    def _get_field(self, ctx, params: dict[str, Any], field: str, error: tuple[str, str] | None = None) -> Any:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        value = bucket.get(field)
        if value is None and error is not None:
            raise ServiceError(error[0], error[1], 404, fields={"BucketName": bucket["name"]})
        return from_json(value)

    # -- versioning -------------------------------------------------------------------

    def put_bucket_versioning(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("VersioningConfiguration") or {}
        status = config.get("Status")
        mfa_delete = config.get("MFADelete")
        if status not in ("Enabled", "Suspended") or mfa_delete not in (None, "Enabled", "Disabled"):
            raise _malformed()
        before = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        if before.get("mfa_delete") == "Enabled" or mfa_delete == "Enabled":
            self.verify_mfa(ctx, params.get("MFA"))  # MFA delete: changing either state needs x-amz-mfa
        with ctx.store.transaction() as txn:
            bucket = self._owned_bucket(txn, ctx, params["Bucket"])
            if bucket.get("object_lock") and status == "Suspended":
                raise ServiceError("InvalidBucketState", "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.", 409)
            if not bucket.get("versioning") and not bucket.get("versioned_once"):
                versions.enable(txn, bucket)
            bucket["versioning"] = status
            bucket["versioned_once"] = True
            if mfa_delete is not None:
                bucket["mfa_delete"] = mfa_delete
            txn.put(BUCKET, bucket["name"], bucket)
        return {}

    def get_bucket_versioning(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        result = {}
        if bucket.get("versioning"):
            result["Status"] = bucket["versioning"]
        if bucket.get("mfa_delete"):
            result["MFADelete"] = bucket["mfa_delete"]
        return result

    # -- policy -------------------------------------------------------------------------

    def put_bucket_policy(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("Policy")
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not text:
            raise _malformed()
        document = access.parse_policy(text, params["Bucket"])
        with ctx.store.transaction() as txn:
            bucket = self._owned_bucket(txn, ctx, params["Bucket"])
            if bucket["owner"] != ctx.account_id:
                raise ServiceError("AccessDenied", "Access Denied", 403)
            if access.is_public_policy(document) and access.effective_bpa(txn, bucket)["BlockPublicPolicy"]:
                raise ServiceError("AccessDenied", "User: " + ctx.principal.arn + " is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::" + bucket["name"] + "\" because public policies are blocked by the BlockPublicPolicy block public access setting.", 403)
            bucket["policy"] = text
            txn.put(BUCKET, bucket["name"], bucket)
        return {}

    def get_bucket_policy(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        if bucket["owner"] != ctx.account_id:
            raise ServiceError("AccessDenied", "Access Denied", 403)
        if not bucket.get("policy"):
            raise ServiceError("NoSuchBucketPolicy", "The bucket policy does not exist", 404, fields={"BucketName": bucket["name"]})
        return {"Policy": bucket["policy"]}

    def delete_bucket_policy(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "policy", None)
        return {}

    def get_bucket_policy_status(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        if not bucket.get("policy"):
            raise ServiceError("NoSuchBucketPolicy", "The bucket policy does not exist", 404, fields={"BucketName": bucket["name"]})
        return {"PolicyStatus": {"IsPublic": access.bucket_is_public(ctx.store.read, bucket)}}

    # -- ACLs and ownership -----------------------------------------------------------------

    def _acl_input(self, ctx, bucket: dict[str, Any], params: dict[str, Any], *, owner_account: str) -> dict[str, Any] | None:
        """The ACL a Put*Acl request sets (canned, grant headers or body), S3's rules applied."""
        body = params.get("AccessControlPolicy")
        canned = params.get("ACL")
        headers = access.grants_from_headers(params, owner_account)
        given = [x for x in (body, canned, headers) if x]
        if len(given) > 1:
            raise ServiceError("UnexpectedContent", "This request does not support content", 400)
        if not given:
            raise ServiceError("MissingSecurityHeader", "Your request was missing a required header", 400,
                               fields={"MissingHeaderName": "x-amz-acl"})
        if canned:
            acl = access.canned_acl(canned, owner_account, bucket["owner"])
        elif headers:
            acl = headers
        else:
            acl = access.check_acl(to_json(body))
        if bucket.get("object_ownership") == "BucketOwnerEnforced":
            if canned in ("private", "bucket-owner-full-control") or (
                not canned and all((g.get("Grantee") or {}).get("ID") == access.canonical_user_id(bucket["owner"]) and g.get("Permission") == "FULL_CONTROL"
                                   for g in acl.get("Grants") or [])):
                return None
            raise ServiceError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
        if access.is_public_acl(acl) and access.effective_bpa(ctx.store.read, bucket)["BlockPublicAcls"]:
            raise ServiceError("AccessDenied", "Access Denied", 403)
        return acl

    def put_bucket_acl(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        acl = self._acl_input(ctx, bucket, params, owner_account=bucket["owner"])
        self._set_field(ctx, params, "acl", acl)
        return {}

    def get_bucket_acl(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        acl = bucket.get("acl") or access.canned_acl("private", bucket["owner"])
        return {"Owner": acl["Owner"], "Grants": acl["Grants"]}

    def put_bucket_ownership_controls(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("OwnershipControls") or {}).get("Rules") or []
        if len(rules) != 1 or rules[0].get("ObjectOwnership") not in ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"):
            raise _malformed()
        ownership = rules[0]["ObjectOwnership"]
        with ctx.store.transaction() as txn:
            bucket = self._owned_bucket(txn, ctx, params["Bucket"])
            if ownership == "BucketOwnerEnforced" and bucket.get("acl") and any(
                    (g.get("Grantee") or {}).get("ID") != access.canonical_user_id(bucket["owner"]) for g in bucket["acl"].get("Grants") or []):
                raise ServiceError("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
            bucket["object_ownership"] = ownership
            txn.put(BUCKET, bucket["name"], bucket)
        return {}

    def get_bucket_ownership_controls(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned_bucket(ctx.store.read, ctx, params["Bucket"])
        if not bucket.get("object_ownership"):
            raise ServiceError("OwnershipControlsNotFoundError", "The bucket ownership controls were not found", 404,
                               fields={"BucketName": bucket["name"]})
        return {"OwnershipControls": {"Rules": [{"ObjectOwnership": bucket["object_ownership"]}]}}

    def delete_bucket_ownership_controls(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "object_ownership", None)
        return {}

    # -- Block Public Access ---------------------------------------------------------------

    def put_public_access_block(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("PublicAccessBlockConfiguration")
        if not config:
            raise _malformed()
        self._set_field(ctx, params, "public_access_block", {f: bool(config.get(f)) for f in access.BPA_FIELDS})
        return {}

    def get_public_access_block(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        value = self._get_field(ctx, params, "public_access_block",
                                ("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"))
        return {"PublicAccessBlockConfiguration": value}

    def delete_public_access_block(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "public_access_block", None)
        return {}

    # -- tags ------------------------------------------------------------------------------

    def put_bucket_tagging(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        from .provider import check_tags

        tags = (params.get("Tagging") or {}).get("TagSet")
        if tags is None:
            raise _malformed()
        check_tags(tags, object_tags=False)
        self._set_field(ctx, params, "tags", tags)
        return {}

    def get_bucket_tagging(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        tags = self._get_field(ctx, params, "tags", ("NoSuchTagSet", "The TagSet does not exist"))
        return {"TagSet": tags}

    def delete_bucket_tagging(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "tags", None)
        return {}

    # -- CORS ------------------------------------------------------------------------------

    def put_bucket_cors(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > 100:
            raise _malformed()
        for rule in rules:
            if not rule.get("AllowedMethods") or not rule.get("AllowedOrigins"):
                raise _malformed()
            for method in rule["AllowedMethods"]:
                if method not in CORS_METHODS:
                    raise ServiceError("InvalidRequest", f"Found unsupported HTTP method in CORS config. Unsupported method is {method}", 400)
            for origin in rule["AllowedOrigins"]:
                if origin.count("*") > 1:
                    raise ServiceError("InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.', 400)
        self._set_field(ctx, params, "cors", rules)
        return {}

    def get_bucket_cors(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        rules = self._get_field(ctx, params, "cors", ("NoSuchCORSConfiguration", "The CORS configuration does not exist"))
        return {"CORSRules": rules}

    def delete_bucket_cors(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "cors", None)
        return {}

    # -- website ---------------------------------------------------------------------------

    def put_bucket_website(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("WebsiteConfiguration") or {}
        redirect_all = config.get("RedirectAllRequestsTo")
        index = config.get("IndexDocument")
        if redirect_all:
            if index or config.get("ErrorDocument") or config.get("RoutingRules"):
                raise ServiceError("InvalidArgument", "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.", 400)
            if not redirect_all.get("HostName"):
                raise _malformed()
        elif not index:
            raise ServiceError("InvalidArgument", "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty", 400)
        else:
            suffix = index.get("Suffix") or ""
            if not suffix or "/" in suffix:
                raise ServiceError("InvalidArgument", "The IndexDocument Suffix is not well formed", 400,
                                   fields={"ArgumentName": "IndexDocument", "ArgumentValue": suffix})
        for rule in config.get("RoutingRules") or []:
            if not rule.get("Redirect"):
                raise _malformed()
        self._set_field(ctx, params, "website", config)
        return {}

    def get_bucket_website(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self._get_field(ctx, params, "website", ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")))

    def delete_bucket_website(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "website", None)
        return {}

    # -- lifecycle -------------------------------------------------------------------------

    def put_bucket_lifecycle_configuration(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not rules or len(rules) > 1000:
            raise _malformed()
        ids = set()
        for rule in rules:
            if rule.get("Status") not in ("Enabled", "Disabled"):
                raise _malformed()
            rule_id = rule.get("ID") or ""
            if len(rule_id) > 255:
                raise ServiceError("InvalidArgument", "ID length should not exceed allowed limit of 255", 400)
            if rule_id and rule_id in ids:
                raise ServiceError("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule", 400)
            ids.add(rule_id)
            if "Filter" in rule and "Prefix" in rule:
                raise _malformed()
            actions = [a for a in ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload",
                                   "Transitions", "NoncurrentVersionTransitions") if rule.get(a)]
            if not actions:
                raise ServiceError("InvalidRequest", "At least one action needs to be specified in a rule", 400)
            expiration = rule.get("Expiration") or {}
            if expiration:
                given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if expiration.get(k) is not None]
                if len(given) != 1:
                    raise _malformed()
                if expiration.get("Days") is not None and expiration["Days"] <= 0:
                    raise ServiceError("InvalidArgument", "'Days' for Expiration action must be a positive integer", 400)
            noncurrent = rule.get("NoncurrentVersionExpiration") or {}
            if noncurrent and (noncurrent.get("NoncurrentDays") or 0) <= 0:
                raise ServiceError("InvalidArgument", "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer", 400)
            abort = rule.get("AbortIncompleteMultipartUpload") or {}
            if abort and (abort.get("DaysAfterInitiation") or 0) <= 0:
                raise ServiceError("InvalidArgument", "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer", 400)
        self._set_field(ctx, params, "lifecycle", to_json(rules))
        return {}

    put_bucket_lifecycle = None  # the deprecated form is answered 501 by its absence

    def get_bucket_lifecycle_configuration(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        rules = self._get_field(ctx, params, "lifecycle", ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"))
        return {"Rules": rules}

    def delete_bucket_lifecycle(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "lifecycle", None)
        return {}

    # -- logging ---------------------------------------------------------------------------

    def put_bucket_logging(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("BucketLoggingStatus") or {}
        enabled = status.get("LoggingEnabled")
        if enabled:
            target = enabled.get("TargetBucket")
            doc = ctx.store.read.get(BUCKET, target or "")
            if doc is None or doc["owner"] != ctx.account_id:
                raise ServiceError("InvalidTargetBucketForLogging", "The target bucket for logging does not exist", 400,
                                   fields={"TargetBucket": target})
            source = ctx.store.read.get(BUCKET, params["Bucket"])
            if source is not None and doc["region"] != source["region"]:
                raise ServiceError("CrossLocationLoggingProhibitted", "Cross S3 location logging not allowed. ", 403)
            enabled = {"TargetBucket": target, "TargetPrefix": enabled.get("TargetPrefix") or ""}
        self._set_field(ctx, params, "logging", {"LoggingEnabled": enabled} if enabled else None)
        if self._log_targets is not None:
            if enabled:
                self._log_targets[params["Bucket"]] = enabled
            else:
                self._log_targets.pop(params["Bucket"], None)
        return {}

    def get_bucket_logging(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self._get_field(ctx, params, "logging") or {})

    # -- default encryption ----------------------------------------------------------------

    def put_bucket_encryption(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("ServerSideEncryptionConfiguration") or {}
        rules = config.get("Rules") or []
        if len(rules) != 1:
            raise _malformed()
        default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = default.get("SSEAlgorithm")
        if algorithm not in ("AES256", "aws:kms", "aws:kms:dsse"):
            raise _malformed()
        if default.get("KMSMasterKeyID") and algorithm == "AES256":
            raise ServiceError("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse", 400)
        self._set_field(ctx, params, "encryption", {"Rules": rules})
        return {}

    def get_bucket_encryption(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = self._get_field(ctx, params, "encryption", ("ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found"))
        return {"ServerSideEncryptionConfiguration": config}

    def delete_bucket_encryption(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        self._set_field(ctx, params, "encryption", None)
        return {}

    # -- object lock -----------------------------------------------------------------------

    def put_object_lock_configuration(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("ObjectLockConfiguration") or {}
        if config.get("ObjectLockEnabled") != "Enabled":
            raise _malformed()
        retention = (config.get("Rule") or {}).get("DefaultRetention")
        if retention is not None:
            if retention.get("Mode") not in ("GOVERNANCE", "COMPLIANCE"):
                raise _malformed()
            days, years = retention.get("Days"), retention.get("Years")
            if (days is None) == (years is None):
                raise _malformed()
            if (days or years) <= 0:
                raise ServiceError("InvalidArgument", "Default retention period must be a positive integer value", 400)
        with ctx.store.transaction() as txn:
            bucket = self._owned_bucket(txn, ctx, params["Bucket"])
            if bucket.get("versioning") != "Enabled":
                raise ServiceError("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration", 409)
            bucket["object_lock"] = config
            txn.put(BUCKET, bucket["name"], bucket)
        return {}

    def get_object_lock_configuration(self, ctx, params: dict[str, Any]) -> dict[str, Any]:
        config = self._get_field(ctx, params, "object_lock", ("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket"))
        return {"ObjectLockConfiguration": config}


__all__ = ["BucketConfigMixin", "to_json", "from_json", "json"]
