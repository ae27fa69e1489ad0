"""Aurora DB clusters: a writer and readers that are real replicas of it.

``rds:db-cluster`` (scope ``<account>/<region>``) keeps the cluster; its instances are
ordinary ``rds:db-instance`` records with ``DBClusterIdentifier``.  The first instance
is the writer; later ones replicate from it: PostgreSQL streaming replicas
(``aurora-postgresql``) or read-only MariaDB binlog replicas (``aurora-mysql``).  The
cluster (writer) endpoint and the reader endpoint are stable ``engines:endpoint``
proxies: the writer endpoint follows the writer across ``FailoverDBCluster``; the reader
endpoint balances connections over the readers; custom endpoints (``cluster_endpoints``)
balance over chosen members.  Storage is reported in 10 GiB increments of the real data size.
"""

from __future__ import annotations

import secrets
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...planes.engines import ENDPOINT, SPEC, addresses
from ...regions import availability_zones
from . import encryption
from .cluster_endpoints import CLUSTER_ENDPOINT, ClusterEndpointsMixin
from .cluster_snapshots import ClusterSnapshotsMixin

CLUSTER = "rds:db-cluster"
MAX_READERS = 15


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)


class AuroraMixin(ClusterEndpointsMixin, ClusterSnapshotsMixin):
    """DB cluster operations of the RDS provider."""

    def _load_cluster(self, ctx: RequestContext, ident: str | None) -> dict[str, Any]:
        doc = ctx.store.read.get(CLUSTER, (ident or "").lower(), ctx.scope)
        if doc is None:
            raise _error("DBClusterNotFoundFault", f"DBCluster {ident} not found.")
        return doc

    def create_db_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .provider import ENGINES, _check_dbname, _check_ident, _check_password, _check_username, _invalid

        ident = _check_ident(params.get("DBClusterIdentifier"), "DBClusterIdentifier")
        engine = params.get("Engine")
        if engine not in ("aurora-postgresql", "aurora-mysql"):
            raise _invalid(f"Invalid DB engine for a DB cluster: {engine}. Nimbus runs aurora-postgresql and aurora-mysql "
                           "(Multi-AZ DB clusters of postgres/mysql are not implemented).")
        engine, version = self._resolve_engine(engine, params.get("EngineVersion"), aurora_ok=True)
        if params.get("EngineMode") not in (None, "provisioned"):
            raise ServiceError("NotImplemented", f"Nimbus does not implement Aurora {params['EngineMode']} clusters.", 501)
        if params.get("ReplicationSourceIdentifier") or params.get("GlobalClusterIdentifier"):
            raise ServiceError("NotImplemented", "Nimbus does not implement cross-region or global Aurora clusters.", 501)
        _check_username(params.get("MasterUsername"), engine)
        _check_password(params.get("MasterUserPassword"), engine)
        _check_dbname(params.get("DatabaseName"), engine)
        port = params.get("Port") or ENGINES[engine]["port"]
        zones = [z["ZoneName"] for z in availability_zones(ctx.region)]
        doc = {
            "DBClusterIdentifier": ident, "Engine": engine, "EngineVersion": version, "MasterUsername": params["MasterUsername"],
            "MasterUserPassword": params["MasterUserPassword"], "DatabaseName": params.get("DatabaseName"), "Port": port,
            "BackupRetentionPeriod": params.get("BackupRetentionPeriod") or 1, "Created": ctx.clock.time(),
            "AvailabilityZones": (params.get("AvailabilityZones") or zones)[:3], "Members": [], "Writer": None,
            "DeletionProtection": bool(params.get("DeletionProtection")),
            "StorageEncrypted": bool(params.get("StorageEncrypted") or params.get("KmsKeyId")),
            "KmsKeyId": encryption.resolve_key(ctx, params.get("KmsKeyId"))
            if params.get("StorageEncrypted") or params.get("KmsKeyId") else None, "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds") or [],
            "DBSubnetGroupName": params.get("DBSubnetGroupName"), "Tags": params.get("Tags") or [],
            "DbClusterResourceId": "cluster-" + secrets.token_hex(13).upper()[:26],
            "DnsName": self._dns_name(ctx, ident).replace(f"{ident}.", f"{ident}.cluster-", 1),
        }
        with ctx.store.transaction() as txn:
            if txn.exists(CLUSTER, ident, ctx.scope):
                raise _error("DBClusterAlreadyExistsFault", "DB Cluster already exists")
            for role in ("writer", "reader"):
                key = f"rds/{ctx.scope}/{ident}/cluster-{role}/{secrets.token_hex(4)}"
                doc[f"{role}_endpoint"] = {"Key": key, "Address": addresses.allocate(txn, port, key),
                                           "DnsName": doc["DnsName"].replace(".cluster-", ".cluster-ro-", 1) if role == "reader"
                                           else doc["DnsName"]}
            txn.put(CLUSTER, ident, doc, ctx.scope)
            self._write_cluster_endpoints(txn, ctx, doc)
            self._event(txn, ctx, "db-cluster", ident, "DB cluster created", ["creation"])
        return {"DBCluster": self._cluster_out(ctx, doc)}

    def _write_cluster_endpoints(self, txn, ctx: RequestContext, cluster: dict[str, Any]) -> None:
        from .provider import INSTANCE

        members = [txn.get(INSTANCE, m, ctx.scope) for m in cluster["Members"]]
        members = [m for m in members if m]
        writer = [m["NodeKey"] for m in members if m["DBInstanceIdentifier"] == cluster["Writer"]]
        readers = [m["NodeKey"] for m in members if m["DBInstanceIdentifier"] != cluster["Writer"]]
        txn.put(ENDPOINT, cluster["writer_endpoint"]["Key"], {"address": cluster["writer_endpoint"]["Address"],
                                                               "port": cluster["Port"], "targets": writer, "mode": "first"})
        txn.put(ENDPOINT, cluster["reader_endpoint"]["Key"], {"address": cluster["reader_endpoint"]["Address"],
                                                               "port": cluster["Port"], "targets": readers or writer, "mode": "balance"})
        self._write_custom_endpoints(txn, ctx, cluster, {m["DBInstanceIdentifier"]: m["NodeKey"] for m in members})

    def _cluster_out(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        from .provider import INSTANCE, _dt

        members = [ctx.store.read.get(INSTANCE, m, ctx.scope) for m in doc["Members"]]
        members = [m for m in members if m]
        states = {self._status(m) for m in members}
        status = "available" if not members or states == {"available"} else ("creating" if "creating" in states else "modifying")
        if doc.get("Status") in ("deleting", "failing-over"):
            status = doc["Status"]
        used = 0
        for m in members:
            if m["DBInstanceIdentifier"] == doc["Writer"]:
                used = int((self._engine_state(m).get("size") or 0))
        allocated = max(10, -(-used // (10 << 30)) * 10)  # 10 GiB increments
        out = {
            "AllocatedStorage": allocated, "AvailabilityZones": doc["AvailabilityZones"],
            "BackupRetentionPeriod": doc["BackupRetentionPeriod"], "DBClusterIdentifier": doc["DBClusterIdentifier"],
            "DBClusterParameterGroup": f"default.{doc['Engine']}{doc['EngineVersion'].split('.')[0]}",
            "Status": status, "Endpoint": doc["writer_endpoint"]["Address"], "ReaderEndpoint": doc["reader_endpoint"]["Address"],
            "CustomEndpoints": [e["Address"] for _, e in ctx.store.read.scan(CLUSTER_ENDPOINT, ctx.scope)
                                if e["DBClusterIdentifier"] == doc["DBClusterIdentifier"]], "MultiAZ": len(members) > 1, "Engine": doc["Engine"], "EngineVersion": doc["EngineVersion"],
            "Port": doc["Port"], "MasterUsername": doc["MasterUsername"], "PreferredBackupWindow": "03:00-03:30",
            "PreferredMaintenanceWindow": "sun:05:00-sun:05:30", "ReadReplicaIdentifiers": [],
            "DBClusterMembers": [{"DBInstanceIdentifier": m["DBInstanceIdentifier"],
                                  "IsClusterWriter": m["DBInstanceIdentifier"] == doc["Writer"],
                                  "DBClusterParameterGroupStatus": "in-sync", "PromotionTier": 1} for m in members],
            "VpcSecurityGroups": [{"VpcSecurityGroupId": g, "Status": "active"} for g in doc["VpcSecurityGroupIds"]],
            "HostedZoneId": "Z2R2ITUGPM61AM", "StorageEncrypted": doc["StorageEncrypted"],
            "DbClusterResourceId": doc["DbClusterResourceId"], "DBClusterArn": self._arn(ctx, "cluster", doc["DBClusterIdentifier"]),
            "AssociatedRoles": [], "IAMDatabaseAuthenticationEnabled": False, "ClusterCreateTime": _dt(doc["Created"]),
            "EngineMode": "provisioned", "DeletionProtection": doc["DeletionProtection"], "HttpEndpointEnabled": False,
            "CopyTagsToSnapshot": False, "CrossAccountClone": False, "DomainMemberships": [], "TagList": doc.get("Tags", []),
            "AutoMinorVersionUpgrade": True, "NetworkType": "IPV4",
        }
        if doc.get("DatabaseName"):
            out["DatabaseName"] = doc["DatabaseName"]
        if doc.get("KmsKeyId"):
            out["KmsKeyId"] = doc["KmsKeyId"]
        if doc.get("DBSubnetGroupName"):
            out["DBSubnetGroup"] = doc["DBSubnetGroupName"]
        return out

    def describe_db_clusters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("DBClusterIdentifier"):
            docs = [self._load_cluster(ctx, params["DBClusterIdentifier"].rsplit(":", 1)[-1])]
        else:
            docs = [d for _, d in ctx.store.read.scan(CLUSTER, ctx.scope)]
        return self._page(params, [self._cluster_out(ctx, d) for d in docs], "DBClusters")

    def delete_db_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .provider import _combination, _invalid

        doc = self._load_cluster(ctx, params.get("DBClusterIdentifier"))
        if doc["DeletionProtection"]:
            raise _invalid("Cannot delete protected Cluster, please disable deletion protection and try again.")
        if params.get("SkipFinalSnapshot") and params.get("FinalDBSnapshotIdentifier"):
            raise _combination("Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier.")
        if not params.get("SkipFinalSnapshot"):
            if params.get("FinalDBSnapshotIdentifier"):
                raise ServiceError("NotImplemented", "Nimbus does not implement DB cluster snapshots yet; use SkipFinalSnapshot.", 501)
            raise _combination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
        if doc["Members"]:
            raise _error("InvalidDBClusterStateFault", "Cluster cannot be deleted, it still contains DB instances in non-deleting state.")
        out = self._cluster_out(ctx, doc)
        out["Status"] = "deleting"
        with ctx.store.transaction() as txn:
            self._drop_custom_endpoints(txn, ctx, doc["DBClusterIdentifier"])
            for role in ("writer", "reader"):
                txn.delete(ENDPOINT, doc[f"{role}_endpoint"]["Key"])
                addresses.release(txn, doc[f"{role}_endpoint"]["Address"])
            txn.delete(CLUSTER, doc["DBClusterIdentifier"], ctx.scope)
        return {"DBCluster": out}

    def _create_cluster_instance(self, ctx: RequestContext, params: dict[str, Any], ident: str) -> dict[str, Any]:
        from .provider import INSTANCE, _combination, _invalid

        cluster = self._load_cluster(ctx, params["DBClusterIdentifier"])
        if params.get("Engine") != cluster["Engine"]:
            raise _combination(f"The engine {params.get('Engine')} does not match the DB cluster's engine {cluster['Engine']}.")
        for member in ("MasterUsername", "MasterUserPassword", "AllocatedStorage", "DBName", "BackupRetentionPeriod"):
            if params.get(member) is not None:
                raise _invalid(f"The requested DB instance will be a member of a DB cluster. Set {member} for the DB cluster.")
        if not params.get("DBInstanceClass"):
            raise _invalid("The parameter DBInstanceClass must be provided and must not be blank.")
        writer = None
        if cluster["Writer"]:
            writer = ctx.store.read.get(INSTANCE, cluster["Writer"], ctx.scope)
            if len(cluster["Members"]) > MAX_READERS:
                raise ServiceError("InstanceQuotaExceeded", f"A DB cluster can have at most {MAX_READERS} readers.")
            if writer is None or self._status(writer) != "available":
                raise _error("InvalidDBClusterStateFault", f"The writer of DB cluster {cluster['DBClusterIdentifier']} is not available.")
        merged = {
            "DBInstanceClass": params["DBInstanceClass"], "MasterUsername": cluster["MasterUsername"],
            "MasterUserPassword": cluster["MasterUserPassword"], "DBName": cluster.get("DatabaseName"), "AllocatedStorage": 1,
            "BackupRetentionPeriod": cluster["BackupRetentionPeriod"], "AvailabilityZone": params.get("AvailabilityZone"),
            "Port": cluster["Port"], "Tags": params.get("Tags"), "StorageEncrypted": cluster["StorageEncrypted"],
            "KmsKeyId": cluster.get("KmsKeyId"), "VpcSecurityGroupIds": cluster["VpcSecurityGroupIds"],
            "DBParameterGroupName": params.get("DBParameterGroupName"),
        }
        doc = self._new_instance(ctx, ident, merged, cluster["Engine"], cluster["EngineVersion"])
        doc["DBClusterIdentifier"] = cluster["DBClusterIdentifier"]
        extra = {"replica_of": writer["NodeKey"]} if writer else self._writer_restore(ctx, cluster, doc["NodeKey"])
        out = self._commit_new(ctx, doc, extra)
        with ctx.store.transaction() as txn:
            fresh = txn.get(CLUSTER, cluster["DBClusterIdentifier"], ctx.scope)
            fresh["Members"].append(ident)
            if not fresh["Writer"]:
                fresh["Writer"] = ident
                fresh.pop("RestoreSnapshot", None)  # the writer holds the snapshot's data now
            txn.put(CLUSTER, fresh["DBClusterIdentifier"], fresh, ctx.scope)
            self._write_cluster_endpoints(txn, ctx, fresh)
        out["DBClusterIdentifier"] = cluster["DBClusterIdentifier"]
        return {"DBInstance": out}

    def _leave_cluster(self, txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
        cluster = txn.get(CLUSTER, doc["DBClusterIdentifier"], ctx.scope)
        if cluster is None:
            return
        cluster["Members"] = [m for m in cluster["Members"] if m != doc["DBInstanceIdentifier"]]
        if cluster["Writer"] == doc["DBInstanceIdentifier"]:
            cluster["Writer"] = None
            if cluster["Members"]:  # the writer is gone: a reader takes over, as Aurora fails over
                self._promote_in_cluster(txn, ctx, cluster, cluster["Members"][0])
        txn.put(CLUSTER, cluster["DBClusterIdentifier"], cluster, ctx.scope)
        self._write_cluster_endpoints(txn, ctx, cluster)

    def _promote_in_cluster(self, txn, ctx: RequestContext, cluster: dict[str, Any], new_writer: str) -> None:
        """Make ``new_writer`` the writer; every other member is rebuilt as its replica."""
        from .provider import INSTANCE

        target = txn.get(INSTANCE, new_writer, ctx.scope)
        spec = txn.get(SPEC, target["NodeKey"])
        spec["replica_of"] = None
        txn.put(SPEC, target["NodeKey"], spec)
        for member in cluster["Members"]:
            if member == new_writer:
                continue
            doc = txn.get(INSTANCE, member, ctx.scope)
            old_spec = txn.get(SPEC, doc["NodeKey"])
            txn.delete(SPEC, doc["NodeKey"])
            doc["NodeKey"] = f"rds/{ctx.scope}/{member}/{secrets.token_hex(4)}"
            new_spec = dict(old_spec or self._spec(ctx, doc), replica_of=target["NodeKey"], restore=None,
                            owner=dict((old_spec or {}).get("owner") or {}, node=doc["NodeKey"]))
            txn.put(SPEC, doc["NodeKey"], new_spec)
            txn.put(INSTANCE, member, doc, ctx.scope)
        cluster["Writer"] = new_writer

    def failover_db_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._load_cluster(ctx, params.get("DBClusterIdentifier"))
        readers = [m for m in cluster["Members"] if m != cluster["Writer"]]
        if not readers:
            raise _error("InvalidDBClusterStateFault", f"DB cluster {cluster['DBClusterIdentifier']} has no reader to fail over to.")
        target = (params.get("TargetDBInstanceIdentifier") or readers[0]).lower()
        if target not in readers:
            raise ServiceError("InvalidDBInstanceState", f"{target} is not a reader of DB cluster {cluster['DBClusterIdentifier']}.")
        with ctx.store.transaction() as txn:
            self._promote_in_cluster(txn, ctx, cluster, target)
            txn.put(CLUSTER, cluster["DBClusterIdentifier"], cluster, ctx.scope)
            self._write_cluster_endpoints(txn, ctx, cluster)
            self._event(txn, ctx, "db-cluster", cluster["DBClusterIdentifier"], f"Started cross AZ failover to DB instance: {target}",
                        ["failover"])
        return {"DBCluster": self._cluster_out(ctx, cluster)}
