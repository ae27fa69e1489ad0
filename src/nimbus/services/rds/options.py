"""RDS option groups: recorded and validated, not applied to the engines.

``rds:option-group`` (scope ``<account>/<region>``) keyed by the lower-cased name.  Each
engine and major version has a default group (``default:mysql-8-0``) that exists without
a record and cannot be changed.  The options Nimbus knows are those RDS offers for the
engines it runs (the MariaDB audit plugin for ``mysql`` and ``mariadb``; PostgreSQL has
no options); settings are checked against their allowed values.  An instance's group
must match its engine and major version, and a group in use cannot be deleted.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from .engines import ENGINES

OPTION_GROUP = "rds:option-group"

_AUDIT = {
    "Name": "MARIADB_AUDIT_PLUGIN", "Description": "MariaDB Audit Plugin", "PortRequired": False, "Persistent": False,
    "Permanent": False, "RequiresAutoMinorEngineVersionUpgrade": False, "VpcOnly": False, "OptionsDependedOn": [],
    "OptionsConflictsWith": [], "SupportsOptionVersionDowngrade": False, "CopyableCrossAccount": True,
    "OptionGroupOptionSettings": [
        {"SettingName": "SERVER_AUDIT_EVENTS", "SettingDescription": "The types of events to log.", "DefaultValue": "CONNECT,QUERY",
         "ApplyType": "DYNAMIC", "AllowedValues": "CONNECT,QUERY,TABLE,QUERY_DDL,QUERY_DML,QUERY_DCL", "IsModifiable": True,
         "IsRequired": False},
        {"SettingName": "SERVER_AUDIT_INCL_USERS", "SettingDescription": "Only log events from these users.", "ApplyType": "DYNAMIC",
         "IsModifiable": True, "IsRequired": False},
        {"SettingName": "SERVER_AUDIT_EXCL_USERS", "SettingDescription": "Exclude events from these users.", "ApplyType": "DYNAMIC",
         "IsModifiable": True, "IsRequired": False},
        {"SettingName": "SERVER_AUDIT_FILE_ROTATIONS", "SettingDescription": "Log file rotations to keep.", "DefaultValue": "9",
         "ApplyType": "DYNAMIC", "AllowedValues": "0-100", "IsModifiable": True, "IsRequired": False},
        {"SettingName": "SERVER_AUDIT_FILE_ROTATE_SIZE", "SettingDescription": "Log file size in bytes before rotation.",
         "DefaultValue": "1000000", "ApplyType": "DYNAMIC", "AllowedValues": "1-1000000000", "IsModifiable": True, "IsRequired": False},
    ],
}
OPTIONS: dict[str, list[dict[str, Any]]] = {"mysql": [_AUDIT], "mariadb": [_AUDIT], "postgres": []}


def major_versions(engine: str) -> list[str]:
    info = ENGINES[engine]
    cut = 1 if info["family"] == "postgres" else 2
    return sorted({".".join(v.split(".")[:cut]) for v in info["versions"]}, key=lambda v: [int(x) for x in v.split(".")])


def major_of(engine: str, version: str) -> str:
    return ".".join(version.split(".")[:1 if ENGINES[engine]["family"] == "postgres" else 2])


def default_name(engine: str, major: str) -> str:
    return f"default:{engine}-{major.replace('.', '-')}"


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)  # declared by the model, which gives the status


def _not_found(name: str | None) -> ServiceError:
    return _error("OptionGroupNotFoundFault", f"Specified OptionGroupName: {name} not found.")


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message, 400)


class OptionGroupsMixin:
    """The option-group operations of the RDS provider."""

    def _option_group(self, ctx: RequestContext, name: str | None) -> dict[str, Any]:
        """A group by name, default groups included."""
        if not name:
            raise _invalid("The parameter OptionGroupName must be provided and must not be blank.")
        if name.startswith("default:"):
            for engine in OPTIONS:
                for major in major_versions(engine):
                    if default_name(engine, major) == name.lower():
                        return {"OptionGroupName": default_name(engine, major), "EngineName": engine, "MajorEngineVersion": major,
                                "OptionGroupDescription": f"Default option group for {engine} {major}", "Options": {},
                                "Default": True, "Tags": []}
            raise _not_found(name)
        doc = ctx.store.read.get(OPTION_GROUP, name.lower(), ctx.scope)
        if doc is None:
            raise _not_found(name)
        return doc

    def _option_group_out(self, ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
        catalogue = {o["Name"]: o for o in OPTIONS[doc["EngineName"]]}
        options = []
        for name, option in sorted(doc.get("Options", {}).items()):
            spec = catalogue[name]
            options.append({
                "OptionName": name, "OptionDescription": spec["Description"], "Persistent": spec["Persistent"],
                "Permanent": spec["Permanent"], "DBSecurityGroupMemberships": [],
                "VpcSecurityGroupMemberships": [{"VpcSecurityGroupId": g, "Status": "active"} for g in option.get("VpcSecurityGroups", [])],
                "OptionSettings": [{"Name": s["SettingName"], "Value": option["Settings"].get(s["SettingName"], s.get("DefaultValue", "")),
                                    "DefaultValue": s.get("DefaultValue", ""), "Description": s["SettingDescription"],
                                    "ApplyType": s["ApplyType"], "DataType": "STRING", "AllowedValues": s.get("AllowedValues", ""),
                                    "IsModifiable": s["IsModifiable"], "IsCollection": False}
                                   for s in spec["OptionGroupOptionSettings"]],
            })
        return {"OptionGroupName": doc["OptionGroupName"], "OptionGroupDescription": doc["OptionGroupDescription"],
                "EngineName": doc["EngineName"], "MajorEngineVersion": doc["MajorEngineVersion"], "Options": options,
                "AllowsVpcAndNonVpcInstanceMemberships": True,
                "OptionGroupArn": self._arn(ctx, "og", doc["OptionGroupName"])}  # type: ignore[attr-defined]

    def create_option_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("OptionGroupName") or ""
        if not re.match(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$", name):
            raise _invalid(f"The parameter OptionGroupName is not a valid identifier: {name}. It must begin with a letter, "
                           "contain only letters, digits and hyphens, not end with a hyphen or contain two consecutive hyphens.")
        engine = params.get("EngineName")
        if engine not in OPTIONS:
            raise _invalid(f"Invalid DB engine: {engine}. Nimbus has option groups for {', '.join(sorted(OPTIONS))}.")
        major = params.get("MajorEngineVersion")
        if major not in major_versions(engine):
            raise _invalid(f"Cannot find major version {major} for {engine}; valid: {', '.join(major_versions(engine))}.")
        if not params.get("OptionGroupDescription"):
            raise _invalid("The parameter OptionGroupDescription must be provided and must not be blank.")
        doc = {"OptionGroupName": name, "EngineName": engine, "MajorEngineVersion": major,
               "OptionGroupDescription": params["OptionGroupDescription"], "Options": {},
               "Tags": [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []]}
        with ctx.store.transaction() as txn:
            if txn.count(OPTION_GROUP, ctx.scope) >= 20:
                raise _error("OptionGroupQuotaExceededFault", "Quota of 20 option groups exceeded for this AWS account.")
            if not txn.insert(OPTION_GROUP, name.lower(), doc, ctx.scope):
                raise _error("OptionGroupAlreadyExistsFault", f"Option group {name} already exists.")
        return {"OptionGroup": self._option_group_out(ctx, doc)}

    def describe_option_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("OptionGroupName"):
            docs = [self._option_group(ctx, params["OptionGroupName"])]
        else:
            docs = [self._option_group(ctx, default_name(e, m)) for e in OPTIONS for m in major_versions(e)]
            docs += [d for _, d in ctx.store.read.scan(OPTION_GROUP, ctx.scope)]
        if params.get("EngineName"):
            docs = [d for d in docs if d["EngineName"] == params["EngineName"]]
        if params.get("MajorEngineVersion"):
            if not params.get("EngineName"):
                raise ServiceError("InvalidParameterCombination", "MajorEngineVersion needs EngineName.", 400)
            docs = [d for d in docs if d["MajorEngineVersion"] == params["MajorEngineVersion"]]
        return self._page(params, [self._option_group_out(ctx, d) for d in docs], "OptionGroupsList")  # type: ignore[attr-defined]

    def describe_option_group_options(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        engine = params.get("EngineName")
        if engine not in OPTIONS:
            raise _invalid(f"Invalid DB engine: {engine}")
        majors = [params["MajorEngineVersion"]] if params.get("MajorEngineVersion") else major_versions(engine)
        out = [dict(o, EngineName=engine, MajorEngineVersion=m) for m in majors for o in OPTIONS[engine]]
        return self._page(params, out, "OptionGroupOptions")  # type: ignore[attr-defined]

    def _editable_group(self, ctx: RequestContext, name: str | None) -> dict[str, Any]:
        doc = self._option_group(ctx, name)
        if doc.get("Default"):
            raise _invalid(f"Default option groups cannot be modified or deleted: {doc['OptionGroupName']}")
        return doc

    def modify_option_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._editable_group(ctx, params.get("OptionGroupName"))
        catalogue = {o["Name"]: o for o in OPTIONS[doc["EngineName"]]}
        include, remove = params.get("OptionsToInclude") or [], params.get("OptionsToRemove") or []
        if not include and not remove:
            raise _invalid("Give OptionsToInclude or OptionsToRemove.")
        options = dict(doc.get("Options", {}))
        for name in remove:
            if name not in options:
                raise _invalid(f"Option {name} is not in option group {doc['OptionGroupName']}.")
            options.pop(name)
        for item in include:
            name = item.get("OptionName")
            if name not in catalogue:
                raise _invalid(f"Option {name} is not available for {doc['EngineName']} {doc['MajorEngineVersion']}"
                               + (f"; available: {', '.join(sorted(catalogue))}." if catalogue else ": it has no options."))
            spec = catalogue[name]
            if item.get("Port") is not None and not spec["PortRequired"]:
                raise ServiceError("InvalidParameterCombination", f"Option {name} does not take a port.", 400)
            known = {s["SettingName"]: s for s in spec["OptionGroupOptionSettings"]}
            settings = dict((options.get(name) or {}).get("Settings", {}))
            for setting in item.get("OptionSettings") or []:
                sname, value = setting.get("Name"), str(setting.get("Value", ""))
                if sname not in known:
                    raise _invalid(f"Invalid option setting {sname} for option {name}.")
                allowed = known[sname].get("AllowedValues")
                if allowed and re.match(r"^\d+-\d+$", allowed):
                    lo, hi = (int(x) for x in allowed.split("-"))
                    if not value.isdigit() or not lo <= int(value) <= hi:
                        raise _invalid(f"Value {value} is outside the allowed range {allowed} for option setting {sname}.")
                elif allowed:
                    bad = [v for v in value.split(",") if v and v not in allowed.split(",")]
                    if bad or not value:
                        raise _invalid(f"Invalid value {value} for option setting {sname}; allowed: {allowed}.")
                settings[sname] = value
            options[name] = {"Settings": settings, "VpcSecurityGroups": item.get("VpcSecurityGroupMemberships") or []}
        doc["Options"] = options
        with ctx.store.transaction() as txn:
            txn.put(OPTION_GROUP, doc["OptionGroupName"].lower(), doc, ctx.scope)
        return {"OptionGroup": self._option_group_out(ctx, doc)}

    def delete_option_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from .provider import INSTANCE

        doc = self._editable_group(ctx, params.get("OptionGroupName"))
        for _, inst in ctx.store.read.scan(INSTANCE, ctx.scope):
            if (inst.get("OptionGroupName") or "").lower() == doc["OptionGroupName"].lower():
                raise _error("InvalidOptionGroupStateFault", f"The option group '{doc['OptionGroupName']}' cannot be deleted "
                             f"because it is in use by DB instance {inst['DBInstanceIdentifier']}.")
        with ctx.store.transaction() as txn:
            txn.delete(OPTION_GROUP, doc["OptionGroupName"].lower(), ctx.scope)
        return {}

    def _instance_option_group(self, ctx: RequestContext, name: str | None, engine: str, version: str) -> str:
        """The option group an instance of ``engine`` ``version`` gets: the named one (checked) or the default."""
        base = "mysql" if engine == "aurora-mysql" else "postgres" if engine == "aurora-postgresql" else engine
        major = major_of(engine, version)
        if not name:
            return default_name(base, major) if base in OPTIONS and major in major_versions(base) else f"default:{base}"
        doc = self._option_group(ctx, name)
        if doc["EngineName"] != base or doc["MajorEngineVersion"] != major:
            raise ServiceError("InvalidParameterCombination", f"The option group {doc['OptionGroupName']} is for "
                               f"{doc['EngineName']} {doc['MajorEngineVersion']}, not {engine} {major}.", 400)
        return doc["OptionGroupName"]
