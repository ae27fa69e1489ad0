"""Launch templates and their versions, and how RunInstances merges them.

A template is one ``ec2:launch-template`` record in DescribeLaunchTemplates' shape; each
version is an ``ec2:launch-template-version`` record keyed ``<lt-id>/<number padded to
10 digits>`` so a scan returns one template's versions in order.  Version data is kept
as given (RequestLaunchTemplateData and ResponseLaunchTemplateData share member names),
so a version is returned as stored.

``resolve(ctx, spec)`` gives RunInstances the data of ``$Default``, ``$Latest`` or a
number; ``merge(params, data)`` lets every parameter of the request override the
template's, nested ``Placement``/``MetadataOptions``… member by member, and adds the
template's tags to those of the request, as AWS does.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import tags
from .compute_common import decode_token, dry_run, encode_token, max_results
from .filters import apply_filters
from .ids import is_id, new_id

KIND = "ec2:launch-template"
VERSION_KIND = "ec2:launch-template-version"
NAME_KIND = "ec2:launch-template-name"  # name → LaunchTemplateId
tags.register("lt", KIND, "launch-template")

_NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
MAX_VERSIONS = 10000
# Members merged member by member when both the request and the template give them.
_NESTED = ("Placement", "MetadataOptions", "CpuOptions", "MaintenanceOptions", "PrivateDnsNameOptions", "EnclaveOptions",
           "HibernationOptions", "CapacityReservationSpecification", "Monitoring", "IamInstanceProfile")


def _key(template_id: str, number: int) -> str:
    return f"{template_id}/{number:010d}"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceError("InvalidLaunchTemplateName.MalformedException",
                           "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, "
                           "and the following characters: - ( ) . / _.'", 400)
    return name


def _not_found_id(template_id: str) -> ServiceError:
    return ServiceError("InvalidLaunchTemplateId.NotFound",
                        f"The specified launch template, with template ID {template_id}, does not exist.", 400)


def _not_found_name(name: str) -> ServiceError:
    return ServiceError("InvalidLaunchTemplateName.NotFoundException",
                        f"The specified launch template, with template name {name}, does not exist.", 400)


def _version_not_found(template_id: str, version: Any) -> ServiceError:
    return ServiceError("InvalidLaunchTemplateId.VersionNotFound",
                        f"Could not find launch template version {version} for launch template {template_id}", 400)


def find(txn: Txn, ctx: RequestContext, template_id: Any = None, name: Any = None) -> dict[str, Any]:
    """The template named by id or name: Malformed / NotFound as AWS answers them."""
    if template_id and name:
        raise ServiceError("InvalidParameterCombination", "Only one of LaunchTemplateId or LaunchTemplateName may be specified.", 400)
    if template_id:
        if not isinstance(template_id, str) or not is_id(template_id, "lt"):
            raise ServiceError("InvalidLaunchTemplateId.Malformed",
                               f"The specified ID for the launch template ({template_id}) is not valid. Launch template IDs "
                               "must be in the form lt-xxxxxxxxxxxxxxxxx.", 400)
        doc = txn.get(KIND, template_id, ctx.scope)
        if doc is None:
            raise _not_found_id(template_id)
        return doc
    if name:
        _check_name(name)
        entry = txn.get(NAME_KIND, name, ctx.scope)
        doc = txn.get(KIND, entry["LaunchTemplateId"], ctx.scope) if entry else None
        if doc is None:
            raise _not_found_name(name)
        return doc
    raise ServiceError("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId", 400)


def _number(template: dict[str, Any], version: Any) -> int:
    """``$Latest``, ``$Default`` or a number → the version number (not checked to exist)."""
    if version in (None, "", "$Default"):
        return template["DefaultVersionNumber"]
    if version == "$Latest":
        return template["LatestVersionNumber"]
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise ServiceError("InvalidLaunchTemplateId.VersionNotFound" if str(version).startswith("$") else "InvalidParameterValue",
                           f"Invalid launch template version: {version}. Specify a version number, $Latest, or $Default.", 400) from None
    if number < 1:
        raise ServiceError("InvalidParameterValue", f"Invalid launch template version: {version}. Version numbers start at 1.", 400)
    return number


def get_version(txn: Txn, ctx: RequestContext, template: dict[str, Any], version: Any) -> dict[str, Any]:
    number = _number(template, version)
    doc = txn.get(VERSION_KIND, _key(template["LaunchTemplateId"], number), ctx.scope)
    if doc is None:
        raise _version_not_found(template["LaunchTemplateId"], version)
    return doc


def _validate_data(data: dict[str, Any]) -> None:
    """What AWS refuses outright when a template is created (the rest is checked at launch)."""
    for spec in data.get("TagSpecifications") or []:
        if spec.get("ResourceType") not in ("instance", "volume", "network-interface", "spot-instances-request", "elastic-gpu"):
            raise ServiceError("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.", 400)
        tags.validate_tags(spec.get("Tags") or [])
    user_data = data.get("UserData")
    if user_data:
        from .instances import _user_data

        _user_data(user_data)
    if data.get("InstanceType"):
        from . import compute_catalog

        if compute_catalog.instance_type(data["InstanceType"]) is None:
            raise ServiceError("InvalidParameterValue", f"Invalid value '{data['InstanceType']}' for InstanceType.", 400)


def _version_record(ctx: RequestContext, template: dict[str, Any], number: int, description: str | None,
                    data: dict[str, Any], now: float) -> dict[str, Any]:
    doc = {
        "LaunchTemplateId": template["LaunchTemplateId"],
        "LaunchTemplateName": template["LaunchTemplateName"],
        "VersionNumber": number,
        "CreateTime": now,
        "CreatedBy": _creator(ctx),
        "DefaultVersion": number == template["DefaultVersionNumber"],
        "LaunchTemplateData": data,
    }
    if description:
        doc["VersionDescription"] = description
    return doc


def _creator(ctx: RequestContext) -> str:
    return getattr(ctx.principal, "arn", None) or f"arn:aws:iam::{ctx.account_id}:root"


def _template_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def create_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _check_name(params.get("LaunchTemplateName"))
    data = params.get("LaunchTemplateData")
    if data is None:
        raise ServiceError("MissingParameter", "The request must contain the parameter LaunchTemplateData", 400)
    _validate_data(data)
    template_tags = tags.tags_for_type(params.get("TagSpecifications"), "launch-template")
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") != "launch-template":
            raise ServiceError("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.", 400)
    token = params.get("ClientToken")
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        if token:
            previous = txn.get("ec2:launch-template-token", token, ctx.scope)
            if previous is not None:
                existing = txn.get(KIND, previous["LaunchTemplateId"], ctx.scope)
                if existing is not None:
                    return {"LaunchTemplate": _template_view(existing)}
        if txn.get(NAME_KIND, name, ctx.scope) is not None:
            raise ServiceError("InvalidLaunchTemplateName.AlreadyExistsException",
                               f"Launch template name already in use.", 400)
        dry_run(params)
        template_id = new_id("lt")
        doc = {
            "LaunchTemplateId": template_id,
            "LaunchTemplateName": name,
            "CreateTime": now,
            "CreatedBy": _creator(ctx),
            "DefaultVersionNumber": 1,
            "LatestVersionNumber": 1,
            "Tags": template_tags,
        }
        txn.put(KIND, template_id, doc, ctx.scope)
        txn.put(NAME_KIND, name, {"LaunchTemplateId": template_id}, ctx.scope)
        txn.put(VERSION_KIND, _key(template_id, 1), _version_record(ctx, doc, 1, params.get("VersionDescription"), data, now), ctx.scope)
        if token:
            txn.put("ec2:launch-template-token", token, {"LaunchTemplateId": template_id}, ctx.scope)
    return {"LaunchTemplate": _template_view(doc)}


def create_launch_template_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    data = params.get("LaunchTemplateData")
    if data is None:
        raise ServiceError("MissingParameter", "The request must contain the parameter LaunchTemplateData", 400)
    _validate_data(data)
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        template = find(txn, ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        if params.get("SourceVersion") not in (None, ""):
            source = get_version(txn, ctx, template, params["SourceVersion"])
            # New data overrides the source's members; members not given are inherited.
            data = {**source["LaunchTemplateData"], **data}
        number = template["LatestVersionNumber"] + 1
        if number > MAX_VERSIONS:
            raise ServiceError("VersionLimitExceeded", f"You've reached the limit of {MAX_VERSIONS} versions for this launch template.", 400)
        dry_run(params)
        template["LatestVersionNumber"] = number
        version = _version_record(ctx, template, number, params.get("VersionDescription"), data, now)
        txn.put(KIND, template["LaunchTemplateId"], template, ctx.scope)
        txn.put(VERSION_KIND, _key(template["LaunchTemplateId"], number), version, ctx.scope)
    return {"LaunchTemplateVersion": version}


def modify_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction() as txn:
        template = find(txn, ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        wanted = params.get("DefaultVersion")
        if wanted not in (None, ""):
            new_default = get_version(txn, ctx, template, wanted)
            dry_run(params)
            old = txn.get(VERSION_KIND, _key(template["LaunchTemplateId"], template["DefaultVersionNumber"]), ctx.scope)
            if old is not None:
                old["DefaultVersion"] = False
                txn.put(VERSION_KIND, _key(template["LaunchTemplateId"], old["VersionNumber"]), old, ctx.scope)
            new_default["DefaultVersion"] = True
            txn.put(VERSION_KIND, _key(template["LaunchTemplateId"], new_default["VersionNumber"]), new_default, ctx.scope)
            template["DefaultVersionNumber"] = new_default["VersionNumber"]
            txn.put(KIND, template["LaunchTemplateId"], template, ctx.scope)
        else:
            dry_run(params)
    return {"LaunchTemplate": _template_view(template)}


def delete_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction() as txn:
        template = find(txn, ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        dry_run(params)
        template_id = template["LaunchTemplateId"]
        for key in list(txn.scan_keys(VERSION_KIND, ctx.scope, prefix=template_id + "/")):
            txn.delete(VERSION_KIND, key, ctx.scope)
        txn.delete(NAME_KIND, template["LaunchTemplateName"], ctx.scope)
        txn.delete(KIND, template_id, ctx.scope)
    return {"LaunchTemplate": _template_view(template)}


def delete_launch_template_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    versions = params.get("Versions") or []
    if not versions:
        raise ServiceError("MissingParameter", "The request must contain the parameter LaunchTemplateVersion", 400)
    if len(versions) > 200:
        raise ServiceError("InvalidParameterValue", "You can specify up to 200 launch template version numbers.", 400)
    ok, failed = [], []
    with ctx.store.transaction() as txn:
        template = find(txn, ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        dry_run(params)
        template_id, name = template["LaunchTemplateId"], template["LaunchTemplateName"]
        for version in versions:
            try:
                number = int(version)
            except (TypeError, ValueError):
                failed.append({"LaunchTemplateId": template_id, "LaunchTemplateName": name,
                               "ResponseError": {"Code": "launchTemplateVersionDoesNotExist",
                                                 "Message": f"The launch template version {version} is not valid."}})
                continue
            key = _key(template_id, number)
            if number == template["DefaultVersionNumber"]:
                failed.append({"LaunchTemplateId": template_id, "LaunchTemplateName": name, "VersionNumber": number,
                               "ResponseError": {"Code": "unexpectedError",
                                                 "Message": "Cannot delete the default version of a launch template. "
                                                            "Use DeleteLaunchTemplate to delete the launch template."}})
            elif not txn.delete(VERSION_KIND, key, ctx.scope):
                failed.append({"LaunchTemplateId": template_id, "LaunchTemplateName": name, "VersionNumber": number,
                               "ResponseError": {"Code": "launchTemplateVersionDoesNotExist",
                                                 "Message": f"The specified launch template version {number} does not exist."}})
            else:
                ok.append({"LaunchTemplateId": template_id, "LaunchTemplateName": name, "VersionNumber": number})
        # LatestVersionNumber stays: AWS never reuses a version number.
    return {"SuccessfullyDeletedLaunchTemplateVersions": ok, "UnsuccessfullyDeletedLaunchTemplateVersions": failed}


TEMPLATE_FILTERS = {"create-time": "CreateTime", "launch-template-name": "LaunchTemplateName"}


def _get(*path: str):
    def get(doc: dict[str, Any]) -> Any:
        value: Any = doc
        for part in path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value
    return get


VERSION_FILTERS = {
    "create-time": "CreateTime",
    "ebs-optimized": _get("LaunchTemplateData", "EbsOptimized"),
    "iam-instance-profile": lambda d: [v for v in ((d["LaunchTemplateData"].get("IamInstanceProfile") or {}).get("Arn"),
                                                   (d["LaunchTemplateData"].get("IamInstanceProfile") or {}).get("Name")) if v],
    "image-id": _get("LaunchTemplateData", "ImageId"),
    "instance-type": _get("LaunchTemplateData", "InstanceType"),
    "is-default-version": "DefaultVersion",
    "kernel-id": _get("LaunchTemplateData", "KernelId"),
    "ram-disk-id": _get("LaunchTemplateData", "RamDiskId"),
    "launch-template-name": "LaunchTemplateName",
    "launch-template-id": "LaunchTemplateId",
    "version-number": "VersionNumber",
}


def _paged(items: list[dict[str, Any]], params: dict[str, Any], key: Any, *, minimum: int, maximum: int) -> tuple[list[dict[str, Any]], str | None]:
    limit = max_results(params, minimum=minimum, maximum=maximum)
    after = decode_token(params.get("NextToken"))
    if after is not None:
        items = [i for i in items if key(i) > after]
    if limit is None or len(items) <= limit:
        return items, None
    return items[:limit], encode_token(key(items[limit - 1]))


def describe_launch_templates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    read = ctx.store.read
    ids = params.get("LaunchTemplateIds") or []
    names = params.get("LaunchTemplateNames") or []
    if (ids or names) and params.get("MaxResults") is not None:
        raise ServiceError("InvalidParameterCombination", "The parameter MaxResults cannot be used with LaunchTemplateIds or LaunchTemplateNames.", 400)
    if ids or names:
        docs = {}
        for template_id in ids:
            doc = find(read, ctx, template_id=template_id)
            docs[doc["LaunchTemplateId"]] = doc
        for name in names:
            doc = find(read, ctx, name=name)
            docs[doc["LaunchTemplateId"]] = doc
        items = sorted(docs.values(), key=lambda d: d["LaunchTemplateId"])
    else:
        items = [doc for _, doc in read.scan(KIND, ctx.scope)]
    items = apply_filters(items, params.get("Filters"), TEMPLATE_FILTERS)
    page, token = _paged(items, params, lambda d: d["LaunchTemplateId"], minimum=1, maximum=200)
    out: dict[str, Any] = {"LaunchTemplates": [_template_view(d) for d in page]}
    if token:
        out["NextToken"] = token
    return out


def describe_launch_template_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    read = ctx.store.read
    versions = params.get("Versions") or []
    if params.get("LaunchTemplateId") or params.get("LaunchTemplateName"):
        template = find(read, ctx, params.get("LaunchTemplateId"), params.get("LaunchTemplateName"))
        template_id = template["LaunchTemplateId"]
        if versions:
            items = {}
            for version in versions:
                doc = get_version(read, ctx, template, version)
                items[doc["VersionNumber"]] = doc
            docs = [items[n] for n in sorted(items)]
        else:
            docs = [doc for _, doc in read.scan(VERSION_KIND, ctx.scope, prefix=template_id + "/")]
        low, high = params.get("MinVersion"), params.get("MaxVersion")
        if low not in (None, ""):
            docs = [d for d in docs if d["VersionNumber"] >= _number(template, low)]
        if high not in (None, ""):
            docs = [d for d in docs if d["VersionNumber"] <= _number(template, high)]
    else:
        # Without a template, AWS answers $Latest and/or $Default of every template.
        if any(v not in ("$Latest", "$Default") for v in versions):
            raise ServiceError("InvalidParameterCombination",
                               "You must specify a launch template ID or name when specifying version numbers.", 400)
        wanted = set(versions) or {"$Latest", "$Default"}
        docs = []
        for template_id, template in read.scan(KIND, ctx.scope):
            numbers = sorted({_number(template, v) for v in wanted})
            for number in numbers:
                doc = read.get(VERSION_KIND, _key(template_id, number), ctx.scope)
                if doc is not None:
                    docs.append(doc)
    docs = apply_filters(docs, params.get("Filters"), VERSION_FILTERS)
    page, token = _paged(docs, params, lambda d: _key(d["LaunchTemplateId"], d["VersionNumber"]), minimum=1, maximum=200)
    out: dict[str, Any] = {"LaunchTemplateVersions": page}
    if token:
        out["NextToken"] = token
    return out


# -- RunInstances ------------------------------------------------------------------------

def resolve(ctx: RequestContext, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(template, version) named by RunInstances' ``LaunchTemplate`` parameter."""
    read = ctx.store.read
    template = find(read, ctx, spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"))
    version = get_version(read, ctx, template, spec.get("Version"))
    return template, version


def merge(params: dict[str, Any], template: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """RunInstances parameters: the request's win; the template fills what the request leaves out."""
    data = version["LaunchTemplateData"]
    merged = dict(params)
    for key, value in data.items():
        if key in ("TagSpecifications", "Operator"):
            continue
        given = params.get(key)
        if given is None or given == [] or given == "":
            if key in ("SecurityGroupIds", "SecurityGroups") and params.get("NetworkInterfaces"):
                continue
            if key == "NetworkInterfaces" and (params.get("SecurityGroupIds") or params.get("SecurityGroups") or params.get("SubnetId")):
                # The request's subnet / groups apply to the template's primary interface.
                interfaces = [dict(n) for n in value]
                for n in interfaces:
                    if n.get("DeviceIndex", 0) == 0:
                        if params.get("SubnetId"):
                            n["SubnetId"] = params["SubnetId"]
                        if params.get("SecurityGroupIds"):
                            n["Groups"] = list(params["SecurityGroupIds"])
                merged[key] = interfaces
                merged.pop("SecurityGroupIds", None)
                merged.pop("SubnetId", None)
                continue
            merged[key] = value
        elif key in _NESTED and isinstance(given, dict) and isinstance(value, dict):
            merged[key] = {**value, **given}
    # Tags: the template's, with the request's values winning per resource type and key.
    by_type: dict[str, dict[str, str]] = {}
    for spec in data.get("TagSpecifications") or []:
        for tag in spec.get("Tags") or []:
            by_type.setdefault(spec["ResourceType"], {})[tag["Key"]] = tag.get("Value", "")
    for spec in params.get("TagSpecifications") or []:
        for tag in spec.get("Tags") or []:
            by_type.setdefault(spec.get("ResourceType"), {})[tag["Key"]] = tag.get("Value", "")
    if by_type:
        merged["TagSpecifications"] = [{"ResourceType": rtype, "Tags": [{"Key": k, "Value": v} for k, v in values.items()]}
                                       for rtype, values in by_type.items()]
    merged.pop("LaunchTemplate", None)
    merged["_launch_template"] = {"id": template["LaunchTemplateId"], "version": version["VersionNumber"]}
    return merged
