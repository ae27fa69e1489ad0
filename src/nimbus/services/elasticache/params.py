"""Cache parameter groups: the parameters each family knows, and what reaches the engine.

Records: ``elasticache:parameter-group`` (scope ``<account>/<region>``) hold a custom
group's family, description and the values users set (``Values``).  Default groups
(``default.redis7``, ``default.valkey8.cluster.on`` …) are not stored: they are the
family's defaults.  ``engine_params`` turns a group into the ``params`` of an engine spec
(only values a user set, and only parameters the engine itself has); the Valkey driver
applies them with ``CONFIG SET`` at once, static ones (``databases``, Memcached's) at the
next reboot, as ElastiCache does.
"""

from __future__ import annotations

from typing import Any

PARAMETER_GROUP = "elasticache:parameter-group"

POLICIES = "volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,volatile-ttl,noeviction"

# name: (default, data type, allowed values, modifiable, change type, reaches the engine, description)
VALKEY: dict[str, tuple[str, str, str, bool, str, bool, str]] = {
    "maxmemory-policy": ("volatile-lru", "string", POLICIES, True, "immediate", True, "Max memory policy."),
    "maxmemory-samples": ("3", "integer", "1-", True, "immediate", True, "Max memory samples."),
    "timeout": ("0", "integer", "0,20-", True, "immediate", True, "Close connection if client is idle for a given number of seconds, or never if 0."),
    "tcp-keepalive": ("300", "integer", "0-", True, "immediate", True, "If non-zero, send ACKs every given number of seconds."),
    "notify-keyspace-events": ("", "string", "", True, "immediate", True, "The keyspace events for Redis to notify Pub/Sub clients about."),
    "slowlog-log-slower-than": ("10000", "integer", "", True, "immediate", True, "The execution time, in microseconds, to exceed in order for the command to get logged."),
    "slowlog-max-len": ("128", "integer", "0-", True, "immediate", True, "The length of the slow log."),
    "lfu-log-factor": ("10", "integer", "1-", True, "immediate", True, "The log factor for incrementing key counter for LFU eviction policy."),
    "lfu-decay-time": ("1", "integer", "0-", True, "immediate", True, "The amount of time in minutes to decrement the key counter for LFU eviction policy."),
    "hash-max-listpack-entries": ("128", "integer", "0-", True, "immediate", True, "The maximum number of hash entries in order for the dataset to be compressed."),
    "hash-max-listpack-value": ("64", "integer", "0-", True, "immediate", True, "The threshold of biggest hash entries in order for the dataset to be compressed."),
    "set-max-intset-entries": ("512", "integer", "0-", True, "immediate", True, "The limit in the size of the set in order for the dataset to be compressed."),
    "zset-max-listpack-entries": ("128", "integer", "0-", True, "immediate", True, "The maximum number of sorted set entries in order for the dataset to be compressed."),
    "zset-max-listpack-value": ("64", "integer", "0-", True, "immediate", True, "The threshold of biggest sorted set entries in order for the dataset to be compressed."),
    "activedefrag": ("no", "string", "yes,no", True, "immediate", True, "Enabled active memory defragmentation."),
    "lazyfree-lazy-eviction": ("no", "string", "yes,no", True, "immediate", True, "Perform an asynchronous delete on evictions."),
    "lazyfree-lazy-expire": ("no", "string", "yes,no", True, "immediate", True, "Perform an asynchronous delete on expired keys."),
    "databases": ("16", "integer", "1-1200000", True, "requires-reboot", True, "Set the number of databases."),
    "reserved-memory-percent": ("25", "integer", "0-100", True, "immediate", False, "The percent of memory reserved for non-cache memory usage."),
    "close-on-replica-write": ("yes", "string", "yes,no", True, "immediate", False, "If enabled, clients who attempt to write to a read-only replica will be disconnected."),
    "cluster-enabled": ("no", "string", "yes,no", True, "requires-reboot", False, "Enable cluster mode."),
    "cluster-require-full-coverage": ("no", "string", "yes,no", True, "immediate", True, "Whether cluster becomes unavailable if one or more slots are not covered."),
}

MEMCACHED: dict[str, tuple[str, str, str, bool, str, bool, str]] = {
    "max_item_size": ("1048576", "integer", "1048576-134217728", True, "requires-reboot", True, "The size of the largest item storable in the cache, in bytes."),
    "chunk_size": ("48", "integer", "1-", True, "requires-reboot", True, "The minimum amount, in bytes, of space to allocate for the smallest item's key, value, and flags."),
    "chunk_size_growth_factor": ("1.25", "float", "1-2", True, "requires-reboot", True, "The growth factor that controls the size of each successive memcached chunk."),
    "max_simultaneous_connections": ("65000", "integer", "3-65000", True, "requires-reboot", True, "The maximum number of simultaneous connections."),
}

FAMILIES = {"redis7": "valkey", "redis6.x": "valkey", "valkey7": "valkey", "valkey8": "valkey", "memcached1.6": "memcached"}


def family_of(engine: str, version: str) -> str:
    if engine == "memcached":
        return "memcached1.6"
    if engine == "valkey":
        return "valkey7" if version.startswith("7") else "valkey8"
    return "redis6.x" if version.startswith("6") else "redis7"


def table(family: str) -> dict[str, tuple[str, str, str, bool, str, bool, str]]:
    return MEMCACHED if FAMILIES[family] == "memcached" else VALKEY


def default_group(name: str) -> dict[str, Any] | None:
    """A default group (``default.<family>`` or ``default.<family>.cluster.on``), or None."""
    if not name.startswith("default."):
        return None
    rest = name[len("default."):]
    cluster = rest.endswith(".cluster.on")
    family = rest.removesuffix(".cluster.on")
    if family not in FAMILIES or (cluster and FAMILIES[family] != "valkey"):
        return None
    return {"Name": name, "Family": family, "Description": f"Default parameter group for {family}" +
            (" with cluster mode on" if cluster else ""), "Values": {"cluster-enabled": "yes"} if cluster else {}, "Default": True}


def check_value(family: str, name: str, value: str) -> str | None:
    """Why ``value`` is not valid for ``name`` (None when it is)."""
    spec = table(family).get(name)
    if spec is None:
        return f"Parameter {name} doesn't exist for family {family}."
    default, kind, allowed, modifiable = spec[:4]
    if not modifiable:
        return f"Parameter {name} is not modifiable."
    if kind == "string":
        if allowed and value not in allowed.split(","):
            return f"Invalid value for parameter {name}: {value}. Allowed values: {allowed}"
        return None
    try:
        number = float(value) if kind == "float" else int(value)
    except ValueError:
        return f"Invalid value for parameter {name}: {value}. It must be a{'' if kind == 'integer' else ' float'} number."
    if not allowed:
        return None
    for part in allowed.split(","):
        if "-" not in part[1:]:  # one value
            if number == float(part):
                return None
            continue
        lo, _, hi = part.partition("-")
        if (not lo or number >= float(lo)) and (not hi or number <= float(hi)):
            return None
    return f"Invalid value for parameter {name}: {value}. Allowed values: {allowed}"


def parameters_out(group: dict[str, Any], source: str | None = None) -> list[dict[str, Any]]:
    out = []
    for name, (default, kind, allowed, modifiable, change, _engine, description) in table(group["Family"]).items():
        user = name in group["Values"] and not group.get("Default")
        entry_source = "user" if user else "system"
        if source and source != entry_source:
            continue
        entry = {"ParameterName": name, "ParameterValue": group["Values"].get(name, default), "Description": description,
                 "Source": entry_source, "DataType": kind, "IsModifiable": modifiable and not group.get("Default"),
                 "MinimumEngineVersion": "7.0.0" if FAMILIES[group["Family"]] == "valkey" else "1.6.6", "ChangeType": change}
        if allowed:
            entry["AllowedValues"] = allowed
        out.append(entry)
    return out


def engine_params(group: dict[str, Any]) -> dict[str, str]:
    """What a node's engine is given: the values set in the group that the engine has."""
    spec = table(group["Family"])
    return {name: value for name, value in group["Values"].items() if name in spec and spec[name][5]}


def cluster_enabled(group: dict[str, Any]) -> bool:
    return group["Values"].get("cluster-enabled") == "yes"
