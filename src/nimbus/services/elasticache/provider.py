"""Amazon ElastiCache: Memcached clusters and Redis/Valkey replication groups on real engines.

Records (scope ``<account>/<region>``): ``elasticache:cache-cluster`` (one per cluster; a
replication group's members are clusters too), ``elasticache:replication-group``,
``elasticache:snapshot``, ``elasticache:subnet-group``.  Each cache node owns an
``engines:spec``; stable endpoints (a group's primary and reader endpoints, a Memcached
configuration endpoint) are ``engines:endpoint`` records the engines plane proxies.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...planes.engines import ENDPOINT, JOB, SPEC, STATUS, addresses, binaries
from ...regions import availability_zones, partition_of
from ..base import Provider

CLUSTER = "elasticache:cache-cluster"
GROUP = "elasticache:replication-group"
SNAPSHOT = "elasticache:snapshot"
SUBNET_GROUP = "elasticache:subnet-group"

ENGINES = {
    "memcached": {"family": "memcached", "port": 11211, "versions": ["1.6.22", "1.6.17", "1.6.12"], "pg": "default.memcached1.6"},
    "redis": {"family": "valkey", "port": 6379, "versions": ["7.1", "7.0", "6.2"], "pg": "default.redis7"},
    "valkey": {"family": "valkey", "port": 6379, "versions": ["8.1", "8.0", "7.2"], "pg": "default.valkey8"},
}
ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,39}(?<!-)$")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message, 400)


def _combination(message: str) -> ServiceError:
    return ServiceError("InvalidParameterCombination", message, 400)


def _check_id(value: str | None, what: str) -> str:
    if not value or not ID.match(value):
        raise _invalid(f"The parameter {what} is not a valid identifier. Identifiers must begin with a letter; must contain only "
                       "ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.")
    return value.lower()


class ElastiCacheProvider(Provider):
    service = "elasticache"

    def resource_counts(self) -> dict[str, int]:
        read = self.runtime.store.read
        return {"cache-cluster": read.count(CLUSTER), "replication-group": read.count(GROUP), "snapshot": read.count(SNAPSHOT)}

    def _arn(self, ctx: RequestContext, kind: str, name: str) -> str:
        return f"arn:{partition_of(ctx.region)}:elasticache:{ctx.region}:{ctx.account_id}:{kind}:{name}"

    def _engine(self, engine: str | None, version: str | None) -> tuple[str, str]:
        engine = (engine or "redis").lower()
        if engine not in ENGINES:
            raise _invalid(f"Invalid engine {engine}: use memcached, redis or valkey.")
        info = ENGINES[engine]
        if version is None:
            version = info["versions"][0]
        elif not any(v == version or v.startswith(version + ".") or version.startswith(v) for v in info["versions"]):
            raise _invalid(f"Cannot find version {version} for {engine}")
        try:
            binaries.require(info["family"])
        except binaries.EngineMissing as exc:
            raise _invalid(f"The {engine} engine cannot run: {exc}") from None
        return engine, version

    def _node_state(self, node: dict[str, Any]) -> str:
        status = self.runtime.store.read.get(STATUS, node["NodeKey"]) or {}
        return {"running": "available", "failed": "failed", "recovering": "rebooting cache cluster nodes",
                "rebooting": "rebooting cache cluster nodes"}.get(status.get("state"), "creating")

    def _cluster_state(self, doc: dict[str, Any]) -> str:
        if doc.get("Status") == "deleting":
            return "deleting"
        states = {self._node_state(n) for n in doc["Nodes"]}
        for state in ("failed", "creating", "rebooting cache cluster nodes"):
            if state in states:
                return "create-failed" if state == "failed" else state
        return "available"

    def _spec(self, ctx: RequestContext, doc: dict[str, Any], node: dict[str, Any], **extra: Any) -> dict[str, Any]:
        info = ENGINES[doc["Engine"]]
        spec = {"family": info["family"], "version": doc["EngineVersion"], "address": node["Address"], "port": doc["Port"],
                "desired": "running", "params": {}, "config_gen": 0, "reboot_gen": 0, "password_gen": 0,
                "owner": {"service": "elasticache", "scope": ctx.scope, "id": doc["CacheClusterId"], "node": node["NodeKey"]}}
        spec.update(extra)
        return spec

    @staticmethod
    def _dns(ctx: RequestContext, *labels: str) -> str:
        """AWS's name for an endpoint, kept in the records for the Route 53 DNS plane (the
        Address handed out is the loopback IP, which needs no resolver)."""
        import hashlib

        account_hash = hashlib.sha1(f"{ctx.account_id}/{ctx.region}".encode()).hexdigest()[:6]
        return ".".join([labels[0], account_hash, *labels[1:], ctx.region, "cache.amazonaws.com"])

    def _new_nodes(self, txn, ctx: RequestContext, doc: dict[str, Any], count: int) -> None:
        for i in range(count):
            node_id = f"{i + 1:04d}"
            key = f"ec/{ctx.scope}/{doc['CacheClusterId']}/{node_id}/{secrets.token_hex(4)}"
            node = {"CacheNodeId": node_id, "NodeKey": key, "Address": addresses.allocate(txn, doc["Port"], key),
                    "Created": ctx.clock.time(), "DnsName": self._dns(ctx, doc["CacheClusterId"], node_id)}
            doc["Nodes"].append(node)

    def _cluster_doc(self, ctx: RequestContext, cluster_id: str, engine: str, version: str, params: dict[str, Any],
                     group_id: str | None = None) -> dict[str, Any]:
        zones = [z["ZoneName"] for z in availability_zones(ctx.region)]
        az = params.get("PreferredAvailabilityZone")
        if az and az not in zones:
            raise _invalid(f"Invalid availability zone: {az}")
        node_type = params.get("CacheNodeType") or "cache.t3.micro"
        if not node_type.startswith("cache."):
            raise _invalid(f"Invalid CacheNodeType: {node_type}")
        port = params.get("Port") or ENGINES[engine]["port"]
        if not 1024 <= port <= 65535:
            raise _invalid(f"Invalid port {port}.")
        return {"CacheClusterId": cluster_id, "Engine": engine, "EngineVersion": version, "CacheNodeType": node_type,
                "Port": port, "Nodes": [], "Created": ctx.clock.time(), "ReplicationGroupId": group_id,
                "PreferredAvailabilityZone": az or zones[secrets.randbelow(len(zones))],
                "CacheParameterGroupName": params.get("CacheParameterGroupName") or ENGINES[engine]["pg"],
                "CacheSubnetGroupName": params.get("CacheSubnetGroupName"), "SecurityGroupIds": params.get("SecurityGroupIds") or [],
                "SnapshotRetentionLimit": params.get("SnapshotRetentionLimit") or 0, "Tags": params.get("Tags") or [],
                "ConfigEndpoint": None}

    def _cluster_out(self, ctx: RequestContext, doc: dict[str, Any], show_nodes: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CacheClusterId": doc["CacheClusterId"], "CacheNodeType": doc["CacheNodeType"], "Engine": doc["Engine"],
            "EngineVersion": doc["EngineVersion"], "CacheClusterStatus": self._cluster_state(doc), "NumCacheNodes": len(doc["Nodes"]),
            "PreferredAvailabilityZone": doc["PreferredAvailabilityZone"], "CacheClusterCreateTime": _dt(doc["Created"]),
            "PreferredMaintenanceWindow": "sun:05:00-sun:06:00", "PendingModifiedValues": {}, "CacheSecurityGroups": [],
            "CacheParameterGroup": {"CacheParameterGroupName": doc["CacheParameterGroupName"], "ParameterApplyStatus": "in-sync",
                                    "CacheNodeIdsToReboot": []},
            "AutoMinorVersionUpgrade": True, "SecurityGroups": [{"SecurityGroupId": g, "Status": "active"} for g in doc["SecurityGroupIds"]],
            "SnapshotRetentionLimit": doc["SnapshotRetentionLimit"], "AuthTokenEnabled": False, "TransitEncryptionEnabled": False,
            "AtRestEncryptionEnabled": False, "ARN": self._arn(ctx, "cluster", doc["CacheClusterId"]), "NetworkType": "ipv4",
            "IpDiscovery": "ipv4", "ReplicationGroupLogDeliveryEnabled": False, "LogDeliveryConfigurations": [],
        }
        if doc.get("CacheSubnetGroupName"):
            out["CacheSubnetGroupName"] = doc["CacheSubnetGroupName"]
        if doc.get("ReplicationGroupId"):
            out["ReplicationGroupId"] = doc["ReplicationGroupId"]
        if doc.get("ConfigEndpoint"):
            out["ConfigurationEndpoint"] = {"Address": doc["ConfigEndpoint"]["Address"], "Port": doc["Port"]}
            out["ClientDownloadLandingPage"] = "https://console.aws.amazon.com/elasticache/home#client-download:"
        if show_nodes:
            out["CacheNodes"] = [{"CacheNodeId": n["CacheNodeId"], "CacheNodeStatus": self._node_state(n),
                                  "CacheNodeCreateTime": _dt(n["Created"]), "Endpoint": {"Address": n["Address"], "Port": doc["Port"]},
                                  "ParameterGroupStatus": "in-sync", "CustomerAvailabilityZone": doc["PreferredAvailabilityZone"]}
                                 for n in doc["Nodes"]]
        return out

    def _restore_source(self, ctx: RequestContext, params: dict[str, Any]) -> str | None:
        name = params.get("SnapshotName")
        if not name:
            return None
        snap = ctx.store.read.get(SNAPSHOT, name, ctx.scope)
        if snap is None:
            raise ServiceError("SnapshotNotFoundFault", f"Snapshot {name} not found.")
        job = ctx.store.read.get(JOB, snap["Job"]) or {}
        if job.get("state") != "available":
            raise ServiceError("InvalidSnapshotState", f"Snapshot {name} is not available.")
        return snap["DataName"]

    # -- cache clusters ----------------------------------------------------------------------

    def create_cache_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster_id = _check_id(params.get("CacheClusterId"), "CacheClusterId")
        if params.get("ReplicationGroupId"):
            raise ServiceError("NotImplemented", "Nimbus does not implement adding a cluster to a replication group yet; "
                               "create the group with NumCacheClusters.", 501)
        engine, version = self._engine(params.get("Engine"), params.get("EngineVersion"))
        count = params.get("NumCacheNodes")
        if count is None:
            raise _invalid("The parameter NumCacheNodes must be provided.")
        if engine != "memcached" and count != 1:
            raise _invalid(f"Cluster {cluster_id}: the number of nodes must be 1 for the {engine} engine; "
                           "use a replication group for replicas.")
        if not 1 <= count <= 40:
            raise _invalid("NumCacheNodes must be between 1 and 40.")
        if params.get("AuthToken"):
            raise _combination("Nimbus cannot serve in-transit encryption, which AUTH tokens require.")
        source = self._restore_source(ctx, params)
        if source and engine == "memcached":
            raise ServiceError("SnapshotFeatureNotSupportedFault", "Snapshots are not supported for Memcached clusters.")
        doc = self._cluster_doc(ctx, cluster_id, engine, version, params)
        with ctx.store.transaction() as txn:
            if txn.exists(CLUSTER, cluster_id, ctx.scope):
                raise ServiceError("CacheClusterAlreadyExists", f"Cache cluster {cluster_id} already exists.")
            self._new_nodes(txn, ctx, doc, count)
            if engine == "memcached":
                key = f"ec/{ctx.scope}/{cluster_id}/cfg/{secrets.token_hex(4)}"
                doc["ConfigEndpoint"] = {"Key": key, "Address": addresses.allocate(txn, doc["Port"], key),
                                         "DnsName": self._dns(ctx, cluster_id, "cfg")}
                txn.put(ENDPOINT, key, {"address": doc["ConfigEndpoint"]["Address"], "port": doc["Port"], "memcached_config": True,
                                        "targets": [n["NodeKey"] for n in doc["Nodes"]], "config_version": 1})
            for node in doc["Nodes"]:
                extra = {"restore": {"snapshot": source}} if source else {}
                txn.put(SPEC, node["NodeKey"], self._spec(ctx, doc, node, **extra))
            txn.put(CLUSTER, cluster_id, doc, ctx.scope)
        return {"CacheCluster": self._cluster_out(ctx, doc, False)}

    def _load_cluster(self, ctx: RequestContext, cluster_id: str | None) -> dict[str, Any]:
        doc = ctx.store.read.get(CLUSTER, (cluster_id or "").lower(), ctx.scope)
        if doc is None:
            raise ServiceError("CacheClusterNotFound", f"CacheCluster not found: {cluster_id}")
        return doc

    def describe_cache_clusters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("CacheClusterId"):
            docs = [self._load_cluster(ctx, params["CacheClusterId"])]
        else:
            docs = [d for _, d in ctx.store.read.scan(CLUSTER, ctx.scope)]
        if params.get("ShowCacheClustersNotInReplicationGroups"):
            docs = [d for d in docs if not d.get("ReplicationGroupId")]
        return self._page(params, [self._cluster_out(ctx, d, bool(params.get("ShowCacheNodeInfo"))) for d in docs], "CacheClusters")

    @staticmethod
    def _page(params: dict[str, Any], items: list[dict[str, Any]], member: str) -> dict[str, Any]:
        limit = params.get("MaxRecords") or 100
        if not 20 <= limit <= 100:
            raise _invalid("MaxRecords must be between 20 and 100.")
        marker = params.get("Marker") or "0"
        start = int(marker) if marker.isdigit() else 0
        out: dict[str, Any] = {member: items[start:start + limit]}
        if start + limit < len(items):
            out["Marker"] = str(start + limit)
        return out

    def _drop_cluster(self, txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
        for node in doc["Nodes"]:
            txn.delete(SPEC, node["NodeKey"])
            addresses.release(txn, node["Address"])
        if doc.get("ConfigEndpoint"):
            txn.delete(ENDPOINT, doc["ConfigEndpoint"]["Key"])
            addresses.release(txn, doc["ConfigEndpoint"]["Address"])
        txn.delete(CLUSTER, doc["CacheClusterId"], ctx.scope)

    def delete_cache_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load_cluster(ctx, params.get("CacheClusterId"))
        if doc.get("ReplicationGroupId"):
            raise ServiceError("InvalidCacheClusterState", f"Cache cluster {doc['CacheClusterId']} is a member of replication group "
                               f"{doc['ReplicationGroupId']}; delete the replication group instead.")
        if params.get("FinalSnapshotIdentifier"):
            self._snapshot(ctx, doc, params["FinalSnapshotIdentifier"])
        out = self._cluster_out(ctx, doc, False)
        out["CacheClusterStatus"] = "deleting"
        with ctx.store.transaction() as txn:
            self._drop_cluster(txn, ctx, doc)
        return {"CacheCluster": out}

    def reboot_cache_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load_cluster(ctx, params.get("CacheClusterId"))
        ids = set(params.get("CacheNodeIdsToReboot") or [])
        unknown = ids - {n["CacheNodeId"] for n in doc["Nodes"]}
        if not ids or unknown:
            raise _invalid(f"Invalid cache node ids: {', '.join(sorted(unknown)) or '(none)'}")
        with ctx.store.transaction() as txn:
            for node in doc["Nodes"]:
                if node["CacheNodeId"] in ids:
                    spec = txn.get(SPEC, node["NodeKey"])
                    spec["reboot_gen"] = spec.get("reboot_gen", 0) + 1
                    txn.put(SPEC, node["NodeKey"], spec)
        return {"CacheCluster": self._cluster_out(ctx, doc, False)}

    # -- replication groups ------------------------------------------------------------------

    def create_replication_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group_id = _check_id(params.get("ReplicationGroupId"), "ReplicationGroupId")
        if not params.get("ReplicationGroupDescription"):
            raise _invalid("The parameter ReplicationGroupDescription must be provided and must not be blank.")
        engine, version = self._engine(params.get("Engine") or "redis", params.get("EngineVersion"))
        if engine == "memcached":
            raise _invalid("Replication groups are for the redis and valkey engines; Memcached has cache clusters.")
        if (params.get("NumNodeGroups") or 1) > 1 or params.get("ClusterMode") == "enabled" or \
                (params.get("CacheParameterGroupName") or "").endswith(".cluster.on"):
            raise ServiceError("NotImplemented", "Nimbus does not implement cluster mode enabled (sharded) replication groups yet.", 501)
        if params.get("PrimaryClusterId"):
            raise ServiceError("NotImplemented", "Nimbus does not implement building a replication group from an existing cluster yet.", 501)
        if params.get("AuthToken"):
            raise _combination("Nimbus cannot serve in-transit encryption, which AUTH tokens require.")
        count = params.get("NumCacheClusters")
        if count is None:
            count = 1 + (params.get("ReplicasPerNodeGroup") or 0)
        if not 1 <= count <= 6:
            raise _invalid("NumCacheClusters must be between 1 and 6 (a primary and up to 5 replicas).")
        auto = params.get("AutomaticFailoverEnabled")
        if auto and count < 2:
            raise _combination("Automatic failover requires at least one replica (NumCacheClusters >= 2).")
        if params.get("MultiAZEnabled") and not auto:
            raise _combination("Multi-AZ requires AutomaticFailoverEnabled.")
        source = self._restore_source(ctx, params)
        port = params.get("Port") or ENGINES[engine]["port"]
        now = ctx.clock.time()
        group = {"ReplicationGroupId": group_id, "Description": params["ReplicationGroupDescription"], "Engine": engine,
                 "EngineVersion": version, "CacheNodeType": params.get("CacheNodeType") or "cache.t3.micro", "Port": port,
                 "AutomaticFailover": bool(auto), "MultiAZ": bool(params.get("MultiAZEnabled")), "Created": now,
                 "Members": [], "Primary": None, "Tags": params.get("Tags") or [],
                 "SnapshotRetentionLimit": params.get("SnapshotRetentionLimit") or 0}
        with ctx.store.transaction() as txn:
            if txn.exists(GROUP, group_id, ctx.scope):
                raise ServiceError("ReplicationGroupAlreadyExists", f"Replication group {group_id} already exists.")
            primary_key = None
            docs = []
            for i in range(count):
                cluster_id = f"{group_id}-{i + 1:03d}"
                if txn.exists(CLUSTER, cluster_id, ctx.scope):
                    raise ServiceError("CacheClusterAlreadyExists", f"Cache cluster {cluster_id} already exists.")
                doc = self._cluster_doc(ctx, cluster_id, engine, version, {**params, "Port": port}, group_id)
                self._new_nodes(txn, ctx, doc, 1)
                node = doc["Nodes"][0]
                extra: dict[str, Any] = {}
                if i == 0:
                    primary_key = node["NodeKey"]
                    if source:
                        extra["restore"] = {"snapshot": source}
                else:
                    extra["replica_of"] = primary_key
                txn.put(SPEC, node["NodeKey"], self._spec(ctx, doc, node, **extra))
                txn.put(CLUSTER, cluster_id, doc, ctx.scope)
                group["Members"].append(cluster_id)
                docs.append(doc)
            group["Primary"] = group["Members"][0]
            member_keys = [d["Nodes"][0]["NodeKey"] for d in docs]
            for d in docs:  # every node knows its group, for automatic failover in the engines plane
                spec = txn.get(SPEC, d["Nodes"][0]["NodeKey"])
                spec["group"], spec["auto_failover"] = member_keys, bool(auto)
                txn.put(SPEC, d["Nodes"][0]["NodeKey"], spec)
            for role in ("primary", "reader"):
                key = f"ec/{ctx.scope}/{group_id}/{role}/{secrets.token_hex(4)}"
                group[f"{role}_endpoint"] = {"Key": key, "Address": addresses.allocate(txn, port, key),
                                             "DnsName": self._dns(ctx, "master" if role == "primary" else "replica", group_id)}
            self._write_endpoints(txn, ctx, group, docs)
            txn.put(GROUP, group_id, group, ctx.scope)
        return {"ReplicationGroup": self._group_out(ctx, group)}

    def _write_endpoints(self, txn, ctx: RequestContext, group: dict[str, Any], docs: list[dict[str, Any]] | None = None) -> None:
        docs = docs or [txn.get(CLUSTER, m, ctx.scope) for m in group["Members"]]
        keys = [d["Nodes"][0]["NodeKey"] for d in docs]
        # The engines plane routes by the members' current roles, so both endpoints stay
        # right across TestFailover and automatic failover.
        txn.put(ENDPOINT, group["primary_endpoint"]["Key"], {"address": group["primary_endpoint"]["Address"], "port": group["Port"],
                                                             "targets": keys, "mode": "primary"})
        txn.put(ENDPOINT, group["reader_endpoint"]["Key"], {"address": group["reader_endpoint"]["Address"], "port": group["Port"],
                                                            "targets": keys, "mode": "replicas"})

    def _load_group(self, ctx: RequestContext, group_id: str | None) -> dict[str, Any]:
        doc = ctx.store.read.get(GROUP, (group_id or "").lower(), ctx.scope)
        if doc is None:
            raise ServiceError("ReplicationGroupNotFoundFault", f"ReplicationGroup {group_id} not found.")
        return doc

    def _current_primary(self, ctx: RequestContext, group: dict[str, Any]) -> str:
        """The member that is primary now (automatic failover moves it without an API call)."""
        for member in group["Members"]:
            doc = ctx.store.read.get(CLUSTER, member, ctx.scope)
            spec = ctx.store.read.get(SPEC, doc["Nodes"][0]["NodeKey"]) if doc else None
            if spec is not None and not spec.get("replica_of"):
                return member
        return group["Primary"]

    def _group_out(self, ctx: RequestContext, group: dict[str, Any]) -> dict[str, Any]:
        group = dict(group, Primary=self._current_primary(ctx, group))
        clusters = [ctx.store.read.get(CLUSTER, m, ctx.scope) for m in group["Members"]]
        clusters = [c for c in clusters if c]
        states = {self._cluster_state(c) for c in clusters}
        status = "available" if states == {"available"} else ("create-failed" if "create-failed" in states else "creating")
        if group.get("Status") == "deleting":
            status = "deleting"
        members = [{"CacheClusterId": c["CacheClusterId"], "CacheNodeId": "0001",
                    "ReadEndpoint": {"Address": c["Nodes"][0]["Address"], "Port": group["Port"]},
                    "PreferredAvailabilityZone": c["PreferredAvailabilityZone"],
                    "CurrentRole": "primary" if c["CacheClusterId"] == group["Primary"] else "replica"} for c in clusters]
        return {
            "ReplicationGroupId": group["ReplicationGroupId"], "Description": group["Description"], "Status": status,
            "PendingModifiedValues": {}, "MemberClusters": group["Members"],
            "NodeGroups": [{"NodeGroupId": "0001", "Status": status,
                            "PrimaryEndpoint": {"Address": group["primary_endpoint"]["Address"], "Port": group["Port"]},
                            "ReaderEndpoint": {"Address": group["reader_endpoint"]["Address"], "Port": group["Port"]},
                            "NodeGroupMembers": members}],
            "AutomaticFailover": "enabled" if group["AutomaticFailover"] else "disabled",
            "MultiAZ": "enabled" if group["MultiAZ"] else "disabled", "SnapshotRetentionLimit": group["SnapshotRetentionLimit"],
            "SnapshottingClusterId": group["Members"][-1], "ClusterEnabled": False, "CacheNodeType": group["CacheNodeType"],
            "AuthTokenEnabled": False, "TransitEncryptionEnabled": False, "AtRestEncryptionEnabled": False,
            "ARN": self._arn(ctx, "replicationgroup", group["ReplicationGroupId"]), "ReplicationGroupCreateTime": _dt(group["Created"]),
            "DataTiering": "disabled", "AutoMinorVersionUpgrade": True, "NetworkType": "ipv4", "IpDiscovery": "ipv4",
            "ClusterMode": "disabled", "Engine": group["Engine"], "MemberClustersOutpostArns": [], "UserGroupIds": [],
            "LogDeliveryConfigurations": [],
        }

    def describe_replication_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("ReplicationGroupId"):
            groups = [self._load_group(ctx, params["ReplicationGroupId"])]
        else:
            groups = [g for _, g in ctx.store.read.scan(GROUP, ctx.scope)]
        return self._page(params, [self._group_out(ctx, g) for g in groups], "ReplicationGroups")

    def delete_replication_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_group(ctx, params.get("ReplicationGroupId"))
        if params.get("FinalSnapshotIdentifier"):
            primary = self._load_cluster(ctx, self._current_primary(ctx, group))
            self._snapshot(ctx, primary, params["FinalSnapshotIdentifier"])
        out = self._group_out(ctx, group)
        out["Status"] = "deleting"
        with ctx.store.transaction() as txn:
            for member in group["Members"]:
                doc = txn.get(CLUSTER, member, ctx.scope)
                if doc:
                    self._drop_cluster(txn, ctx, doc)
            for role in ("primary", "reader"):
                txn.delete(ENDPOINT, group[f"{role}_endpoint"]["Key"])
                addresses.release(txn, group[f"{role}_endpoint"]["Address"])
            txn.delete(GROUP, group["ReplicationGroupId"], ctx.scope)
        return {"ReplicationGroup": out}

    def test_failover(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_group(ctx, params.get("ReplicationGroupId"))
        if params.get("NodeGroupId") != "0001":
            raise ServiceError("NodeGroupNotFoundFault", f"NodeGroup {params.get('NodeGroupId')} not found.")
        if not group["AutomaticFailover"]:
            raise _combination("TestFailover requires AutomaticFailoverEnabled on the replication group.")
        if self._group_out(ctx, group)["Status"] != "available":
            raise ServiceError("InvalidReplicationGroupState", f"Replication group {group['ReplicationGroupId']} is not available.")
        group["Primary"] = self._current_primary(ctx, group)
        new_primary = next(m for m in group["Members"] if m != group["Primary"])
        with ctx.store.transaction() as txn:
            docs = {m: txn.get(CLUSTER, m, ctx.scope) for m in group["Members"]}
            primary_key = docs[new_primary]["Nodes"][0]["NodeKey"]
            for member, doc in docs.items():
                spec = txn.get(SPEC, doc["Nodes"][0]["NodeKey"])
                spec["replica_of"] = None if member == new_primary else primary_key
                txn.put(SPEC, doc["Nodes"][0]["NodeKey"], spec)
            group["Primary"] = new_primary
            self._write_endpoints(txn, ctx, group, list(docs.values()))
            txn.put(GROUP, group["ReplicationGroupId"], group, ctx.scope)
        return {"ReplicationGroup": self._group_out(ctx, group)}

    # -- snapshots ---------------------------------------------------------------------------

    def _snapshot(self, ctx: RequestContext, cluster: dict[str, Any], name: str) -> dict[str, Any]:
        if cluster["Engine"] == "memcached":
            raise ServiceError("SnapshotFeatureNotSupportedFault", "Snapshots are not supported for Memcached clusters.")
        if not name or not re.match(r"^[a-zA-Z][a-zA-Z0-9-]{0,254}$", name):
            raise _invalid(f"Invalid snapshot name: {name}")
        data_name = f"ec/{ctx.scope}/{name}/{secrets.token_hex(4)}"
        snap = {"SnapshotName": name, "CacheClusterId": cluster["CacheClusterId"], "ReplicationGroupId": cluster.get("ReplicationGroupId"),
                "Engine": cluster["Engine"], "EngineVersion": cluster["EngineVersion"], "CacheNodeType": cluster["CacheNodeType"],
                "Port": cluster["Port"], "Created": ctx.clock.time(), "DataName": data_name, "Job": data_name}
        with ctx.store.transaction() as txn:
            if not txn.insert(SNAPSHOT, name, snap, ctx.scope):
                raise ServiceError("SnapshotAlreadyExistsFault", f"Snapshot {name} already exists.")
            txn.put(JOB, data_name, {"op": "snapshot", "node": cluster["Nodes"][0]["NodeKey"], "name": data_name, "state": "pending"})
        return snap

    def _snapshot_out(self, ctx: RequestContext, snap: dict[str, Any]) -> dict[str, Any]:
        job = ctx.store.read.get(JOB, snap["Job"]) or {}
        status = {"pending": "creating", "available": "available", "failed": "failed"}.get(job.get("state"), "available")
        out = {"SnapshotName": snap["SnapshotName"], "CacheClusterId": snap["CacheClusterId"], "SnapshotStatus": status,
               "SnapshotSource": "manual", "CacheNodeType": snap["CacheNodeType"], "Engine": snap["Engine"],
               "EngineVersion": snap["EngineVersion"], "NumCacheNodes": 1, "Port": snap["Port"],
               "CacheClusterCreateTime": _dt(snap["Created"]), "ARN": self._arn(ctx, "snapshot", snap["SnapshotName"]),
               "NodeSnapshots": [{"CacheClusterId": snap["CacheClusterId"], "CacheNodeId": "0001",
                                  "SnapshotCreateTime": _dt(snap["Created"]), "CacheSize": f"{job.get('size', 0) / 1e6:.1f} MB"}]}
        if snap.get("ReplicationGroupId"):
            out["ReplicationGroupId"] = snap["ReplicationGroupId"]
        return out

    def create_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("ReplicationGroupId"):
            group = self._load_group(ctx, params["ReplicationGroupId"])
            cluster = self._load_cluster(ctx, self._current_primary(ctx, group))
        elif params.get("CacheClusterId"):
            cluster = self._load_cluster(ctx, params["CacheClusterId"])
        else:
            raise _invalid("Either ReplicationGroupId or CacheClusterId must be given.")
        return {"Snapshot": self._snapshot_out(ctx, self._snapshot(ctx, cluster, params.get("SnapshotName") or ""))}

    def describe_snapshots(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        snaps = [s for _, s in ctx.store.read.scan(SNAPSHOT, ctx.scope)]
        if params.get("SnapshotName"):
            snaps = [s for s in snaps if s["SnapshotName"] == params["SnapshotName"]]
            if not snaps:
                raise ServiceError("SnapshotNotFoundFault", f"Snapshot {params['SnapshotName']} not found.")
        for field in ("CacheClusterId", "ReplicationGroupId"):
            if params.get(field):
                snaps = [s for s in snaps if s.get(field) == params[field].lower()]
        limit = params.get("MaxRecords") or 50
        return {"Snapshots": [self._snapshot_out(ctx, s) for s in snaps][:limit]}

    def delete_snapshot(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("SnapshotName") or ""
        snap = ctx.store.read.get(SNAPSHOT, name, ctx.scope)
        if snap is None:
            raise ServiceError("SnapshotNotFoundFault", f"Snapshot {name} not found.")
        out = self._snapshot_out(ctx, snap)
        if out["SnapshotStatus"] == "creating":
            raise ServiceError("InvalidSnapshotState", f"Snapshot {name} is being created.")
        out["SnapshotStatus"] = "deleting"
        with ctx.store.transaction() as txn:
            txn.delete(SNAPSHOT, name, ctx.scope)
            txn.delete(JOB, snap["Job"])
        return {"Snapshot": out}

    # -- subnet groups -------------------------------------------------------------------------

    def _subnet_out(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        return {"CacheSubnetGroupName": doc["Name"], "CacheSubnetGroupDescription": doc["Description"], "VpcId": doc["VpcId"],
                "Subnets": [{"SubnetIdentifier": s["SubnetId"], "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
                             "SupportedNetworkTypes": ["ipv4"]} for s in doc["Subnets"]],
                "ARN": self._arn(ctx, "subnetgroup", doc["Name"]), "SupportedNetworkTypes": ["ipv4"]}

    def create_cache_subnet_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = (params.get("CacheSubnetGroupName") or "").lower()
        if not re.match(r"^[a-z0-9-]{1,255}$", name):
            raise _invalid(f"Invalid CacheSubnetGroupName: {params.get('CacheSubnetGroupName')}")
        subnets, bad = [], []
        for subnet_id in params.get("SubnetIds") or []:
            subnet = ctx.store.read.get("ec2:subnet", subnet_id, ctx.scope)
            if subnet is None:
                bad.append(subnet_id)
            else:
                subnets.append({"SubnetId": subnet_id, "AvailabilityZone": subnet.get("AvailabilityZone"), "VpcId": subnet.get("VpcId")})
        if bad or not subnets:
            raise ServiceError("InvalidSubnet", f"Some input subnets in :[{', '.join(bad)}] are invalid.")
        doc = {"Name": name, "Description": params.get("CacheSubnetGroupDescription") or "", "Subnets": subnets,
               "VpcId": subnets[0]["VpcId"]}
        with ctx.store.transaction() as txn:
            if not txn.insert(SUBNET_GROUP, name, doc, ctx.scope):
                raise ServiceError("CacheSubnetGroupAlreadyExists", f"Cache subnet group {name} already exists.")
        return {"CacheSubnetGroup": self._subnet_out(ctx, doc)}

    def describe_cache_subnet_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = [d for _, d in ctx.store.read.scan(SUBNET_GROUP, ctx.scope)]
        if params.get("CacheSubnetGroupName"):
            docs = [d for d in docs if d["Name"] == params["CacheSubnetGroupName"].lower()]
            if not docs:
                raise ServiceError("CacheSubnetGroupNotFoundFault", f"Cache subnet group {params['CacheSubnetGroupName']} not found.")
        return self._page(params, [self._subnet_out(ctx, d) for d in docs], "CacheSubnetGroups")

    def delete_cache_subnet_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = (params.get("CacheSubnetGroupName") or "").lower()
        if not ctx.store.read.exists(SUBNET_GROUP, name, ctx.scope):
            raise ServiceError("CacheSubnetGroupNotFoundFault", f"Cache subnet group {name} not found.")
        for _, c in ctx.store.read.scan(CLUSTER, ctx.scope):
            if (c.get("CacheSubnetGroupName") or "").lower() == name:
                raise ServiceError("CacheSubnetGroupInUse", f"Cache subnet group {name} is in use.")
        with ctx.store.transaction() as txn:
            txn.delete(SUBNET_GROUP, name, ctx.scope)
        return {}

    def describe_cache_engine_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        out = []
        for engine, info in ENGINES.items():
            if params.get("Engine") and params["Engine"] != engine:
                continue
            for version in info["versions"][:1] if params.get("DefaultOnly") else info["versions"]:
                if params.get("EngineVersion") and params["EngineVersion"] != version:
                    continue
                out.append({"Engine": engine, "EngineVersion": version, "CacheParameterGroupFamily": info["pg"].split(".", 1)[1],
                            "CacheEngineDescription": {"memcached": "Memcached", "redis": "Redis OSS (served by Valkey)",
                                                       "valkey": "Valkey"}[engine],
                            "CacheEngineVersionDescription": f"{engine} {version}"})
        return self._page(params, out, "CacheEngineVersions")
