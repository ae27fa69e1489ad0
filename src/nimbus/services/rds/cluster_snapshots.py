"""Aurora DB cluster snapshots, with the data: a snapshot of the cluster's writer
(``pg_basebackup`` / a MariaDB dump, taken by the engines plane like an instance
snapshot; encrypted clusters' snapshots are stored encrypted the same way).

``rds:db-cluster-snapshot`` (scope ``<account>/<region>``) keyed by the lower-cased
identifier.  ``RestoreDBClusterFromSnapshot`` creates the cluster, as on AWS, without
instances; its first instance (the writer) starts from the snapshot's data, and the
readers stream from it.
"""

from __future__ import annotations

import secrets
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...planes.engines import JOB, snapcrypt, snapshot_dir

CLUSTER_SNAPSHOT = "rds:db-cluster-snapshot"


def _not_found(ident: str | None) -> ServiceError:
    return ServiceError("DBClusterSnapshotNotFoundFault", f"DBClusterSnapshot {ident} not found.")


class ClusterSnapshotsMixin:
    """The cluster-snapshot operations of the RDS provider."""

    def _cluster_snapshot_out(self, ctx: RequestContext, snap: dict[str, Any]) -> dict[str, Any]:
        from .provider import _dt

        job = ctx.store.read.get(JOB, snap["Job"]) or {}
        state = {"pending": "creating", "available": "available", "failed": "failed"}.get(job.get("state"), "available")
        out = {"AvailabilityZones": snap["AvailabilityZones"], "DBClusterSnapshotIdentifier": snap["DBClusterSnapshotIdentifier"],
               "DBClusterIdentifier": snap["DBClusterIdentifier"], "SnapshotCreateTime": _dt(snap["Created"]),
               "Engine": snap["Engine"], "EngineMode": "provisioned", "AllocatedStorage": snap["AllocatedStorage"],
               "Status": state, "Port": snap["Port"], "VpcId": "", "ClusterCreateTime": _dt(snap["ClusterCreated"]),
               "MasterUsername": snap["MasterUsername"], "EngineVersion": snap["EngineVersion"],
               "LicenseModel": "postgresql-license" if snap["Engine"] == "aurora-postgresql" else "aurora-mysql",
               "SnapshotType": "manual", "PercentProgress": 100 if state == "available" else 0,
               "StorageEncrypted": snap["StorageEncrypted"], "DbClusterResourceId": snap["DbClusterResourceId"],
               "DBClusterSnapshotArn": self._arn(ctx, "cluster-snapshot", snap["DBClusterSnapshotIdentifier"]),  # type: ignore[attr-defined]
               "IAMDatabaseAuthenticationEnabled": False, "TagList": snap.get("Tags", [])}
        if snap.get("KmsKeyId"):
            out["KmsKeyId"] = snap["KmsKeyId"]
        return out

    def create_db_cluster_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .provider import INSTANCE, _check_ident

        snap_id = _check_ident(params.get("DBClusterSnapshotIdentifier"), "DBClusterSnapshotIdentifier")
        cluster = self._load_cluster(ctx, params.get("DBClusterIdentifier"))  # type: ignore[attr-defined]
        writer = ctx.store.read.get(INSTANCE, cluster["Writer"], ctx.scope) if cluster.get("Writer") else None
        if writer is None or self._status(writer) not in ("available", "stopped"):  # type: ignore[attr-defined]
            raise ServiceError("InvalidDBClusterStateFault", f"DB cluster {cluster['DBClusterIdentifier']} has no available "
                               "writer instance to take the snapshot from.")
        if ctx.store.read.exists(CLUSTER_SNAPSHOT, snap_id, ctx.scope):
            raise ServiceError("DBClusterSnapshotAlreadyExistsFault", f"Cannot create the cluster snapshot because one with the "
                               f"identifier {snap_id} already exists.")
        key = self._snapshot_key(ctx, cluster.get("KmsKeyId") if cluster.get("StorageEncrypted") else None,  # type: ignore[attr-defined]
                                 f"cluster-{snap_id}")
        data_name = f"rds/{ctx.scope}/cluster-snapshot/{snap_id}/{secrets.token_hex(4)}"
        out_cluster = self._cluster_out(ctx, cluster)  # type: ignore[attr-defined]
        snap = {"DBClusterSnapshotIdentifier": snap_id, "DBClusterIdentifier": cluster["DBClusterIdentifier"],
                "Engine": cluster["Engine"], "EngineVersion": cluster["EngineVersion"], "Port": cluster["Port"],
                "MasterUsername": cluster["MasterUsername"], "MasterUserPassword": cluster["MasterUserPassword"],
                "DatabaseName": cluster.get("DatabaseName"), "AvailabilityZones": cluster["AvailabilityZones"],
                "AllocatedStorage": out_cluster["AllocatedStorage"], "Created": ctx.clock.time(), "ClusterCreated": cluster["Created"],
                "StorageEncrypted": bool(cluster.get("StorageEncrypted")), "KmsKeyId": cluster.get("KmsKeyId"),
                "DbClusterResourceId": cluster["DbClusterResourceId"], "DataName": data_name, "Job": data_name,
                "Tags": [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []]}
        if key is not None:
            snap.update(DataKey=key["wrapped"], DataKeyArn=key["arn"])
            snapcrypt.KEYRING[data_name] = key["plain"]
        with ctx.store.transaction() as txn:
            if not txn.insert(CLUSTER_SNAPSHOT, snap_id, snap, ctx.scope):
                raise ServiceError("DBClusterSnapshotAlreadyExistsFault", f"Cannot create the cluster snapshot because one "
                                   f"with the identifier {snap_id} already exists.")
            txn.put(JOB, data_name, {"op": "snapshot", "node": writer["NodeKey"], "name": data_name, "state": "pending",
                                     "encrypt": key is not None})
            self._event(txn, ctx, "db-cluster-snapshot", snap_id, "Creating manual cluster snapshot", ["creation"])  # type: ignore[attr-defined]
        return {"DBClusterSnapshot": self._cluster_snapshot_out(ctx, snap)}

    def _load_cluster_snapshot(self, ctx: RequestContext, ident: str | None) -> dict[str, Any]:
        snap = ctx.store.read.get(CLUSTER_SNAPSHOT, (ident or "").rsplit(":", 1)[-1].lower(), ctx.scope)
        if snap is None:
            raise _not_found(ident)
        return snap

    def describe_db_cluster_snapshots(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("DBClusterSnapshotIdentifier"):
            snaps = [self._load_cluster_snapshot(ctx, params["DBClusterSnapshotIdentifier"])]
        else:
            snaps = [s for _, s in ctx.store.read.scan(CLUSTER_SNAPSHOT, ctx.scope)]
        if params.get("DBClusterIdentifier"):
            snaps = [s for s in snaps if s["DBClusterIdentifier"] == params["DBClusterIdentifier"].lower()]
        if params.get("SnapshotType") not in (None, "manual"):
            snaps = []
        return self._page(params, [self._cluster_snapshot_out(ctx, s) for s in snaps], "DBClusterSnapshots")  # type: ignore[attr-defined]

    def delete_db_cluster_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        import shutil

        snap = self._load_cluster_snapshot(ctx, params.get("DBClusterSnapshotIdentifier"))
        out = self._cluster_snapshot_out(ctx, snap)
        if out["Status"] == "creating":
            raise ServiceError("InvalidDBClusterSnapshotStateFault", "Cannot delete the cluster snapshot while it is being created.")
        with ctx.store.transaction() as txn:
            txn.delete(CLUSTER_SNAPSHOT, snap["DBClusterSnapshotIdentifier"], ctx.scope)
            txn.delete(JOB, snap["Job"])
        shutil.rmtree(snapshot_dir(self.runtime.config.data_dir, snap["DataName"]), ignore_errors=True)  # type: ignore[attr-defined]
        out["Status"] = "deleted"
        return {"DBClusterSnapshot": out}

    def restore_db_cluster_from_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .aurora import CLUSTER
        from .provider import _combination

        snap = self._load_cluster_snapshot(ctx, params.get("SnapshotIdentifier"))
        if self._cluster_snapshot_out(ctx, snap)["Status"] != "available":
            raise ServiceError("InvalidDBClusterSnapshotStateFault", f"Cluster snapshot {snap['DBClusterSnapshotIdentifier']} "
                               "is not available.")
        if params.get("Engine") and params["Engine"] != snap["Engine"]:
            raise _combination(f"Engine {params['Engine']} does not match the snapshot's engine {snap['Engine']}.")
        if snap["StorageEncrypted"]:  # restoring needs the key: checked now, used when the writer starts
            from . import encryption

            encryption.open_data_key(ctx, snap, snap.get("DataKeyArn") or "")
        create = {"DBClusterIdentifier": params.get("DBClusterIdentifier"), "Engine": snap["Engine"],
                  "EngineVersion": snap["EngineVersion"], "MasterUsername": snap["MasterUsername"],
                  "MasterUserPassword": snap["MasterUserPassword"], "DatabaseName": snap.get("DatabaseName"),
                  "Port": params.get("Port") or snap["Port"], "StorageEncrypted": snap["StorageEncrypted"],
                  "KmsKeyId": snap.get("KmsKeyId"), "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds"),
                  "DBSubnetGroupName": params.get("DBSubnetGroupName"), "Tags": params.get("Tags"),
                  "DeletionProtection": params.get("DeletionProtection"), "AvailabilityZones": params.get("AvailabilityZones")}
        out = self.create_db_cluster(ctx, create)  # type: ignore[attr-defined]
        with ctx.store.transaction() as txn:
            cluster = txn.get(CLUSTER, out["DBCluster"]["DBClusterIdentifier"].lower(), ctx.scope)
            cluster["RestoreSnapshot"] = {k: snap.get(k) for k in ("DBClusterSnapshotIdentifier", "DataName", "StorageEncrypted",
                                                                   "KmsKeyId", "DataKey", "DataKeyArn")}
            txn.put(CLUSTER, cluster["DBClusterIdentifier"], cluster, ctx.scope)
        return out

    def _writer_restore(self, ctx: RequestContext, cluster: dict[str, Any], node_key: str) -> dict[str, Any]:
        """Spec fields for a restored cluster's first writer: start from the snapshot's data."""
        restore = cluster.get("RestoreSnapshot")
        if not restore or cluster.get("Writer"):
            return {}
        if restore.get("StorageEncrypted"):
            from . import encryption

            snapcrypt.KEYRING[node_key] = encryption.open_data_key(ctx, dict(restore, Encrypted=True), restore.get("DataKeyArn") or "")
        return {"restore": {"snapshot": restore["DataName"]}}
