"""Amazon EFS: file systems, their tags, throughput and lifecycle configuration.

Records: ``efs:file-system`` keyed by file system id, scoped per account and region
(at most 1,000 per account and region, so a creation-token lookup is a short scan).
Mount targets need VPC subnets and arrive with EC2 networking.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import availability_zones, partition_of
from ..base import Provider

FS_KIND = "efs:file-system"

FS_ID = re.compile(r"^(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-:]+:file-system/fs-[0-9a-f]{8,40}|fs-[0-9a-f]{8,40})$")
PERFORMANCE_MODES = ("generalPurpose", "maxIO")
THROUGHPUT_MODES = ("bursting", "provisioned", "elastic")
TRANSITIONS_IA = ("AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS", "AFTER_90_DAYS", "AFTER_1_DAY", "AFTER_180_DAYS", "AFTER_270_DAYS", "AFTER_365_DAYS")
EMPTY_SIZE = 6144  # a new file system's metered size, as AWS reports it
MAX_FILE_SYSTEMS = 1000


def _error(code: str, message: str, **fields: Any) -> ServiceError:
    return ServiceError(code, message, fields={"ErrorCode": code, "Message": message, **fields})


def _bad(message: str) -> ServiceError:
    return _error("BadRequest", message)


def _not_found(fs_id: str) -> ServiceError:
    return _error("FileSystemNotFound", f"File system '{fs_id}' does not exist.")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _by_token(txn: Any, scope: str, token: str) -> dict[str, Any] | None:
    for _, doc in txn.scan(FS_KIND, scope):
        if doc["CreationToken"] == token:
            return doc
    return None


def _check_tags(tags: list[dict[str, Any]]) -> None:
    if len(tags) > 50:
        raise _bad("A file system can have at most 50 tags.")
    seen = set()
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        if key is None or value is None:
            raise _bad("Each tag needs a Key and a Value.")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise _bad(f"Tag key must be 1-128 characters and its value at most 256: {key!r}.")
        if key.lower().startswith("aws:"):
            raise _bad("Tag keys beginning with aws: are reserved for AWS use.")
        if key in seen:
            raise _bad(f"Duplicate tag key {key!r}.")
        seen.add(key)


class EfsProvider(Provider):
    service = "efs"
    model_constraints = False  # it words its own validation errors, as AWS does

    def resource_counts(self) -> dict[str, int]:
        return {"file-system": self.runtime.store.read.count(FS_KIND)}

    # -- helpers ---------------------------------------------------------------------------

    def _fs_id(self, ctx: RequestContext, value: str, member: str = "fileSystemId") -> str:
        if not FS_ID.match(value or ""):
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {FS_ID.pattern}",
                400,
            )
        return value.rsplit("/", 1)[-1]

    def _load(self, ctx: RequestContext, fs_ref: str) -> dict[str, Any]:
        fs_id = self._fs_id(ctx, fs_ref)
        doc = ctx.store.read.get(FS_KIND, fs_id, ctx.scope)
        if doc is None:
            raise _not_found(fs_id)
        return doc

    @staticmethod
    def _describe(doc: dict[str, Any], state: str | None = None) -> dict[str, Any]:
        out = {
            "OwnerId": doc["OwnerId"],
            "CreationToken": doc["CreationToken"],
            "FileSystemId": doc["FileSystemId"],
            "FileSystemArn": doc["FileSystemArn"],
            "CreationTime": _dt(doc["CreationTime"]),
            "LifeCycleState": state or doc["LifeCycleState"],
            "NumberOfMountTargets": 0,
            "SizeInBytes": {
                "Value": doc["SizeInBytes"],
                "ValueInIA": 0,
                "ValueInStandard": doc["SizeInBytes"],
                "ValueInArchive": 0,
            },
            "PerformanceMode": doc["PerformanceMode"],
            "Encrypted": doc["Encrypted"],
            "ThroughputMode": doc["ThroughputMode"],
            "Tags": doc["Tags"],
            "FileSystemProtection": {"ReplicationOverwriteProtection": "ENABLED"},
        }
        name = next((t["Value"] for t in doc["Tags"] if t["Key"] == "Name"), None)
        if name is not None:
            out["Name"] = name
        if doc.get("KmsKeyId"):
            out["KmsKeyId"] = doc["KmsKeyId"]
        if doc.get("ProvisionedThroughputInMibps") is not None:
            out["ProvisionedThroughputInMibps"] = doc["ProvisionedThroughputInMibps"]
        if doc.get("AvailabilityZoneName"):
            out["AvailabilityZoneName"] = doc["AvailabilityZoneName"]
            out["AvailabilityZoneId"] = doc["AvailabilityZoneId"]
        return out

    def _kms_key(self, ctx: RequestContext, key_ref: str | None) -> str:
        kms = self.runtime.provider("kms")
        if key_ref is None:
            return kms.aws_managed_key_arn(ctx, "elasticfilesystem")
        try:
            doc = kms._resolve(ctx, key_ref)
        except ServiceError:
            raise _bad(f"The KMS key {key_ref} does not exist or is not accessible.") from None
        if doc["KeyState"] != "Enabled":
            raise _bad(f"The KMS key {key_ref} is not enabled.")
        return doc["Arn"]

    @staticmethod
    def _check_throughput(mode: str, provisioned: Any, performance: str = "generalPurpose") -> None:
        if mode not in THROUGHPUT_MODES:
            raise _bad(f"Invalid ThroughputMode {mode!r}: expected one of {', '.join(THROUGHPUT_MODES)}.")
        if mode == "provisioned":
            if provisioned is None:
                raise _bad("ProvisionedThroughputInMibps is required when ThroughputMode is provisioned.")
            if not 1.0 <= provisioned <= 3414.0:
                raise _bad("ProvisionedThroughputInMibps must be between 1 and 3414.")
        elif provisioned is not None:
            raise _bad("ProvisionedThroughputInMibps can only be set when ThroughputMode is provisioned.")
        if mode == "elastic" and performance == "maxIO":
            raise _bad("Elastic throughput mode is supported only for file systems in General Purpose performance mode.")

    # -- file systems ----------------------------------------------------------------------

    def create_file_system(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        token = params["CreationToken"]
        if not 1 <= len(token) <= 64:
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{token}' at 'creationToken' failed to satisfy constraint: "
                "Member must have length between 1 and 64",
                400,
            )
        performance = params.get("PerformanceMode") or "generalPurpose"
        if performance not in PERFORMANCE_MODES:
            raise _bad(f"Invalid PerformanceMode {performance!r}: expected generalPurpose or maxIO.")
        throughput = params.get("ThroughputMode") or "bursting"
        provisioned = params.get("ProvisionedThroughputInMibps")
        self._check_throughput(throughput, provisioned, performance)
        encrypted = bool(params.get("Encrypted"))
        if params.get("KmsKeyId") and not encrypted:
            raise _bad("KmsKeyId can only be specified when Encrypted is true.")
        zone_name = params.get("AvailabilityZoneName")
        zone_id = None
        if zone_name is not None:
            zones = {z["ZoneName"]: z["ZoneId"] for z in availability_zones(ctx.region)}
            if zone_name not in zones:
                raise _bad(f"Availability Zone {zone_name} is not valid in {ctx.region}.")
            if performance == "maxIO":
                raise _bad("One Zone file systems support only the General Purpose performance mode.")
            zone_id = zones[zone_name]
        tags = params.get("Tags") or []
        _check_tags(tags)

        kms_key = self._kms_key(ctx, params.get("KmsKeyId")) if encrypted else None

        fs_id = "fs-" + secrets.token_hex(9)[:17]
        doc = {
            "OwnerId": ctx.account_id,
            "CreationToken": token,
            "FileSystemId": fs_id,
            "FileSystemArn": f"arn:{partition_of(ctx.region)}:elasticfilesystem:{ctx.region}:{ctx.account_id}:file-system/{fs_id}",
            "CreationTime": ctx.clock.time(),
            "LifeCycleState": "available",
            "SizeInBytes": EMPTY_SIZE,
            "PerformanceMode": performance,
            "Encrypted": encrypted,
            "KmsKeyId": kms_key,
            "ThroughputMode": throughput,
            "ProvisionedThroughputInMibps": provisioned,
            "AvailabilityZoneName": zone_name,
            "AvailabilityZoneId": zone_id,
            "Tags": tags,
            "Backup": bool(params.get("Backup", zone_name is not None)),
            "LifecyclePolicies": [],
        }
        with ctx.store.transaction() as txn:
            existing = _by_token(txn, ctx.scope, token)
            if existing is not None:
                raise _error(
                    "FileSystemAlreadyExists",
                    f"File system '{existing['FileSystemId']}' already exists with creation token '{token}'",
                    FileSystemId=existing["FileSystemId"],
                )
            if txn.count(FS_KIND, ctx.scope) >= MAX_FILE_SYSTEMS:
                raise _error("FileSystemLimitExceeded", f"You have reached the limit of {MAX_FILE_SYSTEMS} file systems.")
            txn.put(FS_KIND, fs_id, doc, ctx.scope)
        # AWS answers while the file system is still being created; it is available by
        # the time anyone can describe it.
        return self._describe(doc, state="creating")

    def describe_file_systems(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        max_items = params.get("MaxItems")
        if max_items is None:
            max_items = 100
        if max_items < 1:
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to satisfy constraint: "
                "Member must have value greater than or equal to 1",
                400,
            )
        max_items = min(max_items, 100)
        fs_ref, token = params.get("FileSystemId"), params.get("CreationToken")
        if fs_ref is not None and token is not None:
            raise _bad("You can specify either a FileSystemId or a CreationToken, not both.")
        if fs_ref is not None:
            docs = [self._load(ctx, fs_ref)]
        elif token is not None:
            doc = _by_token(ctx.store.read, ctx.scope, token)
            docs = [doc] if doc else []
        else:
            after = None
            marker = params.get("Marker")
            if marker:
                try:
                    after = base64.urlsafe_b64decode(marker.encode()).decode()
                except (ValueError, UnicodeDecodeError):
                    raise _bad(f"Invalid Marker {marker!r}.") from None
            docs = [d for _, d in ctx.store.read.scan(FS_KIND, ctx.scope, start_after=after, limit=max_items + 1)]
        result: dict[str, Any] = {}
        if params.get("Marker"):
            result["Marker"] = params["Marker"]
        if len(docs) > max_items:
            docs = docs[:max_items]
            result["NextMarker"] = base64.urlsafe_b64encode(docs[-1]["FileSystemId"].encode()).decode()
        result["FileSystems"] = [self._describe(d) for d in docs]
        return result

    def delete_file_system(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params["FileSystemId"])
        with ctx.store.transaction() as txn:
            txn.delete(FS_KIND, doc["FileSystemId"], ctx.scope)
        return {}

    def update_file_system(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params["FileSystemId"])
        mode = params.get("ThroughputMode") or doc["ThroughputMode"]
        provisioned = params.get("ProvisionedThroughputInMibps")
        if provisioned is None and mode == "provisioned":
            provisioned = doc.get("ProvisionedThroughputInMibps")
        self._check_throughput(mode, provisioned, doc["PerformanceMode"])
        doc["ThroughputMode"] = mode
        doc["ProvisionedThroughputInMibps"] = provisioned if mode == "provisioned" else None
        with ctx.store.transaction() as txn:
            txn.put(FS_KIND, doc["FileSystemId"], doc, ctx.scope)
        return self._describe(doc)

    # -- tags ------------------------------------------------------------------------------

    def _update_tags(self, ctx: RequestContext, fs_ref: str, change) -> None:
        doc = self._load(ctx, fs_ref)
        doc["Tags"] = change(doc["Tags"])
        with ctx.store.transaction() as txn:
            txn.put(FS_KIND, doc["FileSystemId"], doc, ctx.scope)

    def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = params["Tags"]
        _check_tags(tags)

        def change(current: list[dict[str, str]]) -> list[dict[str, str]]:
            merged = {t["Key"]: t["Value"] for t in current}
            merged.update({t["Key"]: t["Value"] for t in tags})
            if len(merged) > 50:
                raise _bad("A file system can have at most 50 tags.")
            return [{"Key": k, "Value": v} for k, v in merged.items()]

        self._update_tags(ctx, params["ResourceId"], change)
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        keys = set(params["TagKeys"])
        self._update_tags(ctx, params["ResourceId"], lambda current: [t for t in current if t["Key"] not in keys])
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params["ResourceId"])
        limit = params.get("MaxResults") or 100
        start = 0
        if params.get("NextToken"):
            try:
                start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
            except (ValueError, UnicodeDecodeError):
                raise _bad("Invalid NextToken.") from None
        tags = doc["Tags"][start : start + limit]
        result: dict[str, Any] = {"Tags": tags}
        if start + limit < len(doc["Tags"]):
            result["NextToken"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return result

    # -- lifecycle configuration -----------------------------------------------------------

    def put_lifecycle_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params["FileSystemId"])
        policies = params["LifecyclePolicies"]
        if len(policies) > 3:
            raise _bad("At most 3 lifecycle policies may be specified.")
        seen: set[str] = set()
        for policy in policies:
            if len(policy) != 1:
                raise _bad("Each lifecycle policy must set exactly one of TransitionToIA, TransitionToPrimaryStorageClass or TransitionToArchive.")
            (name, value), = policy.items()
            if name in seen:
                raise _bad(f"{name} is specified more than once.")
            seen.add(name)
            if name == "TransitionToPrimaryStorageClass" and value != "AFTER_1_ACCESS":
                raise _bad(f"Invalid value {value!r} for TransitionToPrimaryStorageClass.")
            if name in ("TransitionToIA", "TransitionToArchive") and value not in TRANSITIONS_IA:
                raise _bad(f"Invalid value {value!r} for {name}.")
        doc["LifecyclePolicies"] = policies
        with ctx.store.transaction() as txn:
            txn.put(FS_KIND, doc["FileSystemId"], doc, ctx.scope)
        return {"LifecyclePolicies": policies}

    def describe_lifecycle_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"LifecyclePolicies": self._load(ctx, params["FileSystemId"]).get("LifecyclePolicies", [])}

    def describe_backup_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params["FileSystemId"])
        if "Backup" not in doc:
            raise _error("PolicyNotFound", "No backup policy is set for this file system.")
        return {"BackupPolicy": {"Status": "ENABLED" if doc["Backup"] else "DISABLED"}}

    def put_backup_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params["FileSystemId"])
        status = (params.get("BackupPolicy") or {}).get("Status")
        if status not in ("ENABLED", "DISABLED"):
            raise ServiceError("ValidationException", f"Invalid backup policy status {status!r}.", 400)
        doc["Backup"] = status == "ENABLED"
        with ctx.store.transaction() as txn:
            txn.put(FS_KIND, doc["FileSystemId"], doc, ctx.scope)
        return {"BackupPolicy": {"Status": status}}
