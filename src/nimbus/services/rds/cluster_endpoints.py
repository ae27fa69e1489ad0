"""Aurora custom endpoints: a loopback address of their own balancing connections over a
chosen set of a cluster's instances.

``rds:db-cluster-endpoint`` (scope ``<account>/<region>``) keyed by the lower-cased
endpoint identifier (unique in the account and region, as on AWS).  ``StaticMembers``
names the instances outright; otherwise every instance but ``ExcludedMembers`` belongs,
instances added later included.  A ``READER`` endpoint leaves the writer out (so it
follows failovers); ``ANY`` keeps it.  The proxy is an ``engines:endpoint`` like the
cluster's reader endpoint, rewritten whenever membership or the writer changes.
"""

from __future__ import annotations

import secrets
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...planes.engines import ENDPOINT, addresses

CLUSTER_ENDPOINT = "rds:db-cluster-endpoint"
MAX_CUSTOM_ENDPOINTS = 5


def _not_found(ident: str | None) -> ServiceError:
    return ServiceError("DBClusterEndpointNotFoundFault", f"DBClusterEndpoint {ident} not found.")


def custom_targets(cluster: dict[str, Any], endpoint: dict[str, Any], node_keys: dict[str, str]) -> list[str]:
    """The node keys a custom endpoint balances over, given the members' node keys."""
    members = [m for m in cluster["Members"] if m in node_keys]
    if endpoint.get("StaticMembers"):
        chosen = [m for m in endpoint["StaticMembers"] if m in members]
    else:
        chosen = [m for m in members if m not in endpoint.get("ExcludedMembers", [])]
    if endpoint["CustomEndpointType"] == "READER":
        chosen = [m for m in chosen if m != cluster["Writer"]]
    return [node_keys[m] for m in chosen]


class ClusterEndpointsMixin:
    """The custom-endpoint operations of the RDS provider (Aurora clusters)."""

    def _write_custom_endpoints(self, txn, ctx: RequestContext, cluster: dict[str, Any], node_keys: dict[str, str]) -> None:
        for _, endpoint in txn.scan(CLUSTER_ENDPOINT, ctx.scope):
            if endpoint["DBClusterIdentifier"] != cluster["DBClusterIdentifier"]:
                continue
            txn.put(ENDPOINT, endpoint["Key"], {"address": endpoint["Address"], "port": cluster["Port"],
                                                "targets": custom_targets(cluster, endpoint, node_keys), "mode": "balance"})

    def _drop_custom_endpoints(self, txn, ctx: RequestContext, cluster_ident: str) -> None:
        for key, endpoint in list(txn.scan(CLUSTER_ENDPOINT, ctx.scope)):
            if endpoint["DBClusterIdentifier"] == cluster_ident:
                txn.delete(ENDPOINT, endpoint["Key"])
                addresses.release(txn, endpoint["Address"])
                txn.delete(CLUSTER_ENDPOINT, key, ctx.scope)

    def _endpoint_out(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        return {"DBClusterEndpointIdentifier": doc["DBClusterEndpointIdentifier"], "DBClusterIdentifier": doc["DBClusterIdentifier"],
                "DBClusterEndpointResourceIdentifier": doc["ResourceId"], "Endpoint": doc["Address"], "Status": "available",
                "EndpointType": "CUSTOM", "CustomEndpointType": doc["CustomEndpointType"],
                "StaticMembers": list(doc.get("StaticMembers", [])), "ExcludedMembers": list(doc.get("ExcludedMembers", [])),
                "DBClusterEndpointArn": self._arn(ctx, "cluster-endpoint", doc["DBClusterEndpointIdentifier"])}  # type: ignore[attr-defined]

    def _check_members(self, ctx: RequestContext, cluster: dict[str, Any], params: dict[str, Any]) -> tuple[list[str], list[str]]:
        from .provider import _invalid

        static = [m.lower() for m in params.get("StaticMembers") or []]
        excluded = [m.lower() for m in params.get("ExcludedMembers") or []]
        if static and excluded:
            raise _invalid("StaticMembers and ExcludedMembers cannot both be given.")
        for member in static + excluded:
            if member not in cluster["Members"]:
                raise ServiceError("DBInstanceNotFound", f"DBInstance {member} is not a member of DB cluster "
                                   f"{cluster['DBClusterIdentifier']}.")
        return static, excluded

    @staticmethod
    def _check_type(value: Any) -> str:
        from .provider import _invalid

        if value not in ("READER", "ANY"):
            raise _invalid(f"Invalid endpoint type {value}: a custom endpoint is READER or ANY.")
        return value

    def _node_keys(self, txn, ctx: RequestContext, cluster: dict[str, Any]) -> dict[str, str]:
        from .provider import INSTANCE

        out = {}
        for member in cluster["Members"]:
            doc = txn.get(INSTANCE, member, ctx.scope)
            if doc:
                out[member] = doc["NodeKey"]
        return out

    def create_db_cluster_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .aurora import CLUSTER
        from .provider import _check_ident

        cluster = self._load_cluster(ctx, params.get("DBClusterIdentifier"))  # type: ignore[attr-defined]
        ident = _check_ident(params.get("DBClusterEndpointIdentifier"), "DBClusterEndpointIdentifier")
        kind = self._check_type(params.get("EndpointType"))
        static, excluded = self._check_members(ctx, cluster, params)
        key = f"rds/{ctx.scope}/{cluster['DBClusterIdentifier']}/custom-{ident}/{secrets.token_hex(4)}"
        doc = {"DBClusterEndpointIdentifier": ident, "DBClusterIdentifier": cluster["DBClusterIdentifier"],
               "CustomEndpointType": kind, "StaticMembers": static, "ExcludedMembers": excluded, "Key": key,
               "ResourceId": "cluster-endpoint-" + secrets.token_hex(13)[:26],
               "DnsName": cluster["DnsName"].replace(".cluster-", ".cluster-custom-", 1).replace(
                   f"{cluster['DBClusterIdentifier']}.", f"{ident}.", 1),
               "Tags": [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []]}
        with ctx.store.transaction() as txn:
            if txn.exists(CLUSTER_ENDPOINT, ident, ctx.scope):
                raise ServiceError("DBClusterEndpointAlreadyExistsFault", f"DB cluster endpoint {ident} already exists.")
            mine = [e for _, e in txn.scan(CLUSTER_ENDPOINT, ctx.scope) if e["DBClusterIdentifier"] == cluster["DBClusterIdentifier"]]
            if len(mine) >= MAX_CUSTOM_ENDPOINTS:
                raise ServiceError("DBClusterEndpointQuotaExceededFault", f"A DB cluster can have at most {MAX_CUSTOM_ENDPOINTS} "
                                   "custom endpoints.")
            doc["Address"] = addresses.allocate(txn, cluster["Port"], key)
            txn.put(CLUSTER_ENDPOINT, ident, doc, ctx.scope)
            fresh = txn.get(CLUSTER, cluster["DBClusterIdentifier"], ctx.scope)
            self._write_custom_endpoints(txn, ctx, fresh, self._node_keys(txn, ctx, fresh))
        return self._endpoint_out(ctx, doc)

    def _load_endpoint(self, ctx: RequestContext, ident: str | None) -> dict[str, Any]:
        doc = ctx.store.read.get(CLUSTER_ENDPOINT, (ident or "").lower(), ctx.scope)
        if doc is None:
            raise _not_found(ident)
        return doc

    def modify_db_cluster_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .aurora import CLUSTER

        doc = self._load_endpoint(ctx, params.get("DBClusterEndpointIdentifier"))
        cluster = self._load_cluster(ctx, doc["DBClusterIdentifier"])  # type: ignore[attr-defined]
        if params.get("EndpointType") is not None:
            doc["CustomEndpointType"] = self._check_type(params["EndpointType"])
        if params.get("StaticMembers") is not None or params.get("ExcludedMembers") is not None:
            doc["StaticMembers"], doc["ExcludedMembers"] = self._check_members(ctx, cluster, params)
        with ctx.store.transaction() as txn:
            txn.put(CLUSTER_ENDPOINT, doc["DBClusterEndpointIdentifier"], doc, ctx.scope)
            fresh = txn.get(CLUSTER, cluster["DBClusterIdentifier"], ctx.scope)
            self._write_custom_endpoints(txn, ctx, fresh, self._node_keys(txn, ctx, fresh))
        return self._endpoint_out(ctx, doc)

    def delete_db_cluster_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load_endpoint(ctx, params.get("DBClusterEndpointIdentifier"))
        out = dict(self._endpoint_out(ctx, doc), Status="deleting")
        with ctx.store.transaction() as txn:
            txn.delete(ENDPOINT, doc["Key"])
            addresses.release(txn, doc["Address"])
            txn.delete(CLUSTER_ENDPOINT, doc["DBClusterEndpointIdentifier"], ctx.scope)
        return out

    def describe_db_cluster_endpoints(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        out = []
        cluster_ident = (params.get("DBClusterIdentifier") or "").lower()
        if cluster_ident:
            cluster = self._load_cluster(ctx, cluster_ident)  # type: ignore[attr-defined]
            for role, kind in (("writer", "WRITER"), ("reader", "READER")):
                out.append({"DBClusterEndpointIdentifier": cluster["DBClusterIdentifier"], "DBClusterIdentifier": cluster["DBClusterIdentifier"],
                            "Endpoint": cluster[f"{role}_endpoint"]["Address"], "Status": "available", "EndpointType": kind})
        for _, doc in ctx.store.read.scan(CLUSTER_ENDPOINT, ctx.scope):
            if cluster_ident and doc["DBClusterIdentifier"] != cluster_ident:
                continue
            out.append(self._endpoint_out(ctx, doc))
        if params.get("DBClusterEndpointIdentifier"):
            wanted = params["DBClusterEndpointIdentifier"].lower()
            out = [e for e in out if e.get("EndpointType") == "CUSTOM" and e["DBClusterEndpointIdentifier"] == wanted]
            if not out:
                raise _not_found(params["DBClusterEndpointIdentifier"])
        return self._page(params, out, "DBClusterEndpoints")  # type: ignore[attr-defined]
