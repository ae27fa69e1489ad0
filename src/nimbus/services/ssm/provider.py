"""AWS Systems Manager Parameter Store: AWS's public parameters and the account's own.

Public parameters (``/aws/service/...``) resolve the latest public AMIs of the region
(from EC2's image data, so ``ssm get-parameter`` and ``ec2 describe-images`` agree).
User parameters are ``ssm:parameter`` records per account and region with their version
history; ``SecureString`` values are encrypted by the in-process KMS provider (the key
named by ``KeyId``, else ``alias/aws/ssm``) with the parameter's ARN as encryption
context, as AWS does, and only decrypted on ``WithDecryption``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import partition_of
from ..base import Provider

KIND = "ssm:parameter"
PUBLIC_PREFIX = "/aws/service/"
MAX_HISTORY = 100
TIER_LIMITS = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}
_NAME = re.compile(r"^[a-zA-Z0-9_.\-/]+$")


def _validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def _arn(ctx: RequestContext, name: str, *, public: bool = False) -> str:
    path = name if name.startswith("/") else "/" + name
    account = "" if public else ctx.account_id
    return f"arn:{partition_of(ctx.region)}:ssm:{ctx.region}:{account}:parameter{path}"


def _public_parameters(ctx: RequestContext) -> dict[str, dict[str, Any]]:
    from ..ec2 import ami

    out = {}
    for name, image_id in ami.public_parameters(ctx.region).items():
        out[name] = {"Name": name, "Type": "String", "Value": image_id, "Version": 1, "DataType": "text",
                     "LastModifiedDate": 1734000000.0, "ARN": _arn(ctx, name, public=True)}
    return out


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 2048:
        raise _validation("Parameter name must be between 1 and 2048 characters.")
    if not _NAME.match(name):
        raise _validation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of "
                          "sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 "
                          "symbols .-_")
    return name


class SsmProvider(Provider):
    service = "ssm"

    def resource_counts(self) -> dict[str, int]:
        return {"parameter": self.runtime.store.read.count(KIND)}

    # -- helpers ---------------------------------------------------------------------------

    def _kms(self) -> Any:
        return self.runtime.provider("kms")

    def _encrypt(self, ctx: RequestContext, key_id: str, value: str, arn: str) -> tuple[str, str]:
        kms = self._kms()
        try:
            if key_id == "alias/aws/ssm":
                key_arn = kms.aws_managed_key_arn(ctx, "ssm")
            else:
                key_arn = kms._usable(ctx, key_id)["Arn"]
            result = kms.encrypt(ctx, {"KeyId": key_arn, "Plaintext": value.encode(), "EncryptionContext": {"PARAMETER_ARN": arn}})
        except ServiceError as exc:
            raise ServiceError("InvalidKeyId", f"Invalid KeyId: {exc.message}" if exc.message else "Invalid KeyId", 400) from None
        return base64.b64encode(result["CiphertextBlob"]).decode(), key_id

    def _decrypt(self, ctx: RequestContext, doc: dict[str, Any]) -> str:
        try:
            result = self._kms().decrypt(ctx, {"CiphertextBlob": base64.b64decode(doc["Value"]),
                                               "EncryptionContext": {"PARAMETER_ARN": doc["ARN"]}})
        except ServiceError as exc:
            raise ServiceError("InvalidKeyId", exc.message or "The key can't be used to decrypt the parameter.", 400) from None
        return result["Plaintext"].decode()

    def _output(self, ctx: RequestContext, doc: dict[str, Any], decrypt: bool, selector: str | None = None) -> dict[str, Any]:
        value = doc["Value"]
        if doc["Type"] == "SecureString" and decrypt:
            value = self._decrypt(ctx, doc)
        out = {"Name": doc["Name"], "Type": doc["Type"], "Value": value, "Version": doc["Version"],
               "LastModifiedDate": doc["LastModifiedDate"], "ARN": doc["ARN"], "DataType": doc.get("DataType", "text")}
        if selector:
            out["Selector"] = selector
        return out

    def _lookup(self, ctx: RequestContext, ref: str) -> tuple[dict[str, Any] | None, str | None]:
        name, selector = ref, None
        match = re.match(r"^(.*?)(:[^:/]+)$", ref)
        if match and not ref.startswith("arn:"):
            name, selector = match.group(1), match.group(2)
        if name.startswith("arn:"):
            name = "/" + name.split(":parameter/", 1)[-1] if ":parameter/" in name else name
        if name.startswith(PUBLIC_PREFIX):
            doc = _public_parameters(ctx).get(name)
            if doc is not None and selector and selector not in (":1",):
                raise ServiceError("ParameterVersionNotFound", f"Systems Manager could not find version {selector[1:]} of {name}. "
                                   "Verify the version and try again.", 400)
            return doc, selector
        doc = ctx.store.read.get(KIND, name, ctx.scope)
        if doc is None:
            return None, selector
        if selector:
            wanted = selector[1:]
            history = doc.get("History", [])
            versions = [doc] + list(reversed(history))
            found = None
            if wanted.isdigit():
                found = next((v for v in versions if v["Version"] == int(wanted)), None)
                if found is None:
                    raise ServiceError("ParameterVersionNotFound", f"Systems Manager could not find version {wanted} of {name}. "
                                       "Verify the version and try again.", 400)
            else:
                found = next((v for v in versions if wanted in v.get("Labels", [])), None)
                if found is None:
                    raise ServiceError("ParameterVersionLabelNotFound", f"Systems Manager could not find label {wanted} for {name}.", 400)
            doc = {**doc, **{k: found[k] for k in ("Value", "Version", "LastModifiedDate", "Type") if k in found}}
        return doc, selector

    # -- operations --------------------------------------------------------------------------

    def put_parameter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_name(params["Name"])
        bare = name.lstrip("/")
        if bare.lower().startswith(("aws", "ssm")):
            raise _validation("No access to reserved parameter name: " + name + ". Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
        if name.count("/") > 15 or (name.startswith("/") and name.count("/") > 15):
            raise ServiceError("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels.", 400)
        if "/" in name and not name.startswith("/"):
            raise _validation("Parameter name must be a fully qualified name.")
        value = params["Value"]
        tier = params.get("Tier") or "Standard"
        if tier not in TIER_LIMITS:
            raise _validation(f"1 validation error detected: Value '{tier}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]")
        if len(value) > TIER_LIMITS[tier]:
            raise _validation("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter "
                              "value, upgrade the parameter to use the advanced-parameter tier." if tier == "Standard"
                              else f"Parameter value exceeds the maximum of {TIER_LIMITS[tier]} characters.")
        if not value:
            raise _validation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
        ptype = params.get("Type")
        if ptype is not None and ptype not in ("String", "StringList", "SecureString"):
            raise _validation(f"1 validation error detected: Value '{ptype}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]")
        if params.get("Tags") and params.get("Overwrite"):
            raise _validation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove "
                              "overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
        data_type = params.get("DataType") or "text"
        if data_type not in ("text", "aws:ec2:image", "aws:ssm:integration"):
            raise _validation(f"The following data type is not supported: {data_type} (Data type names are all lowercase.)")
        if data_type == "aws:ec2:image" and not re.match(r"^ami-[0-9a-f]{8,17}$", value):
            raise _validation(f"Invalid parameter value. Value {value} must be a valid AMI ID (ami-xxxx).")
        pattern = params.get("AllowedPattern")
        now = ctx.clock.time()
        existing = ctx.store.read.get(KIND, name, ctx.scope)
        if existing is not None and not params.get("Overwrite"):
            raise ServiceError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.", 400)
        if existing is None and ptype is None:
            raise _validation("A parameter type is required when you create a parameter.")
        ptype = ptype or existing["Type"]
        if params.get("KeyId") and ptype != "SecureString":
            raise _validation("KeyId is required for SecureString type parameter only.")
        pattern = pattern if pattern is not None else (existing or {}).get("AllowedPattern")
        if pattern:
            try:
                ok = re.fullmatch(pattern, value) is not None
            except re.error:
                raise _validation(f"Parameter allowedPattern is not a valid regular expression: {pattern}") from None
            if not ok:
                raise ServiceError("ParameterPatternMismatchException", f"Parameter value, cannot be validated against allowedPattern: {pattern}", 400)
        arn = _arn(ctx, name)
        stored_value, key_id = value, None
        if ptype == "SecureString":
            # An overwrite keeps the parameter's key unless it names another one.
            same_type = ptype == (existing or {}).get("Type")
            key_id = params.get("KeyId") or ((existing or {}).get("KeyId") if same_type else None) or "alias/aws/ssm"
            stored_value, key_id = self._encrypt(ctx, key_id, value, arn)
        with ctx.store.transaction() as txn:
            current = txn.get(KIND, name, ctx.scope)
            if current is not None and not params.get("Overwrite"):
                raise ServiceError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.", 400)
            history = list((current or {}).get("History", []))
            version = 1
            if current is not None:
                history.append({k: current[k] for k in ("Value", "Version", "LastModifiedDate", "Type", "KeyId", "Description", "Labels") if k in current})
                history = history[-MAX_HISTORY + 1:]
                version = current["Version"] + 1
            doc = {
                "Name": name, "Type": ptype, "Value": stored_value, "Version": version, "LastModifiedDate": now, "ARN": arn,
                "DataType": data_type, "Tier": tier if current is None or params.get("Tier") else current.get("Tier", "Standard"),
                "Description": params.get("Description", (current or {}).get("Description", "")),
                "AllowedPattern": pattern or "", "LastModifiedUser": getattr(ctx.principal, "arn", "") or f"arn:aws:iam::{ctx.account_id}:root",
                "Tags": params.get("Tags") or (current or {}).get("Tags", []), "History": history, "Labels": [],
            }
            if key_id:
                doc["KeyId"] = key_id
            txn.put(KIND, name, doc, ctx.scope)
        return {"Version": version, "Tier": doc["Tier"]}

    def get_parameter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc, selector = self._lookup(ctx, params["Name"])
        if doc is None:
            raise ServiceError("ParameterNotFound", "", 400)
        return {"Parameter": self._output(ctx, doc, bool(params.get("WithDecryption")), selector)}

    def get_parameters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        names = params["Names"]
        if len(names) > 10:
            raise _validation(f"1 validation error detected: Value '{names}' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10")
        found, invalid = [], []
        for ref in dict.fromkeys(names):
            try:
                doc, selector = self._lookup(ctx, ref)
            except ServiceError:
                doc, selector = None, None
            if doc is None:
                invalid.append(ref)
            else:
                found.append(self._output(ctx, doc, bool(params.get("WithDecryption")), selector))
        return {"Parameters": found, "InvalidParameters": invalid}

    def _all(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return [doc for _, doc in ctx.store.read.scan(KIND, ctx.scope)]

    def get_parameters_by_path(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        path = params["Path"]
        if not path.startswith("/"):
            raise _validation('The parameter doesn\'t meet the parameter name requirements. The parameter name must begin with a forward slash "/".')
        recursive = bool(params.get("Recursive"))
        limit = params.get("MaxResults") or 10
        if not 1 <= limit <= 10:
            raise _validation(f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10")
        prefix = path if path.endswith("/") else path + "/"
        if path.startswith(PUBLIC_PREFIX) or PUBLIC_PREFIX.startswith(prefix) and prefix.startswith("/aws"):
            docs = list(_public_parameters(ctx).values())
        else:
            docs = self._all(ctx)
        out = []
        for doc in docs:
            name = doc["Name"]
            if not name.startswith(prefix):
                continue
            if not recursive and "/" in name[len(prefix):]:
                continue
            out.append(doc)
        out = self._parameter_filters(out, params.get("ParameterFilters"), by_path=True)
        out.sort(key=lambda d: d["Name"])
        start = int(params.get("NextToken") or 0)
        page = out[start : start + limit]
        result: dict[str, Any] = {"Parameters": [self._output(ctx, d, bool(params.get("WithDecryption"))) for d in page]}
        if start + limit < len(out):
            result["NextToken"] = str(start + limit)
        return result

    def delete_parameter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            if not txn.delete(KIND, params["Name"], ctx.scope):
                raise ServiceError("ParameterNotFound", "", 400)
        return {}

    def delete_parameters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        deleted, invalid = [], []
        with ctx.store.transaction() as txn:
            for name in params["Names"]:
                (deleted if txn.delete(KIND, name, ctx.scope) else invalid).append(name)
        return {"DeletedParameters": deleted, "InvalidParameters": invalid}

    def _parameter_filters(self, docs: list[dict[str, Any]], filters: list[dict[str, Any]] | None, *, by_path: bool = False) -> list[dict[str, Any]]:
        for f in filters or []:
            key, option, values = f.get("Key", ""), f.get("Option") or "Equals", f.get("Values") or []
            if by_path and key in ("Name", "Path", "Tier", "DataType"):
                raise _validation(f"The following filter key is not valid: {key}. Valid filter keys include: [Type, KeyId, Label].")
            def field(d: dict[str, Any]) -> list[str]:
                if key == "Name":
                    return [d["Name"]]
                if key == "Type":
                    return [d["Type"]]
                if key == "KeyId":
                    return [d.get("KeyId", "")]
                if key == "Tier":
                    return [d.get("Tier", "Standard")]
                if key == "DataType":
                    return [d.get("DataType", "text")]
                if key == "Label":
                    return list(d.get("Labels", []))
                if key.startswith("tag:"):
                    return [t["Value"] for t in d.get("Tags", []) if t["Key"] == key[4:]]
                if key == "Path":
                    return [d["Name"]]
                raise _validation(f"The following filter key is not valid: {key}.")
            if key == "Path":
                def keep(d: dict[str, Any]) -> bool:
                    for v in values:
                        prefix = v if v.endswith("/") else v + "/"
                        rest = d["Name"][len(prefix):] if d["Name"].startswith(prefix) else None
                        if rest is not None and (option == "Recursive" or "/" not in rest):
                            return True
                    return False
            elif option == "BeginsWith":
                def keep(d: dict[str, Any]) -> bool:
                    return any(c.startswith(v) for c in field(d) for v in values)
            elif option == "Contains":
                def keep(d: dict[str, Any]) -> bool:
                    return any(v in c for c in field(d) for v in values)
            else:
                def keep(d: dict[str, Any]) -> bool:
                    return any(c in values for c in field(d)) if values else bool(field(d))
            docs = [d for d in docs if keep(d)]
        return docs

    def describe_parameters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = self._all(ctx)
        for f in params.get("Filters") or []:
            key, values = f.get("Key"), f.get("Values") or []
            field = {"Name": "Name", "Type": "Type", "KeyId": "KeyId"}.get(key or "")
            if field is None:
                raise _validation(f"The following filter key is not valid: {key}.")
            docs = [d for d in docs if d.get(field) in values]
        docs = self._parameter_filters(docs, params.get("ParameterFilters"))
        docs.sort(key=lambda d: d["Name"])
        limit = params.get("MaxResults") or 10
        if not 1 <= limit <= 50:
            raise _validation(f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50")
        start = int(params.get("NextToken") or 0)
        page = docs[start : start + limit]
        items = []
        for d in page:
            item = {k: d[k] for k in ("Name", "ARN", "Type", "LastModifiedDate", "LastModifiedUser", "Version", "Tier", "DataType") if k in d}
            if d.get("KeyId"):
                item["KeyId"] = d["KeyId"]
            if d.get("Description"):
                item["Description"] = d["Description"]
            if d.get("AllowedPattern"):
                item["AllowedPattern"] = d["AllowedPattern"]
            item["Policies"] = []
            items.append(item)
        result: dict[str, Any] = {"Parameters": items}
        if start + limit < len(docs):
            result["NextToken"] = str(start + limit)
        return result

    def get_parameter_history(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = ctx.store.read.get(KIND, params["Name"], ctx.scope)
        if doc is None:
            raise ServiceError("ParameterNotFound", "", 400)
        versions = list(doc.get("History", [])) + [doc]
        out = []
        for v in versions:
            value = v["Value"]
            if v.get("Type") == "SecureString" and params.get("WithDecryption"):
                value = self._decrypt(ctx, {"Value": v["Value"], "ARN": doc["ARN"]})
            item = {"Name": doc["Name"], "Type": v.get("Type", doc["Type"]), "Value": value, "Version": v["Version"],
                    "LastModifiedDate": v["LastModifiedDate"], "Labels": v.get("Labels", []), "Tier": doc.get("Tier", "Standard"),
                    "DataType": doc.get("DataType", "text"), "Policies": []}
            if v.get("KeyId"):
                item["KeyId"] = v["KeyId"]
            out.append(item)
        return {"Parameters": out}
