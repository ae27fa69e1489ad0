"""Amazon RDS: DB instances backed by real PostgreSQL and MariaDB processes.

Records (scope ``<account>/<region>``):
``rds:db-instance``      keyed by the lower-cased identifier
``rds:db-snapshot``      keyed by the lower-cased snapshot identifier; ``Restore`` lists the
                         accounts it is shared with; an encrypted one keeps its data key,
                         wrapped by KMS, in ``DataKey`` (see ``encryption``)
``rds:db-parameter-group``, ``rds:db-subnet-group``, ``rds:event``; option groups
(``options``), Aurora clusters (``aurora``) with their custom endpoints
(``cluster_endpoints``) and snapshots (``cluster_snapshots``); storage autoscaling
(``storage``); KMS encryption of snapshots (``encryption``)

Each instance owns one ``engines:spec`` (see ``nimbus.planes.engines``): the engines plane
runs the process and reports its state in ``engines:status``, from which
``DBInstanceStatus`` is derived when read.  Endpoints are ``127.x.y.z`` addresses on the
engine's AWS port; the AWS-style DNS name is kept in the record (``DnsName``) for the
Route 53 data plane.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...planes.engines import CLOCK, EVENT, JOB, SPEC, STATUS, addresses, binaries, sim_to_wall, snapcrypt
from ...regions import availability_zones, partition_of
from ..base import Provider
from . import encryption
from .aurora import AuroraMixin
from .cluster_endpoints import CLUSTER_ENDPOINT
from .cluster_snapshots import CLUSTER_SNAPSHOT
from .options import OPTION_GROUP, OptionGroupsMixin
from .engines import AURORA, ENGINES, FAMILIES, REFUSED, engine_params

INSTANCE = "rds:db-instance"
SNAPSHOT = "rds:db-snapshot"
PARAM_GROUP = "rds:db-parameter-group"
SUBNET_GROUP = "rds:db-subnet-group"
RDS_EVENT = "rds:event"

IDENT = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
MAX_READ_REPLICAS = 15


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def _invalid(message: str, code: str = "InvalidParameterValue") -> ServiceError:
    return ServiceError(code, message, 400)


def _combination(message: str) -> ServiceError:
    return ServiceError("InvalidParameterCombination", message, 400)


def _not_found_instance(ident: str) -> ServiceError:
    return ServiceError("DBInstanceNotFound", f"DBInstance {ident} not found.")


def _check_ident(value: str | None, what: str = "DBInstanceIdentifier") -> str:
    if not value or not IDENT.match(value):
        raise _invalid(f"The parameter {what} is not a valid identifier. Identifiers must begin with a letter; must contain "
                       "only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.")
    return value.lower()


def _check_password(password: str | None, engine: str) -> None:
    limit = ENGINES[engine]["password_max"]
    if password is None:
        raise _invalid("The parameter MasterUserPassword must be provided and must not be blank.")
    if not 8 <= len(password) <= limit or any(c in '/"@ ' or not c.isprintable() or not c.isascii() for c in password):
        raise _invalid(f"The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides "
                       f"'/', '@', '\"', ' ' may be used, and it must contain from 8 to {limit} characters.")


def _check_username(user: str | None, engine: str) -> None:
    info = ENGINES[engine]
    if not user:
        raise _invalid("The parameter MasterUsername must be provided and must not be blank.")
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", user) or len(user) > info["user_max"]:
        raise _invalid(f"The parameter MasterUsername is not a valid identifier: it must begin with a letter, contain only "
                       f"alphanumeric characters and underscores, and be 1 to {info['user_max']} characters long.")
    if user.lower() in info["reserved_users"]:
        raise _invalid(f"MasterUsername {user} cannot be used as it is a reserved word used by the engine")


def _check_dbname(name: str | None, engine: str) -> None:
    if name is None:
        return
    info = ENGINES[engine]
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name) or len(name) > info["dbname_max"]:
        raise _invalid(f"The parameter DBName is not a valid identifier: it must begin with a letter, contain only alphanumeric "
                       f"characters and underscores, and be 1 to {info['dbname_max']} characters long.")


def _check_max_storage(maximum: int | None, allocated: int) -> None:
    """Storage autoscaling's ceiling: above the allocated storage (equal turns it off)."""
    if maximum is None:
        return
    if maximum < allocated:
        raise _combination("Max storage size must be greater than storage size.")
    if maximum > 65536:
        raise _invalid(f"Invalid max storage size: {maximum} (at most 65536 GiB).")


def _bool_param(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "on")


class RdsProvider(AuroraMixin, OptionGroupsMixin, Provider):
    service = "rds"

    def resource_counts(self) -> dict[str, int]:
        read = self.runtime.store.read
        return {"db-instance": read.count(INSTANCE), "db-snapshot": read.count(SNAPSHOT),
                "db-parameter-group": read.count(PARAM_GROUP), "db-subnet-group": read.count(SUBNET_GROUP),
                "option-group": read.count(OPTION_GROUP), "db-cluster-snapshot": read.count(CLUSTER_SNAPSHOT),
                "db-cluster-endpoint": read.count(CLUSTER_ENDPOINT)}

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _arn(ctx: RequestContext, kind: str, name: str) -> str:
        return f"arn:{partition_of(ctx.region)}:rds:{ctx.region}:{ctx.account_id}:{kind}:{name}"

    @staticmethod
    def _dns_name(ctx: RequestContext, ident: str) -> str:
        account_hash = hashlib.sha1(f"{ctx.account_id}/{ctx.region}".encode()).hexdigest()[:12]
        return f"{ident}.{account_hash}.{ctx.region}.rds.amazonaws.com"

    def _load(self, ctx: RequestContext, ident: str | None) -> dict[str, Any]:
        if not ident:
            raise _invalid("The parameter DBInstanceIdentifier must be provided and must not be blank.")
        doc = ctx.store.read.get(INSTANCE, ident.lower(), ctx.scope)
        if doc is None:
            raise _not_found_instance(ident)
        return doc

    def _event(self, txn, ctx: RequestContext, source: str, ident: str, message: str, categories: list[str]) -> None:
        now = ctx.clock.time()
        txn.put(RDS_EVENT, f"{now:017.6f}-{secrets.token_hex(3)}",
                {"SourceIdentifier": ident, "SourceType": source, "Message": message, "EventCategories": categories,
                 "Date": now, "SourceArn": self._arn(ctx, "db" if source == "db-instance" else "snapshot", ident)}, ctx.scope)

    def _engine_state(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.runtime.store.read.get(STATUS, doc["NodeKey"]) or {}

    def _status(self, doc: dict[str, Any]) -> str:
        if doc.get("MultiAZ") and doc.get("FailoverGen", 0) != self._engine_state(doc).get("failover_gen", 0):
            return "rebooting"
        if doc.get("Status") in ("deleting", "stopped", "stopping", "starting", "rebooting", "failed"):
            engine = self._engine_state(doc)
            state = engine.get("state")
            if doc["Status"] == "stopping" and state == "stopped":
                return "stopped"
            if doc["Status"] in ("starting", "rebooting") and state == "running":
                return "available"
            return doc["Status"]
        engine = self._engine_state(doc)
        state = engine.get("state")
        return {"running": "available", "creating": "creating", "starting": "starting", "rebooting": "rebooting",
                "failing-over": "rebooting",
                "recovering": "rebooting", "failed": "failed", "stopped": "stopped", "stopping": "stopping",
                None: "creating"}.get(state, "modifying")

    def _param_values(self, ctx: RequestContext, group_name: str, engine: str) -> dict[str, Any]:
        values: dict[str, Any] = {"max_connections": ENGINES[engine]["max_connections"], "force_ssl": False}
        group = ctx.store.read.get(PARAM_GROUP, group_name.lower(), ctx.scope) if group_name else None
        if group:
            params = group.get("Parameters", {})
            if "max_connections" in params:
                try:
                    values["max_connections"] = int(params["max_connections"])
                except ValueError:
                    pass
            for name in ("rds.force_ssl", "require_secure_transport"):
                if name in params:
                    values["force_ssl"] = _bool_param(params[name])
        return values

    def _describe(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        status = self._status(doc)
        engine = self._engine_state(doc)
        out: dict[str, Any] = {
            "DBInstanceIdentifier": doc["DBInstanceIdentifier"], "DBInstanceClass": doc["DBInstanceClass"],
            "Engine": doc["Engine"], "DBInstanceStatus": status, "MasterUsername": doc["MasterUsername"],
            "Endpoint": {"Address": doc["Address"], "Port": doc["Port"], "HostedZoneId": "Z2R2ITUGPM61AM"},
            "AllocatedStorage": doc["AllocatedStorage"], "InstanceCreateTime": _dt(doc["Created"]),
            "PreferredBackupWindow": "03:00-03:30", "BackupRetentionPeriod": doc["BackupRetentionPeriod"],
            "DBSecurityGroups": [],
            "VpcSecurityGroups": [{"VpcSecurityGroupId": g, "Status": "active"} for g in doc.get("VpcSecurityGroupIds", [])],
            "DBParameterGroups": [{"DBParameterGroupName": doc["DBParameterGroupName"], "ParameterApplyStatus": "in-sync"}],
            "AvailabilityZone": doc["AvailabilityZone"], "PreferredMaintenanceWindow": "sun:05:00-sun:05:30",
            "PendingModifiedValues": {}, "MultiAZ": doc.get("MultiAZ", False), "EngineVersion": doc["EngineVersion"],
            "AutoMinorVersionUpgrade": True, "ReadReplicaDBInstanceIdentifiers": doc.get("ReadReplicas", []),
            "LicenseModel": "general-public-license" if doc["Engine"] != "postgres" else "postgresql-license",
            "OptionGroupMemberships": [{"OptionGroupName": doc.get("OptionGroupName") or self._instance_option_group(
                ctx, None, doc["Engine"], doc["EngineVersion"]), "Status": "in-sync"}],
            "PubliclyAccessible": doc.get("PubliclyAccessible", False), "StorageType": doc.get("StorageType", "gp2"),
            "DbInstancePort": 0, "StorageEncrypted": doc.get("StorageEncrypted", False),
            "DbiResourceId": doc["DbiResourceId"], "CACertificateIdentifier": "rds-ca-rsa2048-g1",
            "CopyTagsToSnapshot": doc.get("CopyTagsToSnapshot", False), "DBInstanceArn": self._arn(ctx, "db", doc["DBInstanceIdentifier"]),
            "IAMDatabaseAuthenticationEnabled": doc.get("IAMDatabaseAuthenticationEnabled", False),
            "DeletionProtection": doc.get("DeletionProtection", False), "TagList": doc.get("Tags", []),
            "NetworkType": "IPV4", "DBName": doc.get("DBName"), "CustomerOwnedIpEnabled": False,
            "LatestRestorableTime": _dt(ctx.clock.time()) if doc["BackupRetentionPeriod"] else None,
            "MaxAllocatedStorage": doc["MaxAllocatedStorage"] if (doc.get("MaxAllocatedStorage") or 0) > doc["AllocatedStorage"] else None,
        }
        if doc.get("MultiAZ"):
            zones = [z["ZoneName"] for z in availability_zones(ctx.region)]
            secondary = next(z for z in zones if z != doc["AvailabilityZone"])
            primary_az, secondary_az = doc["AvailabilityZone"], secondary
            if engine.get("az_flipped"):
                primary_az, secondary_az = secondary_az, primary_az
            out["AvailabilityZone"], out["SecondaryAvailabilityZone"] = primary_az, secondary_az
        if doc.get("KmsKeyId"):
            out["KmsKeyId"] = doc["KmsKeyId"]
        if doc.get("ReplicaSource"):
            out["ReadReplicaSourceDBInstanceIdentifier"] = doc["ReplicaSource"]
        if doc.get("DBClusterIdentifier"):
            out["DBClusterIdentifier"] = doc["DBClusterIdentifier"]
            out["PromotionTier"] = 1
        if doc.get("DBSubnetGroupName"):
            group = ctx.store.read.get(SUBNET_GROUP, doc["DBSubnetGroupName"].lower(), ctx.scope)
            if group:
                out["DBSubnetGroup"] = self._subnet_group_out(ctx, group)
        if status == "failed" and engine.get("error"):
            out["StatusInfos"] = [{"StatusType": "read replication" if doc.get("ReplicaSource") else "engine",
                                   "Normal": False, "Status": "error", "Message": engine["error"][:500]}]
        return {k: v for k, v in out.items() if v is not None}

    def _spec(self, ctx: RequestContext, doc: dict[str, Any], **extra: Any) -> dict[str, Any]:
        info = ENGINES[doc["Engine"]]
        spec = {
            "family": info["family"], "version": doc["EngineVersion"], "address": doc["Address"], "port": doc["Port"],
            "dns_name": doc["DnsName"], "desired": "running", "master_user": doc["MasterUsername"],
            "master_password": doc["MasterUserPassword"], "db_name": doc.get("DBName"), "password_gen": 0,
            "config_gen": 0, "reboot_gen": 0, "params": self._param_values(ctx, doc["DBParameterGroupName"], doc["Engine"]),
            "iam": {"enabled": bool(doc.get("IAMDatabaseAuthenticationEnabled")), "region": ctx.region,
                    "account": ctx.account_id, "dbi_resource_id": doc["DbiResourceId"]},
            "server_id": int(doc["DbiResourceId"][3:11], 36) % 4_000_000_000 or 1, "multi_az": bool(doc.get("MultiAZ")),
            "failover_gen": 0,
            "owner": {"service": "rds", "scope": ctx.scope, "id": doc["DBInstanceIdentifier"], "node": doc["NodeKey"]},
        }
        spec.update(extra)
        return spec

    # -- engine versions -------------------------------------------------------------------

    def describe_db_engine_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        engine, version, family = params.get("Engine"), params.get("EngineVersion"), params.get("DBParameterGroupFamily")
        out = []
        for name, info in ENGINES.items():
            if engine and engine != name:
                continue
            versions = [info["default"]] if params.get("DefaultOnly") else sorted(info["versions"], key=lambda v: [int(x) for x in v.split(".")])
            for v in versions:
                fam = info["versions"][v]
                if (version and not (v == version or v.startswith(version + "."))) or (family and family != fam):
                    continue
                out.append({"Engine": name, "EngineVersion": v, "MajorEngineVersion": v.split(".")[0] if info["family"] == "postgres" else ".".join(v.split(".")[:2]),
                            "DBParameterGroupFamily": fam, "DBEngineDescription": info["description"],
                            "DBEngineVersionDescription": f"{info['description']} {v}", "ValidUpgradeTarget": [],
                            "SupportsReadReplica": True, "SupportsLogExportsToCloudwatchLogs": False, "Status": "available",
                            "SupportedEngineModes": ["provisioned"], "SupportsParallelQuery": False, "SupportsGlobalDatabases": False,
                            "SupportsBabelfish": False, "SupportsCertificateRotationWithoutRestart": True,
                            "SupportedCACertificateIdentifiers": ["rds-ca-rsa2048-g1"]})
        return {"DBEngineVersions": out}

    def _resolve_engine(self, engine: str | None, version: str | None, aurora_ok: bool = False) -> tuple[str, str]:
        if not engine:
            raise _invalid("The parameter Engine must be provided and must not be blank.")
        if engine.startswith(REFUSED):
            raise _invalid(f"Nimbus cannot run the {engine} engine: Oracle, SQL Server and Db2 need licensed binaries that "
                           "do not run locally. Use postgres, mysql or mariadb.")
        if engine in AURORA:
            raise ServiceError("NotImplemented", f"Nimbus does not implement Aurora ({engine}) yet: DB clusters answer 501. "
                               "Use postgres, mysql or mariadb DB instances.", 501)
        if engine not in ENGINES:
            raise _invalid(f"Invalid DB engine: {engine}")
        if ENGINES[engine].get("aurora") and not aurora_ok:
            raise _combination(f"The {engine} engine needs a DB cluster: create it with CreateDBCluster, then its "
                               "instances with CreateDBInstance --db-cluster-identifier.")
        info = ENGINES[engine]
        if version is None:
            version = info["default"]
        elif version not in info["versions"]:
            matches = [v for v in info["versions"] if v.startswith(version + ".")]
            if not matches:
                raise ServiceError("InvalidParameterCombination",
                                   f"Cannot find version {version} for {engine}", 400)
            version = sorted(matches, key=lambda v: [int(x) for x in v.split(".")])[-1]
        try:
            binaries.require(info["family"])
        except binaries.EngineMissing as exc:
            raise _invalid(f"The {engine} engine cannot run: {exc}") from None
        return engine, version

    # -- DB instances ----------------------------------------------------------------------

    def create_db_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = _check_ident(params.get("DBInstanceIdentifier"))
        if params.get("DBClusterIdentifier"):
            return self._create_cluster_instance(ctx, params, ident)
        engine, version = self._resolve_engine(params.get("Engine"), params.get("EngineVersion"))
        if not params.get("DBInstanceClass"):
            raise _invalid("The parameter DBInstanceClass must be provided and must not be blank.")
        if not params["DBInstanceClass"].startswith("db."):
            raise _invalid(f"Invalid DB Instance class: {params['DBInstanceClass']}")
        storage = params.get("AllocatedStorage")
        if storage is None:
            raise _invalid("The parameter AllocatedStorage must be provided and must not be blank.")
        if not 20 <= storage <= 65536:
            raise _invalid("Invalid storage size for engine name " + engine + " and storage type " +
                           (params.get("StorageType") or "gp2") + f": {storage}")
        _check_username(params.get("MasterUsername"), engine)
        if params.get("ManageMasterUserPassword"):
            raise _invalid("ManageMasterUserPassword (Secrets Manager) is not supported by Nimbus; pass MasterUserPassword.")
        _check_password(params.get("MasterUserPassword"), engine)
        _check_dbname(params.get("DBName"), engine)
        if params.get("BackupRetentionPeriod") is not None and not 0 <= params["BackupRetentionPeriod"] <= 35:
            raise _invalid("The parameter BackupRetentionPeriod must be between 0 and 35.")
        _check_max_storage(params.get("MaxAllocatedStorage"), storage)
        doc = self._new_instance(ctx, ident, params, engine, version)
        doc["MaxAllocatedStorage"] = params.get("MaxAllocatedStorage")
        if engine == "postgres" and not doc.get("DBName"):
            doc["DBName"] = None
        return {"DBInstance": self._commit_new(ctx, doc, {})}

    def _new_instance(self, ctx: RequestContext, ident: str, params: dict[str, Any], engine: str, version: str,
                      check_key: bool = True) -> dict[str, Any]:
        group_name = params.get("DBParameterGroupName") or f"default.{ENGINES[engine]['versions'][version]}"
        if params.get("DBParameterGroupName") and group_name.startswith("default."):
            if FAMILIES.get(group_name[len("default."):]) != engine:
                raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {group_name}")
        elif params.get("DBParameterGroupName"):
            group = ctx.store.read.get(PARAM_GROUP, group_name.lower(), ctx.scope)
            if group is None:
                raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {group_name}")
            if FAMILIES.get(group["DBParameterGroupFamily"]) != engine and group["DBParameterGroupFamily"] != ENGINES[engine]["versions"][version]:
                raise _combination(f"The parameter group {group_name} with DBParameterGroupFamily "
                                   f"{group['DBParameterGroupFamily']} can't be used for this instance. Use a parameter group "
                                   f"with DBParameterGroupFamily {ENGINES[engine]['versions'][version]}.")
        zones = [z["ZoneName"] for z in availability_zones(ctx.region)]
        az = params.get("AvailabilityZone")
        if az and az not in zones:
            raise _invalid(f"Invalid availability zone: {az}", "InvalidParameterValue")
        subnet_group = params.get("DBSubnetGroupName")
        if subnet_group:
            group = ctx.store.read.get(SUBNET_GROUP, subnet_group.lower(), ctx.scope)
            if group is None:
                raise ServiceError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {subnet_group} not found.")
            group_zones = sorted({s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]})
            if az and az not in group_zones:
                raise _invalid(f"Requested availability zone {az} is not covered by the DB subnet group {subnet_group}.")
            zones = group_zones or zones
        if params.get("MultiAZ") and az:
            raise _invalid("Requesting a specific availability zone is not valid for Multi-AZ instances.")
        if params.get("MultiAZ") and engine not in ("postgres", "mysql", "mariadb"):
            raise ServiceError("NotImplemented", f"Nimbus implements Multi-AZ (a standby with failover) for postgres, mysql and "
                               f"mariadb; {engine} is not implemented.", 501)
        if params.get("StorageEncrypted") is False and params.get("KmsKeyId"):
            raise _combination("Encryption must be enabled when a KMS key is specified.")
        port = params.get("Port") or ENGINES[engine]["port"]
        if not 1150 <= port <= 65535:
            raise _invalid(f"Invalid port {port}: the port must be between 1150 and 65535.")
        option_group = self._instance_option_group(ctx, params.get("OptionGroupName"), engine, version)
        encrypted = bool(params.get("StorageEncrypted") or params.get("KmsKeyId"))
        kms_key = None
        if encrypted:  # the key must exist and be enabled (a restore has checked it by decrypting)
            kms_key = encryption.resolve_key(ctx, params.get("KmsKeyId")) if check_key else params.get("KmsKeyId")
        now = ctx.clock.time()
        tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []]
        return {
            "DBInstanceIdentifier": ident, "DBInstanceClass": params["DBInstanceClass"], "Engine": engine,
            "EngineVersion": version, "MasterUsername": params.get("MasterUsername"),
            "MasterUserPassword": params.get("MasterUserPassword"), "DBName": params.get("DBName"),
            "AllocatedStorage": params.get("AllocatedStorage") or 20, "StorageType": params.get("StorageType") or "gp2",
            "BackupRetentionPeriod": params.get("BackupRetentionPeriod", 1) if params.get("BackupRetentionPeriod") is not None else 1,
            "DBParameterGroupName": group_name, "DBSubnetGroupName": subnet_group,
            "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds") or [], "AvailabilityZone": az or zones[int(secrets.randbelow(len(zones)))],
            "MultiAZ": bool(params.get("MultiAZ")), "PubliclyAccessible": bool(params.get("PubliclyAccessible")),
            "StorageEncrypted": encrypted, "KmsKeyId": kms_key, "OptionGroupName": option_group,
            "DeletionProtection": bool(params.get("DeletionProtection")), "CopyTagsToSnapshot": bool(params.get("CopyTagsToSnapshot")),
            "IAMDatabaseAuthenticationEnabled": bool(params.get("EnableIAMDatabaseAuthentication")),
            "Tags": tags, "Created": now, "Port": port, "DnsName": self._dns_name(ctx, ident),
            "DbiResourceId": "db-" + secrets.token_hex(13).upper()[:26], "Status": None,
            "NodeKey": f"rds/{ctx.scope}/{ident}/{secrets.token_hex(4)}", "ReadReplicas": [],
        }

    def _commit_new(self, ctx: RequestContext, doc: dict[str, Any], spec_extra: dict[str, Any]) -> dict[str, Any]:
        ident = doc["DBInstanceIdentifier"]
        with ctx.store.transaction() as txn:
            if txn.exists(INSTANCE, ident, ctx.scope):
                raise ServiceError("DBInstanceAlreadyExists", "DB instance already exists")
            doc["Address"] = addresses.allocate(txn, doc["Port"], doc["NodeKey"])
            txn.put(INSTANCE, ident, doc, ctx.scope)
            txn.put(SPEC, doc["NodeKey"], self._spec(ctx, doc, **spec_extra))
            self._event(txn, ctx, "db-instance", ident, "DB instance created", ["creation"])
        return self._describe(ctx, doc)

    def describe_db_instances(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = params.get("DBInstanceIdentifier")
        if ident:
            docs = [self._load(ctx, ident.rsplit(":", 1)[-1])]
        else:
            docs = [doc for _, doc in ctx.store.read.scan(INSTANCE, ctx.scope)]
        for f in params.get("Filters") or []:
            values = set(f.get("Values") or [])
            field = {"db-instance-id": "DBInstanceIdentifier", "engine": "Engine", "dbi-resource-id": "DbiResourceId"}.get(f.get("Name"))
            if field is None:
                raise _invalid(f"Unrecognized filter name: {f.get('Name')}")
            docs = [d for d in docs if d[field] in values or self._arn(ctx, "db", d["DBInstanceIdentifier"]) in values]
        return self._page(params, [self._describe(ctx, d) for d in docs], "DBInstances")

    @staticmethod
    def _page(params: dict[str, Any], items: list[dict[str, Any]], member: str) -> dict[str, Any]:
        limit = params.get("MaxRecords") or 100
        if not 20 <= limit <= 100:
            raise _invalid("Invalid value for MaxRecords. Must be between 20 and 100")
        start = int(params.get("Marker") or 0) if str(params.get("Marker") or "0").isdigit() else 0
        out: dict[str, Any] = {member: items[start:start + limit]}
        if start + limit < len(items):
            out["Marker"] = str(start + limit)
        return out

    def delete_db_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        final = params.get("FinalDBSnapshotIdentifier")
        skip = params.get("SkipFinalSnapshot", False)
        if skip and final:
            raise _combination("Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier.")
        if doc.get("DeletionProtection"):
            raise _invalid("Cannot delete protected DB Instance, please disable deletion protection and try again.")
        if final and doc.get("DBClusterIdentifier"):
            raise _combination("FinalDBSnapshotIdentifier can not be specified when deleting a cluster instance.")
        if not skip and not final and not doc.get("ReplicaSource") and not doc.get("DBClusterIdentifier"):
            raise _combination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
        if self._status(doc) in ("deleting",):
            raise ServiceError("InvalidDBInstanceState", f"Instance {doc['DBInstanceIdentifier']} is already being deleted.")
        if doc.get("ReadReplicas"):
            pass  # replicas are promoted to standalone instances, as AWS does
        key = None
        if final:
            final = _check_ident(final, "FinalDBSnapshotIdentifier")
            if ctx.store.read.exists(SNAPSHOT, final, ctx.scope):
                raise ServiceError("DBSnapshotAlreadyExists", f"Cannot create the snapshot because a snapshot with the "
                                   f"identifier {final} already exists.")
            key = self._snapshot_key(ctx, doc.get("KmsKeyId") if doc.get("StorageEncrypted") else None, final)
        with ctx.store.transaction() as txn:
            if final:
                self._snapshot_record(txn, ctx, doc, final, "manual", key=key)
            out = self._describe(ctx, doc)
            out["DBInstanceStatus"] = "deleting"
            txn.delete(INSTANCE, doc["DBInstanceIdentifier"], ctx.scope)
            if not final:
                txn.delete(SPEC, doc["NodeKey"])
            else:
                spec = txn.get(SPEC, doc["NodeKey"])
                spec["delete_after_jobs"] = True
                txn.put(SPEC, doc["NodeKey"], spec)
            addresses.release(txn, doc["Address"])
            for entry in doc.get("ReadReplicas", []):
                replica_scope, replica_id = self._link(entry, ctx.scope)
                replica = txn.get(INSTANCE, replica_id.lower(), replica_scope)
                if replica:
                    replica.pop("ReplicaSource", None)
                    replica.pop("ReplicaSourceScope", None)
                    txn.put(INSTANCE, replica["DBInstanceIdentifier"], replica, replica_scope)
                    rspec = txn.get(SPEC, replica["NodeKey"])
                    if rspec:
                        rspec["replica_of"] = None
                        txn.put(SPEC, replica["NodeKey"], rspec)
            if doc.get("DBClusterIdentifier"):
                self._leave_cluster(txn, ctx, doc)
            if doc.get("ReplicaSource"):
                self._unlink_from_source(txn, ctx, doc)
            self._event(txn, ctx, "db-instance", doc["DBInstanceIdentifier"], "DB instance deleted", ["deletion"])
        return {"DBInstance": out}

    def modify_db_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        engine = doc["Engine"]
        if params.get("NewDBInstanceIdentifier"):
            raise ServiceError("NotImplemented", "Nimbus does not implement renaming DB instances yet.", 501)
        multi_az_changed = params.get("MultiAZ") is not None and bool(params["MultiAZ"]) != bool(doc.get("MultiAZ"))
        if multi_az_changed:
            if engine not in ("postgres", "mysql", "mariadb"):
                raise ServiceError("NotImplemented", f"Nimbus implements Multi-AZ for postgres, mysql and mariadb, not {engine}.", 501)
            if doc.get("ReplicaSource"):
                raise ServiceError("NotImplemented", "Nimbus does not implement Multi-AZ read replicas yet.", 501)
            doc["MultiAZ"] = bool(params["MultiAZ"])
        if params.get("EngineVersion") and params["EngineVersion"] != doc["EngineVersion"]:
            _, version = self._resolve_engine(engine, params["EngineVersion"])
            doc["EngineVersion"] = version
        if params.get("AllocatedStorage") is not None:
            if params["AllocatedStorage"] < doc["AllocatedStorage"]:
                raise _invalid("Invalid storage size: allocated storage cannot be reduced.")
            if params["AllocatedStorage"] < doc["AllocatedStorage"] * 1.1 and params["AllocatedStorage"] != doc["AllocatedStorage"]:
                raise _invalid("Invalid storage size: increase storage by at least 10%.")
            if params["AllocatedStorage"] != doc["AllocatedStorage"]:
                doc["StorageChanged"] = ctx.clock.time()  # storage autoscaling waits 6 hours after a change
            doc["AllocatedStorage"] = params["AllocatedStorage"]
        if params.get("MaxAllocatedStorage") is not None:
            _check_max_storage(params["MaxAllocatedStorage"], doc["AllocatedStorage"])
            doc["MaxAllocatedStorage"] = params["MaxAllocatedStorage"]
        if params.get("DBInstanceClass"):
            if not params["DBInstanceClass"].startswith("db."):
                raise _invalid(f"Invalid DB Instance class: {params['DBInstanceClass']}")
            doc["DBInstanceClass"] = params["DBInstanceClass"]
        if params.get("BackupRetentionPeriod") is not None:
            if not 0 <= params["BackupRetentionPeriod"] <= 35:
                raise _invalid("The parameter BackupRetentionPeriod must be between 0 and 35.")
            doc["BackupRetentionPeriod"] = params["BackupRetentionPeriod"]
        for name, field in (("DeletionProtection", "DeletionProtection"), ("CopyTagsToSnapshot", "CopyTagsToSnapshot"),
                            ("PubliclyAccessible", "PubliclyAccessible"),
                            ("EnableIAMDatabaseAuthentication", "IAMDatabaseAuthenticationEnabled")):
            if params.get(name) is not None:
                doc[field] = bool(params[name])
        if params.get("VpcSecurityGroupIds") is not None:
            doc["VpcSecurityGroupIds"] = params["VpcSecurityGroupIds"]
        if params.get("OptionGroupName"):
            doc["OptionGroupName"] = self._instance_option_group(ctx, params["OptionGroupName"], engine, doc["EngineVersion"])
        password_changed = False
        if params.get("MasterUserPassword") is not None:
            if doc.get("ReplicaSource"):
                raise _invalid("The master user password of a read replica cannot be modified.")
            _check_password(params["MasterUserPassword"], engine)
            doc["MasterUserPassword"] = params["MasterUserPassword"]
            password_changed = True
        group_changed = False
        if params.get("DBParameterGroupName"):
            group = ctx.store.read.get(PARAM_GROUP, params["DBParameterGroupName"].lower(), ctx.scope)
            if group is None:
                raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {params['DBParameterGroupName']}")
            if FAMILIES.get(group["DBParameterGroupFamily"]) != engine:
                raise _combination(f"The parameter group {group['DBParameterGroupName']} with DBParameterGroupFamily "
                                   f"{group['DBParameterGroupFamily']} can't be used for this instance.")
            doc["DBParameterGroupName"] = group["DBParameterGroupName"]
            group_changed = True
        with ctx.store.transaction() as txn:
            txn.put(INSTANCE, doc["DBInstanceIdentifier"], doc, ctx.scope)
            spec = txn.get(SPEC, doc["NodeKey"])
            if spec is not None:
                spec["iam"] = dict(spec.get("iam") or {}, enabled=bool(doc.get("IAMDatabaseAuthenticationEnabled")))
                if multi_az_changed:
                    spec["multi_az"] = doc["MultiAZ"]  # the standby is built (or dropped) with no downtime
                if password_changed:
                    spec["master_password"] = doc["MasterUserPassword"]
                    spec["password_gen"] = spec.get("password_gen", 0) + 1
                if group_changed:
                    new = self._param_values(ctx, doc["DBParameterGroupName"], engine)
                    if new != spec.get("params"):
                        spec["params"] = new
                        spec["config_gen"] = spec.get("config_gen", 0) + 1
                txn.put(SPEC, doc["NodeKey"], spec)
        return {"DBInstance": self._describe(ctx, doc)}

    def _set_desired(self, ctx: RequestContext, doc: dict[str, Any], desired: str, status: str, reboot: bool = False) -> None:
        with ctx.store.transaction() as txn:
            doc["Status"] = status
            txn.put(INSTANCE, doc["DBInstanceIdentifier"], doc, ctx.scope)
            spec = txn.get(SPEC, doc["NodeKey"])
            spec["desired"] = desired
            if reboot:
                spec["reboot_gen"] = spec.get("reboot_gen", 0) + 1
            txn.put(SPEC, doc["NodeKey"], spec)
            self._event(txn, ctx, "db-instance", doc["DBInstanceIdentifier"],
                        {"stopping": "DB instance stopped", "starting": "DB instance started", "rebooting": "DB instance restarted"}[status],
                        ["notification"])

    def stop_db_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        status = self._status(doc)
        if doc.get("ReplicaSource") or doc.get("ReadReplicas"):
            raise ServiceError("InvalidDBInstanceState", "Cannot stop a DB instance that has read replicas or is a read replica.")
        if status != "available":
            raise ServiceError("InvalidDBInstanceState", f"Instance {doc['DBInstanceIdentifier']} is not in available state.")
        if params.get("DBSnapshotIdentifier"):
            snap_id = _check_ident(params["DBSnapshotIdentifier"], "DBSnapshotIdentifier")
            key = self._snapshot_key(ctx, doc.get("KmsKeyId") if doc.get("StorageEncrypted") else None, snap_id)
            with ctx.store.transaction() as txn:
                self._snapshot_record(txn, ctx, doc, snap_id, "manual", key=key)
        self._set_desired(ctx, doc, "stopped", "stopping")
        return {"DBInstance": self._describe(ctx, doc)}

    def start_db_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        if self._status(doc) != "stopped":
            raise ServiceError("InvalidDBInstanceState", f"Instance {doc['DBInstanceIdentifier']} is not stopped, cannot be started.")
        self._set_desired(ctx, doc, "running", "starting")
        return {"DBInstance": self._describe(ctx, doc)}

    def reboot_db_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        if self._status(doc) != "available":
            raise ServiceError("InvalidDBInstanceState", f"Instance {doc['DBInstanceIdentifier']} is not in available state.")
        if params.get("ForceFailover") and not doc.get("MultiAZ"):
            raise _combination("Reboot with failover is not supported for a DB instance that is not configured for Multi-AZ.")
        if params.get("ForceFailover"):
            with ctx.store.transaction() as txn:
                doc["FailoverGen"] = doc.get("FailoverGen", 0) + 1
                txn.put(INSTANCE, doc["DBInstanceIdentifier"], doc, ctx.scope)
                spec = txn.get(SPEC, doc["NodeKey"])
                spec["failover_gen"] = doc["FailoverGen"]
                txn.put(SPEC, doc["NodeKey"], spec)
                self._event(txn, ctx, "db-instance", doc["DBInstanceIdentifier"], "Multi-AZ instance failover requested", ["failover"])
            return {"DBInstance": self._describe(ctx, doc)}
        self._set_desired(ctx, doc, "running", "rebooting", reboot=True)
        return {"DBInstance": self._describe(ctx, doc)}

    # -- read replicas -----------------------------------------------------------------------

    def create_db_instance_read_replica(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = _check_ident(params.get("DBInstanceIdentifier"))
        source_ref = params.get("SourceDBInstanceIdentifier") or ""
        source_scope = ctx.scope
        match = re.match(r"^arn:aws[-a-z]*:rds:([a-z0-9-]+):(\d{12}):db:(.+)$", source_ref)
        if match:  # an ARN: the source may be in another region (a cross-region replica)
            if match.group(2) != ctx.account_id:
                raise _not_found_instance(source_ref)
            source_scope, source_ref = f"{match.group(2)}/{match.group(1)}", match.group(3)
        elif source_ref.startswith("arn:"):
            raise _invalid(f"Invalid source DB instance ARN: {source_ref}")
        source = ctx.store.read.get(INSTANCE, source_ref.lower(), source_scope) if source_ref else None
        if source is None:
            raise _not_found_instance(params.get("SourceDBInstanceIdentifier") or "")
        cross = source_scope != ctx.scope
        if source["Engine"] not in ("postgres", "mysql", "mariadb"):
            raise ServiceError("NotImplemented", f"Nimbus does not implement read replicas of {source['Engine']}.", 501)
        if source.get("ReplicaSource"):
            raise _invalid("Nimbus does not support cascading read replicas (a replica of a read replica).")
        if len(source.get("ReadReplicas", [])) >= MAX_READ_REPLICAS:
            raise ServiceError("InstanceQuotaExceeded", f"The source instance already has {MAX_READ_REPLICAS} read replicas.")
        if self._status(source) != "available":
            raise ServiceError("InvalidDBInstanceState", f"Instance {source['DBInstanceIdentifier']} is not in available state.")
        if source["BackupRetentionPeriod"] == 0:
            raise ServiceError("InvalidDBInstanceState", "Automated backups are not enabled for this database instance. To enable "
                               "automated backups, use ModifyDBInstance to set the backup retention period to a non-zero value.")
        if params.get("StorageEncrypted") and not source.get("StorageEncrypted") or (params.get("KmsKeyId") and not source.get("StorageEncrypted")):
            raise _combination("You cannot create an encrypted read replica from an unencrypted DB instance.")
        if cross and source.get("StorageEncrypted") and not params.get("KmsKeyId"):
            raise _invalid("KmsKeyId is required for a cross-region read replica of an encrypted DB instance: give a KMS "
                           f"key of {ctx.region}.")
        merged = {
            "DBInstanceClass": params.get("DBInstanceClass") or source["DBInstanceClass"], "MasterUsername": source["MasterUsername"],
            "MasterUserPassword": source["MasterUserPassword"], "DBName": source.get("DBName"),
            "AllocatedStorage": source["AllocatedStorage"], "BackupRetentionPeriod": 0,
            "DBParameterGroupName": params.get("DBParameterGroupName") or (None if cross else source["DBParameterGroupName"]),
            "AvailabilityZone": params.get("AvailabilityZone"), "Port": params.get("Port") or source["Port"],
            "Tags": params.get("Tags"), "StorageEncrypted": source.get("StorageEncrypted"),
            "KmsKeyId": (params.get("KmsKeyId") if cross else source.get("KmsKeyId")) if source.get("StorageEncrypted") else None,
            "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds") or source.get("VpcSecurityGroupIds"),
            "DeletionProtection": params.get("DeletionProtection"),
            "OptionGroupName": params.get("OptionGroupName") or (None if cross else source.get("OptionGroupName")),
        }
        if params.get("MultiAZ"):
            raise ServiceError("NotImplemented", "Nimbus does not implement Multi-AZ DB instances yet.", 501)
        doc = self._new_instance(ctx, ident, merged, source["Engine"], source["EngineVersion"])
        doc["ReplicaSource"] = self._arn_in(source_scope, "db", source["DBInstanceIdentifier"]) if cross else source["DBInstanceIdentifier"]
        doc["ReplicaSourceScope"] = source_scope
        doc["BackupRetentionPeriod"] = 0
        out = self._commit_new(ctx, doc, {"replica_of": source["NodeKey"]})
        with ctx.store.transaction() as txn:
            fresh = txn.get(INSTANCE, source["DBInstanceIdentifier"], source_scope)
            fresh.setdefault("ReadReplicas", []).append(self._arn(ctx, "db", ident) if cross else ident)
            txn.put(INSTANCE, fresh["DBInstanceIdentifier"], fresh, source_scope)
        return {"DBInstance": out}

    @staticmethod
    def _arn_in(scope: str, kind: str, name: str) -> str:
        account, region = scope.split("/", 1)
        return f"arn:{partition_of(region)}:rds:{region}:{account}:{kind}:{name}"

    @staticmethod
    def _link(entry: str, scope: str) -> tuple[str, str]:
        """(scope, identifier) of a replica link: an identifier here, or an ARN in another region."""
        match = re.match(r"^arn:aws[-a-z]*:rds:([a-z0-9-]+):(\d{12}):db:(.+)$", entry)
        return (f"{match.group(2)}/{match.group(1)}", match.group(3)) if match else (scope, entry)

    def _unlink_from_source(self, txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
        """Drop a replica from its source's ``ReadReplicas`` (in whatever region the source is)."""
        scope, ident = self._link(doc["ReplicaSource"], ctx.scope)
        source = txn.get(INSTANCE, ident.lower(), scope)
        if source:
            mine = {doc["DBInstanceIdentifier"], self._arn(ctx, "db", doc["DBInstanceIdentifier"])}
            source["ReadReplicas"] = [r for r in source.get("ReadReplicas", []) if r not in mine]
            txn.put(INSTANCE, source["DBInstanceIdentifier"], source, scope)

    def promote_read_replica(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        if not doc.get("ReplicaSource"):
            raise ServiceError("InvalidDBInstanceState", f"DB instance {doc['DBInstanceIdentifier']} is not a read replica.")
        with ctx.store.transaction() as txn:
            self._unlink_from_source(txn, ctx, doc)
            doc.pop("ReplicaSource", None)
            doc.pop("ReplicaSourceScope", None)
            doc["BackupRetentionPeriod"] = params.get("BackupRetentionPeriod", 1) if params.get("BackupRetentionPeriod") is not None else 1
            txn.put(INSTANCE, doc["DBInstanceIdentifier"], doc, ctx.scope)
            spec = txn.get(SPEC, doc["NodeKey"])
            spec["replica_of"] = None
            txn.put(SPEC, doc["NodeKey"], spec)
            self._event(txn, ctx, "db-instance", doc["DBInstanceIdentifier"], "Read replica promoted", ["read replica"])
        return {"DBInstance": self._describe(ctx, doc)}

    # -- snapshots -------------------------------------------------------------------------

    @staticmethod
    def _snap_arn(scope: str, snap_id: str) -> str:
        account, region = scope.split("/", 1)
        return f"arn:{partition_of(region)}:rds:{region}:{account}:snapshot:{snap_id}"

    def _snapshot_key(self, ctx: RequestContext, key_arn: str | None, snap_id: str) -> dict[str, Any] | None:
        """A new data key for a snapshot stored encrypted under ``key_arn`` (None: unencrypted).
        Taken before the snapshot's transaction (KMS writes records of its own)."""
        if not key_arn:
            return None
        arn = self._snap_arn(ctx.scope, snap_id)
        plain, wrapped = encryption.new_data_key(ctx, key_arn, arn)
        return {"plain": plain, "wrapped": wrapped, "arn": arn}

    def _snapshot_record(self, txn, ctx: RequestContext, doc: dict[str, Any], snap_id: str, kind: str,
                         tags: list[dict[str, str]] | None = None, key: dict[str, Any] | None = None) -> dict[str, Any]:
        if txn.exists(SNAPSHOT, snap_id, ctx.scope):
            raise ServiceError("DBSnapshotAlreadyExists", f"Cannot create the snapshot because a snapshot with the identifier "
                               f"{snap_id} already exists.")
        if doc.get("StorageEncrypted") and key is None:
            raise ServiceError("InternalFailure", "an encrypted instance's snapshot needs a data key", 500)
        data_name = f"rds/{ctx.scope}/{snap_id}/{secrets.token_hex(4)}"
        job_key = data_name
        snap = {
            "DBSnapshotIdentifier": snap_id, "DBInstanceIdentifier": doc["DBInstanceIdentifier"], "Engine": doc["Engine"],
            "EngineVersion": doc["EngineVersion"], "AllocatedStorage": doc["AllocatedStorage"], "Port": doc["Port"],
            "AvailabilityZone": doc["AvailabilityZone"], "InstanceCreateTime": doc["Created"], "MasterUsername": doc["MasterUsername"],
            "MasterUserPassword": doc["MasterUserPassword"], "DBName": doc.get("DBName"), "SnapshotType": kind,
            "Created": ctx.clock.time(), "Encrypted": doc.get("StorageEncrypted", False), "KmsKeyId": doc.get("KmsKeyId"),
            "DataName": data_name, "Job": job_key, "DBParameterGroupName": doc["DBParameterGroupName"],
            "DbiResourceId": doc["DbiResourceId"], "StorageType": doc.get("StorageType", "gp2"),
            "Tags": tags if tags is not None else (doc.get("Tags", []) if doc.get("CopyTagsToSnapshot") else []),
            "Restore": [],
        }
        if key is not None:
            snap.update(DataKey=key["wrapped"], DataKeyArn=key["arn"])
            snapcrypt.KEYRING[job_key] = key["plain"]  # in memory only; the plane's job takes it
        txn.put(SNAPSHOT, snap_id, snap, ctx.scope)
        txn.put(JOB, job_key, {"op": "snapshot", "node": doc["NodeKey"], "name": data_name, "state": "pending",
                               "encrypt": key is not None})
        self._event(txn, ctx, "db-snapshot", snap_id, "Creating manual snapshot", ["creation"])
        return snap

    def _snapshot_out(self, ctx: RequestContext, snap: dict[str, Any], scope: str | None = None) -> dict[str, Any]:
        job = ctx.store.read.get(JOB, snap["Job"]) or {}
        state = {"pending": "creating", "available": "available", "failed": "failed"}.get(job.get("state"), "available")
        scope = scope or ctx.scope
        out = {
            "DBSnapshotIdentifier": snap["DBSnapshotIdentifier"] if scope == ctx.scope else self._snap_arn(scope, snap["DBSnapshotIdentifier"]),
            "DBInstanceIdentifier": snap["DBInstanceIdentifier"],
            "SnapshotCreateTime": _dt(snap["Created"]), "Engine": snap["Engine"], "AllocatedStorage": snap["AllocatedStorage"],
            "Status": state, "Port": snap["Port"], "AvailabilityZone": snap["AvailabilityZone"], "VpcId": "",
            "InstanceCreateTime": _dt(snap["InstanceCreateTime"]), "MasterUsername": snap["MasterUsername"],
            "EngineVersion": snap["EngineVersion"], "LicenseModel": "postgresql-license" if snap["Engine"] == "postgres" else "general-public-license",
            "SnapshotType": snap["SnapshotType"] if scope == ctx.scope else ("public" if "all" in snap.get("Restore", []) else "shared"),
            "PercentProgress": 100 if state == "available" else 0,
            "StorageType": snap["StorageType"], "Encrypted": snap["Encrypted"], "DBSnapshotArn": self._snap_arn(scope, snap["DBSnapshotIdentifier"]),
            "IAMDatabaseAuthenticationEnabled": False, "DbiResourceId": snap["DbiResourceId"],
            "TagList": snap.get("Tags", []) if scope == ctx.scope else [],
            "OriginalSnapshotCreateTime": _dt(snap.get("OriginalCreated", snap["Created"])), "SnapshotTarget": "region",
        }
        if snap.get("KmsKeyId"):
            out["KmsKeyId"] = snap["KmsKeyId"]
        if snap.get("SourceDBSnapshotIdentifier"):
            out["SourceDBSnapshotIdentifier"] = snap["SourceDBSnapshotIdentifier"]
        if snap.get("SourceRegion"):
            out["SourceRegion"] = snap["SourceRegion"]
        return out

    def _find_snapshot(self, ctx: RequestContext, ref: str | None, *, shared_ok: bool = True) -> tuple[dict[str, Any], str]:
        """A snapshot by identifier, or by ARN: this account's (any region), or another
        account's that is shared with this one.  Returns (record, its scope)."""
        ref = ref or ""
        scope, snap_id = ctx.scope, ref
        match = re.match(r"^arn:aws[-a-z]*:rds:([a-z0-9-]+):(\d{12}):snapshot:(.+)$", ref)
        if match:
            scope, snap_id = f"{match.group(2)}/{match.group(1)}", match.group(3)
        elif ref.startswith("arn:"):
            raise _invalid(f"Invalid snapshot identifier or ARN: {ref}")
        not_found = ServiceError("DBSnapshotNotFound", f"DBSnapshot {ref} not found.")
        snap = ctx.store.read.get(SNAPSHOT, snap_id.lower(), scope)
        if snap is None:
            raise not_found
        if scope.split("/")[0] != ctx.account_id:
            restore = snap.get("Restore", [])
            if not shared_ok or not (ctx.account_id in restore or "all" in restore):
                raise not_found
        return snap, scope

    def create_db_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        snap_id = _check_ident(params.get("DBSnapshotIdentifier"), "DBSnapshotIdentifier")
        doc = self._load(ctx, params.get("DBInstanceIdentifier"))
        if self._status(doc) not in ("available", "stopped"):
            raise ServiceError("InvalidDBInstanceState", f"Cannot create a snapshot because the database instance "
                               f"{doc['DBInstanceIdentifier']} is not currently in the available state.")
        tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []] or None
        if ctx.store.read.exists(SNAPSHOT, snap_id, ctx.scope):
            raise ServiceError("DBSnapshotAlreadyExists", f"Cannot create the snapshot because a snapshot with the identifier "
                               f"{snap_id} already exists.")
        key = self._snapshot_key(ctx, doc.get("KmsKeyId") if doc.get("StorageEncrypted") else None, snap_id)
        with ctx.store.transaction() as txn:
            snap = self._snapshot_record(txn, ctx, doc, snap_id, "manual", tags, key)
        return {"DBSnapshot": self._snapshot_out(ctx, snap)}

    def copy_db_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The notes' recipe for encrypting an unencrypted database: snapshot it, copy the
        snapshot with a KMS key, restore the copy."""
        source_ref = params.get("SourceDBSnapshotIdentifier")
        if not source_ref:
            raise _invalid("The parameter SourceDBSnapshotIdentifier must be provided and must not be blank.")
        target = _check_ident(params.get("TargetDBSnapshotIdentifier"), "TargetDBSnapshotIdentifier")
        if params.get("TargetCustomAvailabilityZone") or params.get("SnapshotTarget") not in (None, "region"):
            raise ServiceError("NotImplemented", "Nimbus does not implement copying snapshots to Outposts or custom AZs.", 501)
        snap, scope = self._find_snapshot(ctx, source_ref)
        source_arn = self._snap_arn(scope, snap["DBSnapshotIdentifier"])
        if self._snapshot_out(ctx, snap, scope)["Status"] != "available":
            raise ServiceError("InvalidDBSnapshotState", f"Snapshot {snap['DBSnapshotIdentifier']} is not currently in the "
                               "available state.")
        if ctx.store.read.exists(SNAPSHOT, target, ctx.scope):
            raise ServiceError("DBSnapshotAlreadyExists", f"Cannot copy the snapshot because a snapshot with the identifier "
                               f"{target} already exists.")
        foreign = scope != ctx.scope
        key_ref = params.get("KmsKeyId")
        if snap["Encrypted"] and not key_ref and foreign:
            raise _invalid("KmsKeyId is required to copy an encrypted snapshot from another account or region: give a "
                           "KMS key of this account and region to encrypt the copy with.")
        dest_key_arn = encryption.resolve_key(ctx, key_ref) if key_ref else (snap.get("KmsKeyId") if snap["Encrypted"] else None)
        source_plain = encryption.open_data_key(ctx, snap, source_arn) if snap["Encrypted"] else None
        key = self._snapshot_key(ctx, dest_key_arn, target)
        now = ctx.clock.time()
        data_name = f"rds/{ctx.scope}/{target}/{secrets.token_hex(4)}"
        tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []]
        if not tags and params.get("CopyTags") and not foreign:
            tags = list(snap.get("Tags", []))
        copy = dict(snap, DBSnapshotIdentifier=target, SnapshotType="manual", Created=now, DataName=data_name, Job=data_name,
                    Encrypted=key is not None, KmsKeyId=dest_key_arn, Tags=tags, Restore=[], SourceDBSnapshotIdentifier=source_arn,
                    OriginalCreated=snap.get("OriginalCreated", snap["Created"]))
        copy.pop("DataKey", None)
        copy.pop("DataKeyArn", None)
        copy.pop("SourceRegion", None)
        if scope.split("/")[1] != ctx.region:
            copy["SourceRegion"] = scope.split("/")[1]
        if key is not None:
            copy.update(DataKey=key["wrapped"], DataKeyArn=key["arn"])
        try:
            if source_plain is not None:
                snapcrypt.KEYRING[data_name + ":source"] = source_plain
            if key is not None:
                snapcrypt.KEYRING[data_name + ":dest"] = key["plain"]
            with ctx.store.transaction() as txn:
                if not txn.insert(SNAPSHOT, target, copy, ctx.scope):
                    raise ServiceError("DBSnapshotAlreadyExists", f"Cannot copy the snapshot because a snapshot with the "
                                       f"identifier {target} already exists.")
                txn.put(JOB, data_name, {"op": "copy", "source": snap["DataName"], "name": data_name, "state": "pending",
                                         "encrypt": key is not None})
                self._event(txn, ctx, "db-snapshot", target, f"Copying snapshot {source_arn}", ["creation"])
        except Exception:
            snapcrypt.KEYRING.pop(data_name + ":source", None)
            snapcrypt.KEYRING.pop(data_name + ":dest", None)
            raise
        return {"DBSnapshot": self._snapshot_out(ctx, copy)}

    def describe_db_snapshots(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        snap_id = params.get("DBSnapshotIdentifier")
        kind = params.get("SnapshotType")
        if snap_id:
            snap, scope = self._find_snapshot(ctx, snap_id)
            found = [(snap, scope)]
        else:
            found = []
            if kind not in ("shared", "public"):
                found = [(s, ctx.scope) for _, s in ctx.store.read.scan(SNAPSHOT, ctx.scope)]
            shared = params.get("IncludeShared") or kind == "shared"
            public = params.get("IncludePublic") or kind == "public"
            if shared or public:
                for scope in ctx.store.read.scopes(SNAPSHOT):
                    if scope == ctx.scope or not scope.endswith(f"/{ctx.region}"):
                        continue
                    for _, s in ctx.store.read.scan(SNAPSHOT, scope):
                        restore = s.get("Restore", [])
                        if (shared and ctx.account_id in restore) or (public and "all" in restore):
                            found.append((s, scope))
        if params.get("DBInstanceIdentifier"):
            found = [(s, sc) for s, sc in found if s["DBInstanceIdentifier"] == params["DBInstanceIdentifier"].lower()]
        out = [self._snapshot_out(ctx, s, sc) for s, sc in found]
        if kind and not snap_id:
            out = [o for o in out if o["SnapshotType"] == kind]
        return self._page(params, out, "DBSnapshots")

    def modify_db_snapshot_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        snap, _ = self._find_snapshot(ctx, params.get("DBSnapshotIdentifier"), shared_ok=False)
        if params.get("AttributeName") != "restore":
            raise _invalid(f"Invalid snapshot attribute name: {params.get('AttributeName')}. The only attribute is restore.")
        add, remove = params.get("ValuesToAdd") or [], params.get("ValuesToRemove") or []
        for value in add + remove:
            if value != "all" and not re.match(r"^\d{12}$", str(value)):
                raise _invalid(f"Invalid AWS account ID {value}: give 12-digit account IDs or all.")
        if snap["SnapshotType"] == "automated":
            raise ServiceError("InvalidDBSnapshotState", "Automated snapshots cannot be shared: copy the snapshot and share the copy.")
        if "all" in add and snap["Encrypted"]:
            raise _invalid("Encrypted snapshots cannot be shared publicly: share them with specific AWS accounts.")
        if self._snapshot_out(ctx, snap)["Status"] != "available":
            raise ServiceError("InvalidDBSnapshotState", f"Snapshot {snap['DBSnapshotIdentifier']} is not currently in the "
                               "available state.")
        restore = [a for a in snap.get("Restore", []) if a not in remove]
        restore += [a for a in add if a not in restore and a not in remove]
        if len([a for a in restore if a != "all"]) > 20:
            raise ServiceError("SharedSnapshotQuotaExceeded", "A manual DB snapshot can be shared with up to 20 AWS accounts.")
        with ctx.store.transaction() as txn:
            fresh = txn.get(SNAPSHOT, snap["DBSnapshotIdentifier"], ctx.scope)
            fresh["Restore"] = restore
            txn.put(SNAPSHOT, snap["DBSnapshotIdentifier"], fresh, ctx.scope)
        return {"DBSnapshotAttributesResult": self._attributes_out(fresh)}

    @staticmethod
    def _attributes_out(snap: dict[str, Any]) -> dict[str, Any]:
        return {"DBSnapshotIdentifier": snap["DBSnapshotIdentifier"],
                "DBSnapshotAttributes": [{"AttributeName": "restore", "AttributeValues": list(snap.get("Restore", []))}]}

    def describe_db_snapshot_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        snap, _ = self._find_snapshot(ctx, params.get("DBSnapshotIdentifier"), shared_ok=False)
        return {"DBSnapshotAttributesResult": self._attributes_out(snap)}

    def delete_db_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        snap_id = (params.get("DBSnapshotIdentifier") or "").lower()
        snap = ctx.store.read.get(SNAPSHOT, snap_id, ctx.scope)
        if snap is None:
            raise ServiceError("DBSnapshotNotFound", f"DBSnapshot {params.get('DBSnapshotIdentifier')} not found.")
        out = self._snapshot_out(ctx, snap)
        if out["Status"] == "creating":
            raise ServiceError("InvalidDBSnapshotState", "Cannot delete the snapshot because it is being created.")
        for _, job in ctx.store.read.scan(JOB):
            if job.get("op") == "copy" and job.get("source") == snap["DataName"] and job.get("state") == "pending":
                raise ServiceError("InvalidDBSnapshotState", "Cannot delete the snapshot while it is being copied.")
        out["Status"] = "deleted"
        with ctx.store.transaction() as txn:
            txn.delete(SNAPSHOT, snap_id, ctx.scope)
            txn.delete(JOB, snap["Job"])
        from ...planes.engines import snapshot_dir
        import shutil

        shutil.rmtree(snapshot_dir(self.runtime.config.data_dir, snap["DataName"]), ignore_errors=True)
        return {"DBSnapshot": out}

    def restore_db_instance_from_db_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = _check_ident(params.get("DBInstanceIdentifier"))
        snap, scope = self._find_snapshot(ctx, params.get("DBSnapshotIdentifier"))
        if scope.split("/")[1] != ctx.region:
            raise ServiceError("DBSnapshotNotFound", f"DBSnapshot {params.get('DBSnapshotIdentifier')} not found: a snapshot "
                               "is restored in its own region (copy it here first).")
        if self._snapshot_out(ctx, snap, scope)["Status"] != "available":
            raise ServiceError("InvalidDBSnapshotState", f"Snapshot {snap['DBSnapshotIdentifier']} is not available.")
        if ctx.store.read.exists(INSTANCE, ident, ctx.scope):
            raise ServiceError("DBInstanceAlreadyExists", "DB instance already exists")
        engine = params.get("Engine") or snap["Engine"]
        if engine != snap["Engine"]:
            raise _combination(f"Engine {engine} does not match the snapshot's engine {snap['Engine']}.")
        _, version = self._resolve_engine(engine, snap["EngineVersion"])
        data_key = encryption.open_data_key(ctx, snap, self._snap_arn(scope, snap["DBSnapshotIdentifier"])) if snap["Encrypted"] else None
        merged = {
            "DBInstanceClass": params.get("DBInstanceClass") or "db.t3.micro", "MasterUsername": snap["MasterUsername"],
            "MasterUserPassword": snap["MasterUserPassword"], "DBName": snap.get("DBName"), "AllocatedStorage": snap["AllocatedStorage"],
            "DBParameterGroupName": params.get("DBParameterGroupName"), "DBSubnetGroupName": params.get("DBSubnetGroupName"),
            "AvailabilityZone": params.get("AvailabilityZone"), "Port": params.get("Port") or snap["Port"], "Tags": params.get("Tags"),
            "StorageEncrypted": snap["Encrypted"], "KmsKeyId": snap.get("KmsKeyId"), "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds"),
            "DeletionProtection": params.get("DeletionProtection"), "MultiAZ": params.get("MultiAZ"),
            "BackupRetentionPeriod": params.get("BackupRetentionPeriod"), "OptionGroupName": params.get("OptionGroupName"),
        }
        doc = self._new_instance(ctx, ident, merged, engine, version, check_key=False)
        if data_key is not None:
            snapcrypt.KEYRING[doc["NodeKey"]] = data_key  # the plane decrypts the snapshot with it, then drops it
        try:
            return {"DBInstance": self._commit_new(ctx, doc, {"restore": {"snapshot": snap["DataName"]}})}
        except Exception:
            snapcrypt.KEYRING.pop(doc["NodeKey"], None)
            raise

    # -- point-in-time restore ---------------------------------------------------------------

    def restore_db_instance_to_point_in_time(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        target = _check_ident(params.get("TargetDBInstanceIdentifier"), "TargetDBInstanceIdentifier")
        source_ref = params.get("SourceDBInstanceIdentifier")
        if not source_ref:
            raise _invalid("SourceDBInstanceIdentifier is required (restoring from automated backups by "
                           "SourceDbiResourceId or SourceDBInstanceAutomatedBackupsArn is not implemented).")
        source = self._load(ctx, source_ref)
        restore_time = params.get("RestoreTime")
        latest = params.get("UseLatestRestorableTime")
        if bool(restore_time) == bool(latest):
            raise _combination("Exactly one of RestoreTime and UseLatestRestorableTime must be given.")
        if source["Engine"] not in ("postgres", "mysql", "mariadb"):
            raise ServiceError("NotImplemented", f"Nimbus does not implement point-in-time restore of {source['Engine']}.", 501)
        if not source["BackupRetentionPeriod"] or source.get("ReplicaSource"):
            raise ServiceError("PointInTimeRestoreNotEnabled", f"Point-in-time restore is not enabled for "
                               f"{source['DBInstanceIdentifier']}: its backup retention period is 0.")
        now = ctx.clock.time()
        when = now if latest else restore_time.timestamp()
        earliest = max(source["Created"], now - source["BackupRetentionPeriod"] * 86400)
        if not earliest <= when <= now + 1:
            raise ServiceError("InvalidRestoreFault", f"Restore time {_dt(when).isoformat()} is outside the restorable "
                               f"window ({_dt(earliest).isoformat()} to {_dt(now).isoformat()}).")
        if ctx.store.read.exists(INSTANCE, target, ctx.scope):
            raise ServiceError("DBInstanceAlreadyExists", "DB instance already exists")
        history = (ctx.store.read.get(CLOCK, "history") or {}).get("history", [])
        wall = sim_to_wall(history, when)
        merged = {
            "DBInstanceClass": params.get("DBInstanceClass") or source["DBInstanceClass"], "MasterUsername": source["MasterUsername"],
            "MasterUserPassword": source["MasterUserPassword"], "DBName": source.get("DBName"),
            "AllocatedStorage": source["AllocatedStorage"], "DBParameterGroupName": params.get("DBParameterGroupName"),
            "DBSubnetGroupName": params.get("DBSubnetGroupName"), "AvailabilityZone": params.get("AvailabilityZone"),
            "Port": params.get("Port") or source["Port"], "Tags": params.get("Tags"), "StorageEncrypted": source.get("StorageEncrypted"),
            "KmsKeyId": source.get("KmsKeyId"), "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds"),
            "DeletionProtection": params.get("DeletionProtection"), "MultiAZ": params.get("MultiAZ"),
            "BackupRetentionPeriod": params.get("BackupRetentionPeriod"), "OptionGroupName": params.get("OptionGroupName"),
        }
        doc = self._new_instance(ctx, target, merged, source["Engine"], source["EngineVersion"])
        return {"DBInstance": self._commit_new(ctx, doc, {"restore": {"pitr": {"source": source["NodeKey"], "wall": wall}}})}

    # -- parameter groups ------------------------------------------------------------------

    def create_db_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBParameterGroupName") or ""
        if not re.match(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$", name):
            raise _invalid("The parameter DBParameterGroupName is not a valid identifier.")
        family = params.get("DBParameterGroupFamily")
        if family not in FAMILIES:
            raise _invalid(f"ParameterGroupFamily {family} is not a valid parameter group family for Nimbus "
                           f"(one of {', '.join(sorted(FAMILIES))}).")
        doc = {"DBParameterGroupName": name, "DBParameterGroupFamily": family, "Description": params.get("Description") or "",
               "Parameters": {}, "Tags": params.get("Tags") or []}
        with ctx.store.transaction() as txn:
            if not txn.insert(PARAM_GROUP, name.lower(), doc, ctx.scope):
                raise ServiceError("DBParameterGroupAlreadyExists", f"Parameter group {name} already exists")
        return {"DBParameterGroup": self._group_out(ctx, doc)}

    def _group_out(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        return {"DBParameterGroupName": doc["DBParameterGroupName"], "DBParameterGroupFamily": doc["DBParameterGroupFamily"],
                "Description": doc["Description"], "DBParameterGroupArn": self._arn(ctx, "pg", doc["DBParameterGroupName"])}

    def describe_db_parameter_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBParameterGroupName")
        groups = [g for _, g in ctx.store.read.scan(PARAM_GROUP, ctx.scope)]
        defaults = [{"DBParameterGroupName": f"default.{fam}", "DBParameterGroupFamily": fam,
                     "Description": f"Default parameter group for {fam}"} for fam in sorted(FAMILIES)]
        allg = defaults + groups
        if name:
            allg = [g for g in allg if g["DBParameterGroupName"].lower() == name.lower()]
            if not allg:
                raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}")
        return self._page(params, [self._group_out(ctx, g) for g in allg], "DBParameterGroups")

    def _group_for_edit(self, ctx: RequestContext, name: str | None) -> dict[str, Any]:
        if name and name.startswith("default."):
            raise _invalid(f"Default parameter groups cannot be modified: {name}")
        doc = ctx.store.read.get(PARAM_GROUP, (name or "").lower(), ctx.scope)
        if doc is None:
            raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}")
        return doc

    def modify_db_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._group_for_edit(ctx, params.get("DBParameterGroupName"))
        changes = params.get("Parameters") or []
        if not 1 <= len(changes) <= 20:
            raise _invalid("A parameter group can be modified with 1 to 20 parameters per request.")
        known = {p["ParameterName"]: p for p in engine_params(FAMILIES[doc["DBParameterGroupFamily"]])}
        for change in changes:
            pname, value = change.get("ParameterName"), change.get("ParameterValue")
            if pname not in known:
                raise _invalid(f"Nimbus does not know the parameter {pname}; supported: {', '.join(sorted(known))}.")
            spec = known[pname]
            if spec["DataType"] == "boolean" and str(value) not in ("0", "1"):
                raise _invalid(f"Value: {value} is outside of range: 0,1 for parameter: {pname}")
            if spec["DataType"] == "integer":
                lo, hi = (int(x) for x in spec["AllowedValues"].split("-"))
                if not str(value).isdigit() or not lo <= int(value) <= hi:
                    raise _invalid(f"Value: {value} is outside of range: {spec['AllowedValues']} for parameter: {pname}")
            if change.get("ApplyMethod") == "immediate" and spec["ApplyType"] == "static":
                raise _combination(f"cannot use immediate apply method for static parameter {pname}")
            doc["Parameters"][pname] = str(value)
        self._save_group(ctx, doc)
        return {"DBParameterGroupName": doc["DBParameterGroupName"]}

    def reset_db_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._group_for_edit(ctx, params.get("DBParameterGroupName"))
        if params.get("ResetAllParameters"):
            doc["Parameters"] = {}
        for change in params.get("Parameters") or []:
            doc["Parameters"].pop(change.get("ParameterName"), None)
        self._save_group(ctx, doc)
        return {"DBParameterGroupName": doc["DBParameterGroupName"]}

    def _save_group(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        """Store the group and apply it to the engines of every instance using it."""
        with ctx.store.transaction() as txn:
            txn.put(PARAM_GROUP, doc["DBParameterGroupName"].lower(), doc, ctx.scope)
        for _, inst in list(ctx.store.read.scan(INSTANCE, ctx.scope)):
            if inst["DBParameterGroupName"].lower() != doc["DBParameterGroupName"].lower():
                continue
            new = self._param_values(ctx, inst["DBParameterGroupName"], inst["Engine"])
            with ctx.store.transaction() as txn:
                spec = txn.get(SPEC, inst["NodeKey"])
                if spec and spec.get("params") != new:
                    spec["params"] = new
                    spec["config_gen"] = spec.get("config_gen", 0) + 1
                    txn.put(SPEC, inst["NodeKey"], spec)

    def describe_db_parameters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBParameterGroupName") or ""
        if name.startswith("default."):
            family = name[len("default."):]
            if family not in FAMILIES:
                raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}")
            doc = {"DBParameterGroupFamily": family, "Parameters": {}}
        else:
            doc = ctx.store.read.get(PARAM_GROUP, name.lower(), ctx.scope)
            if doc is None:
                raise ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}")
        engine = FAMILIES[doc["DBParameterGroupFamily"]]
        out = []
        for p in engine_params(engine):
            item = {k: v for k, v in p.items()}
            item.update({"Source": "engine-default", "IsModifiable": True, "ApplyMethod": "pending-reboot" if p["ApplyType"] == "static" else "immediate"})
            if p["ParameterName"] == "max_connections":
                item["ParameterValue"] = str(ENGINES[engine]["max_connections"])
            if p["ParameterName"] in doc["Parameters"]:
                item["ParameterValue"] = doc["Parameters"][p["ParameterName"]]
                item["Source"] = "user"
            if params.get("Source") and params["Source"] != item["Source"]:
                continue
            out.append(item)
        return self._page(params, out, "Parameters")

    def delete_db_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._group_for_edit(ctx, params.get("DBParameterGroupName"))
        for _, inst in ctx.store.read.scan(INSTANCE, ctx.scope):
            if inst["DBParameterGroupName"].lower() == doc["DBParameterGroupName"].lower():
                raise ServiceError("InvalidDBParameterGroupState", f"One or more database instances are still members of this "
                                   f"parameter group {doc['DBParameterGroupName']}, so the group cannot be deleted")
        with ctx.store.transaction() as txn:
            txn.delete(PARAM_GROUP, doc["DBParameterGroupName"].lower(), ctx.scope)
        return {}

    # -- subnet groups ---------------------------------------------------------------------

    def _subnets(self, ctx: RequestContext, subnet_ids: list[str]) -> list[dict[str, Any]]:
        out = []
        bad = []
        for subnet_id in subnet_ids:
            subnet = ctx.store.read.get("ec2:subnet", subnet_id, ctx.scope)
            if subnet is None:
                bad.append(subnet_id)
                continue
            out.append({"SubnetIdentifier": subnet_id, "SubnetAvailabilityZone": {"Name": subnet.get("AvailabilityZone")},
                        "SubnetStatus": "Active", "VpcId": subnet.get("VpcId")})
        if bad:
            raise ServiceError("InvalidSubnet", f"Some input subnets in :[{', '.join(bad)}] are invalid.")
        if len({s["VpcId"] for s in out}) > 1:
            raise ServiceError("InvalidParameterValue", "The subnets in a DB subnet group must all be in the same VPC.", 400)
        if len({s["SubnetAvailabilityZone"]["Name"] for s in out}) < 2:
            raise ServiceError("DBSubnetGroupDoesNotCoverEnoughAZs",
                               "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. "
                               "Current AZ coverage: " + ", ".join(sorted({s['SubnetAvailabilityZone']['Name'] for s in out})) +
                               ". Add subnets to cover at least 2 AZs.")
        return out

    def _subnet_group_out(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        return {"DBSubnetGroupName": doc["DBSubnetGroupName"], "DBSubnetGroupDescription": doc["Description"],
                "VpcId": doc["Subnets"][0]["VpcId"] if doc["Subnets"] else "", "SubnetGroupStatus": "Complete",
                "Subnets": [{k: v for k, v in s.items() if k != "VpcId"} for s in doc["Subnets"]],
                "DBSubnetGroupArn": self._arn(ctx, "subgrp", doc["DBSubnetGroupName"]), "SupportedNetworkTypes": ["IPV4"]}

    def create_db_subnet_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBSubnetGroupName") or ""
        if not re.match(r"^[a-zA-Z0-9 ._-]{1,255}$", name) or name.lower() == "default":
            raise _invalid(f"The parameter DBSubnetGroupName is not a valid identifier: {name}")
        subnets = self._subnets(ctx, params.get("SubnetIds") or [])
        doc = {"DBSubnetGroupName": name, "Description": params.get("DBSubnetGroupDescription") or "", "Subnets": subnets,
               "Tags": params.get("Tags") or []}
        with ctx.store.transaction() as txn:
            if not txn.insert(SUBNET_GROUP, name.lower(), doc, ctx.scope):
                raise ServiceError("DBSubnetGroupAlreadyExists", f"The DB subnet group '{name}' already exists.")
        return {"DBSubnetGroup": self._subnet_group_out(ctx, doc)}

    def describe_db_subnet_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBSubnetGroupName")
        if name:
            doc = ctx.store.read.get(SUBNET_GROUP, name.lower(), ctx.scope)
            if doc is None:
                raise ServiceError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.")
            docs = [doc]
        else:
            docs = [d for _, d in ctx.store.read.scan(SUBNET_GROUP, ctx.scope)]
        return self._page(params, [self._subnet_group_out(ctx, d) for d in docs], "DBSubnetGroups")

    def modify_db_subnet_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBSubnetGroupName") or ""
        doc = ctx.store.read.get(SUBNET_GROUP, name.lower(), ctx.scope)
        if doc is None:
            raise ServiceError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.")
        doc["Subnets"] = self._subnets(ctx, params.get("SubnetIds") or [])
        if params.get("DBSubnetGroupDescription") is not None:
            doc["Description"] = params["DBSubnetGroupDescription"]
        with ctx.store.transaction() as txn:
            txn.put(SUBNET_GROUP, name.lower(), doc, ctx.scope)
        return {"DBSubnetGroup": self._subnet_group_out(ctx, doc)}

    def delete_db_subnet_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBSubnetGroupName") or ""
        if not ctx.store.read.exists(SUBNET_GROUP, name.lower(), ctx.scope):
            raise ServiceError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.")
        for _, inst in ctx.store.read.scan(INSTANCE, ctx.scope):
            if (inst.get("DBSubnetGroupName") or "").lower() == name.lower():
                raise ServiceError("InvalidDBSubnetGroupStateFault", f"Cannot delete the subnet group '{name}' because at least "
                                   "one database instance is still using it.")
        with ctx.store.transaction() as txn:
            txn.delete(SUBNET_GROUP, name.lower(), ctx.scope)
        return {}

    # -- tags and events -------------------------------------------------------------------

    def _tag_target(self, ctx: RequestContext, arn: str | None) -> tuple[str, str]:
        match = re.match(r"^arn:aws[-a-z]*:rds:([a-z0-9-]+):(\d{12}):(db|snapshot|pg|subgrp|og):(.+)$", arn or "")
        if not match or match.group(1) != ctx.region or match.group(2) != ctx.account_id:
            raise _invalid(f"Invalid resource name: {arn}")
        kind = {"db": INSTANCE, "snapshot": SNAPSHOT, "pg": PARAM_GROUP, "subgrp": SUBNET_GROUP, "og": OPTION_GROUP}[match.group(3)]
        key = match.group(4).lower()
        if not ctx.store.read.exists(kind, key, ctx.scope):
            raise {INSTANCE: _not_found_instance(match.group(4)),
                   SNAPSHOT: ServiceError("DBSnapshotNotFound", f"DBSnapshot {match.group(4)} not found."),
                   PARAM_GROUP: ServiceError("DBParameterGroupNotFound", f"DBParameterGroup not found: {match.group(4)}"),
                   SUBNET_GROUP: ServiceError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {match.group(4)} not found."),
                   OPTION_GROUP: ServiceError("OptionGroupNotFoundFault", f"Specified OptionGroupName: {match.group(4)} not found.")}[kind]
        return kind, key

    def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        kind, key = self._tag_target(ctx, params.get("ResourceName"))
        return {"TagList": ctx.store.read.get(kind, key, ctx.scope).get("Tags", [])}

    def add_tags_to_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        kind, key = self._tag_target(ctx, params.get("ResourceName"))
        with ctx.store.transaction() as txn:
            doc = txn.get(kind, key, ctx.scope)
            tags = {t["Key"]: t.get("Value", "") for t in doc.get("Tags", [])}
            for tag in params.get("Tags") or []:
                tags[tag["Key"]] = tag.get("Value", "")
            if len(tags) > 50:
                raise ServiceError("TagQuotaPerResourceExceeded", "A resource can have at most 50 tags.", 400)
            doc["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            txn.put(kind, key, doc, ctx.scope)
        return {}

    def remove_tags_from_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        kind, key = self._tag_target(ctx, params.get("ResourceName"))
        drop = set(params.get("TagKeys") or [])
        with ctx.store.transaction() as txn:
            doc = txn.get(kind, key, ctx.scope)
            doc["Tags"] = [t for t in doc.get("Tags", []) if t["Key"] not in drop]
            txn.put(kind, key, doc, ctx.scope)
        return {}

    def describe_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        now = ctx.clock.time()
        start = params.get("StartTime").timestamp() if params.get("StartTime") else now - 60 * (params.get("Duration") or 60)
        end = params.get("EndTime").timestamp() if params.get("EndTime") else now + 1
        events = [e for _, e in ctx.store.read.scan(RDS_EVENT, ctx.scope)]
        for _, e in ctx.store.read.scan(EVENT):
            owner = e.get("owner") or {}
            if owner.get("service") == "rds" and owner.get("scope") == ctx.scope:
                events.append({"SourceIdentifier": owner["id"], "SourceType": "db-instance", "Message": e["message"],
                               "EventCategories": ["failure" if "failed" in e["message"] else "availability"],
                               "Date": e["time"], "SourceArn": self._arn(ctx, "db", owner["id"])})
        out = []
        for e in sorted(events, key=lambda e: e["Date"]):
            if not start <= e["Date"] <= end:
                continue
            if params.get("SourceType") and e["SourceType"] != params["SourceType"]:
                continue
            if params.get("SourceIdentifier") and e["SourceIdentifier"] != params["SourceIdentifier"].lower():
                continue
            out.append({**e, "Date": _dt(e["Date"])})
        return self._page(params, out, "Events")

    def describe_account_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        used = ctx.store.read.count(INSTANCE, ctx.scope)
        return {"AccountQuotas": [{"AccountQuotaName": "DBInstances", "Used": used, "Max": 40},
                                  {"AccountQuotaName": "ReadReplicasPerMaster", "Used": 0, "Max": MAX_READ_REPLICAS}]}
