"""AWS IAM: users, groups, roles, instance profiles, managed and inline policies,
permission boundaries and tags (credentials in ``credentials.py``, reports and the
policy simulator in ``reports.py``).  Records are described in ``nimbus.iam.records``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...iam import records as R
from ...iam.policy import MAX_INLINE_GROUP, MAX_INLINE_ROLE, MAX_INLINE_USER, MAX_MANAGED_POLICY_SIZE, MAX_TRUST_POLICY
from ...state import Txn
from ..base import Provider
from .common import (
    already_exists,
    check_name,
    check_path,
    check_tags,
    delete_conflict,
    dt,
    encoded,
    invalid_input,
    limit_exceeded,
    no_such_entity,
    page,
    validated_policy,
    validation,
)
from .credentials import CredentialsMixin
from .reports import ContextKeysMixin, ReportsMixin
from .tagging import TaggingMixin

MAX_GROUPS_PER_USER = 10
MAX_ATTACHED = 10
MAX_POLICY_VERSIONS = 5

# AWSServiceRoleFor<Name> of the service-linked roles users meet first
_SERVICE_ROLE_NAMES = {
    "autoscaling": "AutoScaling", "elasticloadbalancing": "ElasticLoadBalancing", "rds": "RDS",
    "elasticache": "ElastiCache", "spot": "EC2Spot", "ecs": "ECS", "eks": "AmazonEKS", "route53": "Route53",
    "elasticfilesystem": "AmazonElasticFileSystem", "cloudtrail": "CloudTrail", "ssm": "AmazonSSM",
    "organizations": "Organizations", "support": "Support", "trustedadvisor": "TrustedAdvisor",
}

_ENTITY = {"user": (R.USER, "UserName", "user"), "group": (R.GROUP, "GroupName", "group"), "role": (R.ROLE, "RoleName", "role")}
_INLINE_LIMIT = {"user": MAX_INLINE_USER, "group": MAX_INLINE_GROUP, "role": MAX_INLINE_ROLE}


def _label(entity: str) -> str:
    return {"user": "user", "group": "group", "role": "role"}[entity]


class IamProvider(CredentialsMixin, ReportsMixin, ContextKeysMixin, TaggingMixin, Provider):
    service = "iam"

    def resource_counts(self) -> dict[str, int]:
        read = self.runtime.store.read
        return {"user": read.count(R.USER), "group": read.count(R.GROUP), "role": read.count(R.ROLE), "policy": read.count(R.POLICY)}

    # ------------------------------------------------------------ lookups

    def _arn(self, ctx: RequestContext, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{ctx.account_id}:{kind}{path}{name}"

    def _get(self, txn: Txn, ctx: RequestContext, entity: str, name: str) -> dict[str, Any]:
        kind, member, label = _ENTITY[entity]
        doc = txn.get(kind, name, ctx.account_id)
        if doc is None:
            raise no_such_entity(f"The {label} with name {name} cannot be found.")
        return doc

    def _user(self, txn: Txn, ctx: RequestContext, name: str | None) -> dict[str, Any]:
        if not name:
            if ctx.principal.kind == "user":
                name = ctx.principal.name
            else:
                raise validation("Must specify userName when calling with non-User credentials")
        return self._get(txn, ctx, "user", name)

    def _put(self, txn: Txn, ctx: RequestContext, entity: str, doc: dict[str, Any]) -> None:
        txn.put(_ENTITY[entity][0], doc["name"], doc, ctx.account_id)

    def _policy_by_arn(self, txn: Txn, ctx: RequestContext, arn: str) -> dict[str, Any] | None:
        aws = R.aws_managed().get(arn)
        if aws is not None:
            return {"aws": True, **aws}
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("policy/"):
            raise invalid_input(f"ARN {arn} is not valid.")
        doc = txn.get(R.POLICY, R.policy_name_from_arn(arn), parts[4])
        if doc is None or doc["arn"] != arn:
            return None
        return doc

    def _require_policy(self, txn: Txn, ctx: RequestContext, arn: str) -> dict[str, Any]:
        doc = self._policy_by_arn(txn, ctx, arn)
        if doc is None:
            raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
        return doc

    # ------------------------------------------------------------ shapes

    def _user_shape(self, doc: dict[str, Any], full: bool = False) -> dict[str, Any]:
        out = {"Path": doc["path"], "UserName": doc["name"], "UserId": doc["id"], "Arn": doc["arn"], "CreateDate": dt(doc["created"])}
        if doc.get("password_last_used"):
            out["PasswordLastUsed"] = dt(doc["password_last_used"])
        if full:
            if doc.get("boundary"):
                out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": doc["boundary"]}
            if doc.get("tags"):
                out["Tags"] = doc["tags"]
        return out

    def _group_shape(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"Path": doc["path"], "GroupName": doc["name"], "GroupId": doc["id"], "Arn": doc["arn"], "CreateDate": dt(doc["created"])}

    def _role_shape(self, doc: dict[str, Any], full: bool = True) -> dict[str, Any]:
        out = {
            "Path": doc["path"], "RoleName": doc["name"], "RoleId": doc["id"], "Arn": doc["arn"],
            "CreateDate": dt(doc["created"]), "AssumeRolePolicyDocument": encoded(doc["trust"]),
            "MaxSessionDuration": doc.get("max_session", 3600),
        }
        if doc.get("description"):
            out["Description"] = doc["description"]
        if full:
            if doc.get("boundary"):
                out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": doc["boundary"]}
            if doc.get("tags"):
                out["Tags"] = doc["tags"]
            last = doc.get("last_used")
            out["RoleLastUsed"] = {"LastUsedDate": dt(last["date"]), "Region": last["region"]} if last else {}
        return out

    def _policy_shape(self, doc: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if doc.get("aws"):
            return {
                "PolicyName": doc["name"], "PolicyId": "ANPA" + doc["name"].upper()[:17].ljust(17, "X"), "Arn": doc["arn"],
                "Path": doc["Path"], "DefaultVersionId": doc["DefaultVersionId"],
                "AttachmentCount": self._attachment_count(ctx, doc["arn"]), "PermissionsBoundaryUsageCount": 0,
                "IsAttachable": True, "CreateDate": doc["CreateDate"], "UpdateDate": doc["UpdateDate"],
            }
        out = {
            "PolicyName": doc["name"], "PolicyId": doc["id"], "Arn": doc["arn"], "Path": doc["path"],
            "DefaultVersionId": doc["default"], "AttachmentCount": self._attachment_count(ctx, doc["arn"]),
            "PermissionsBoundaryUsageCount": self._boundary_count(ctx, doc["arn"]), "IsAttachable": True,
            "CreateDate": dt(doc["created"]), "UpdateDate": dt(doc["updated"]),
        }
        if doc.get("description"):
            out["Description"] = doc["description"]
        if doc.get("tags"):
            out["Tags"] = doc["tags"]
        return out

    def _entities(self, ctx: RequestContext, kind: str) -> list[dict[str, Any]]:
        return [d for _, d in ctx.store.read.scan(kind, ctx.account_id)]

    def _attachment_count(self, ctx: RequestContext, arn: str) -> int:
        return sum(arn in d.get("attached", []) for kind in (R.USER, R.GROUP, R.ROLE) for d in self._entities(ctx, kind))

    def _boundary_count(self, ctx: RequestContext, arn: str) -> int:
        return sum(d.get("boundary") == arn for kind in (R.USER, R.ROLE) for d in self._entities(ctx, kind))

    # ------------------------------------------------------------ users

    def create_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params["UserName"], "userName")
        path = check_path(params.get("Path"))
        tags = check_tags(params.get("Tags"))
        boundary = params.get("PermissionsBoundary")
        with ctx.store.transaction() as txn:
            if boundary:
                self._require_policy(txn, ctx, boundary)
            if txn.exists(R.USER, name, ctx.account_id) or any(k.lower() == name.lower() for k in txn.scan_keys(R.USER, ctx.account_id)):
                raise already_exists(f"User with name {name} already exists.")
            doc = {
                "name": name, "id": R.new_id("AIDA"), "arn": self._arn(ctx, "user", path, name), "path": path,
                "created": ctx.clock.time(), "tags": tags, "groups": [], "inline": {}, "attached": [],
                "boundary": boundary, "keys": [], "login": None, "mfa": [],
            }
            self._put(txn, ctx, "user", doc)
        return {"User": self._user_shape(doc, full=True)}

    def get_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("UserName") and ctx.principal.kind == "root":
            p = ctx.principal
            return {"User": {"UserId": p.account_id, "Arn": p.arn, "CreateDate": dt(self.runtime.started), "Path": "/", "UserName": ""}}
        return {"User": self._user_shape(self._user(ctx.store.read, ctx, params.get("UserName")), full=True)}

    def list_users(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        users = [self._user_shape(d) for d in self._entities(ctx, R.USER) if d["path"].startswith(prefix)]
        return page(users, params, "Users")

    def update_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, "user", params["UserName"])
            new_name = params.get("NewUserName")
            if params.get("NewPath"):
                doc["path"] = check_path(params["NewPath"], "newPath")
            if new_name and new_name != doc["name"]:
                check_name(new_name, "newUserName")
                if txn.exists(R.USER, new_name, ctx.account_id):
                    raise already_exists(f"User with name {new_name} already exists.")
                txn.delete(R.USER, doc["name"], ctx.account_id)
                doc["name"] = new_name
            doc["arn"] = self._arn(ctx, "user", doc["path"], doc["name"])
            self._put(txn, ctx, "user", doc)
        return {}

    def delete_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, "user", params["UserName"])
            if doc.get("keys") or doc.get("groups") or doc.get("inline") or doc.get("attached") or doc.get("login") or doc.get("mfa"):
                raise delete_conflict("Cannot delete entity, must delete access keys, login profile, MFA devices, policies and group memberships first.")
            txn.delete(R.USER, doc["name"], ctx.account_id)
        return {}

    # ------------------------------------------------------------ groups

    def create_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params["GroupName"], "groupName", 128)
        path = check_path(params.get("Path"))
        with ctx.store.transaction() as txn:
            if any(k.lower() == name.lower() for k in txn.scan_keys(R.GROUP, ctx.account_id)):
                raise already_exists(f"Group with name {name} already exists.")
            doc = {"name": name, "id": R.new_id("AGPA"), "arn": self._arn(ctx, "group", path, name), "path": path,
                   "created": ctx.clock.time(), "inline": {}, "attached": []}
            self._put(txn, ctx, "group", doc)
        return {"Group": self._group_shape(doc)}

    def get_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(ctx.store.read, ctx, "group", params["GroupName"])
        members = [self._user_shape(u) for u in self._entities(ctx, R.USER) if doc["name"] in u.get("groups", [])]
        result = page(members, params, "Users")
        result["Group"] = self._group_shape(doc)
        return result

    def list_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        return page([self._group_shape(d) for d in self._entities(ctx, R.GROUP) if d["path"].startswith(prefix)], params, "Groups")

    def list_groups_for_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get(ctx.store.read, ctx, "user", params["UserName"])
        groups = [self._group_shape(self._get(ctx.store.read, ctx, "group", g)) for g in user.get("groups", [])]
        return page(groups, params, "Groups")

    def add_user_to_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            group = self._get(txn, ctx, "group", params["GroupName"])
            user = self._get(txn, ctx, "user", params["UserName"])
            if group["name"] not in user["groups"]:
                if len(user["groups"]) >= MAX_GROUPS_PER_USER:
                    raise limit_exceeded(f"Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}")
                user["groups"].append(group["name"])
                self._put(txn, ctx, "user", user)
        return {}

    def remove_user_from_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            group = self._get(txn, ctx, "group", params["GroupName"])
            user = self._get(txn, ctx, "user", params["UserName"])
            if group["name"] not in user["groups"]:
                raise no_such_entity(f"User {user['name']} is not in group {group['name']}.")
            user["groups"].remove(group["name"])
            self._put(txn, ctx, "user", user)
        return {}

    def delete_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            group = self._get(txn, ctx, "group", params["GroupName"])
            if any(group["name"] in u.get("groups", []) for _, u in txn.scan(R.USER, ctx.account_id)):
                raise delete_conflict("Cannot delete entity, must remove users from group first.")
            if group.get("inline") or group.get("attached"):
                raise delete_conflict("Cannot delete entity, must delete policies first.")
            txn.delete(R.GROUP, group["name"], ctx.account_id)
        return {}

    def update_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            group = self._get(txn, ctx, "group", params["GroupName"])
            if params.get("NewPath"):
                group["path"] = check_path(params["NewPath"], "newPath")
            new_name = params.get("NewGroupName")
            if new_name and new_name != group["name"]:
                check_name(new_name, "newGroupName", 128)
                if txn.exists(R.GROUP, new_name, ctx.account_id):
                    raise already_exists(f"Group with name {new_name} already exists.")
                txn.delete(R.GROUP, group["name"], ctx.account_id)
                for key, user in list(txn.scan(R.USER, ctx.account_id)):
                    if group["name"] in user["groups"]:
                        user["groups"] = [new_name if g == group["name"] else g for g in user["groups"]]
                        txn.put(R.USER, key, user, ctx.account_id)
                group["name"] = new_name
            group["arn"] = self._arn(ctx, "group", group["path"], group["name"])
            self._put(txn, ctx, "group", group)
        return {}

    # ------------------------------------------------------------ roles

    def create_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params["RoleName"], "roleName")
        path = check_path(params.get("Path"))
        trust = validated_policy(params["AssumeRolePolicyDocument"], kind="trust", max_size=MAX_TRUST_POLICY)
        max_session = params.get("MaxSessionDuration") or 3600
        if not 3600 <= max_session <= 43200:
            raise validation(f"1 validation error detected: Value '{max_session}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200")
        tags = check_tags(params.get("Tags"))
        boundary = params.get("PermissionsBoundary")
        with ctx.store.transaction() as txn:
            if boundary:
                self._require_policy(txn, ctx, boundary)
            if any(k.lower() == name.lower() for k in txn.scan_keys(R.ROLE, ctx.account_id)):
                raise already_exists(f"Role with name {name} already exists.")
            doc = {
                "name": name, "id": R.new_id("AROA"), "arn": self._arn(ctx, "role", path, name), "path": path,
                "created": ctx.clock.time(), "trust": trust, "description": params.get("Description", ""),
                "max_session": max_session, "tags": tags, "inline": {}, "attached": [], "boundary": boundary,
            }
            self._put(txn, ctx, "role", doc)
        return {"Role": self._role_shape(doc)}

    def get_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Role": self._role_shape(self._get(ctx.store.read, ctx, "role", params["RoleName"]))}

    def list_roles(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        roles = [self._role_shape(d, full=False) for d in self._entities(ctx, R.ROLE) if d["path"].startswith(prefix)]
        return page(roles, params, "Roles")

    def update_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            role = self._get(txn, ctx, "role", params["RoleName"])
            if "Description" in params:
                role["description"] = params["Description"]
            if params.get("MaxSessionDuration"):
                if not 3600 <= params["MaxSessionDuration"] <= 43200:
                    raise validation("MaxSessionDuration must be between 3600 and 43200 seconds.")
                role["max_session"] = params["MaxSessionDuration"]
            self._put(txn, ctx, "role", role)
        return {}

    def update_role_description(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.update_role(ctx, params)
        return {"Role": self._role_shape(self._get(ctx.store.read, ctx, "role", params["RoleName"]))}

    def update_assume_role_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        trust = validated_policy(params["PolicyDocument"], kind="trust", max_size=MAX_TRUST_POLICY)
        with ctx.store.transaction() as txn:
            role = self._get(txn, ctx, "role", params["RoleName"])
            role["trust"] = trust
            self._put(txn, ctx, "role", role)
        return {}

    def delete_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            role = self._get(txn, ctx, "role", params["RoleName"])
            if role.get("inline") or role.get("attached"):
                raise delete_conflict("Cannot delete entity, must detach all policies first.")
            if any(role["name"] in p.get("roles", []) for _, p in txn.scan(R.INSTANCE_PROFILE, ctx.account_id)):
                raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
            txn.delete(R.ROLE, role["name"], ctx.account_id)
        return {}

    # ------------------------------------------------------------ service-linked roles

    def create_service_linked_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        service = params["AWSServiceName"]
        if not isinstance(service, str) or not service.endswith(".amazonaws.com"):
            raise invalid_input(f"Invalid service name: {service}")
        label = service[: -len(".amazonaws.com")]
        suffix = params.get("CustomSuffix")
        name = "AWSServiceRoleFor" + _SERVICE_ROLE_NAMES.get(label, "".join(p.capitalize() for p in re.split(r"[.\-]", label)))
        if suffix:
            name += "_" + check_name(suffix, "customSuffix", 64)
        path = f"/aws-service-role/{service}/"
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
        with ctx.store.transaction() as txn:
            if txn.exists(R.ROLE, name, ctx.account_id):
                raise invalid_input(f"Service role name {name} has been taken in this account, please try a different suffix.")
            doc = {
                "name": name, "id": R.new_id("AROA"), "arn": self._arn(ctx, "role", path, name), "path": path,
                "created": ctx.clock.time(), "trust": trust, "description": params.get("Description", ""),
                "max_session": 3600, "tags": [], "inline": {}, "attached": [], "boundary": None, "service_linked": service,
            }
            self._put(txn, ctx, "role", doc)
        return {"Role": self._role_shape(doc)}

    def delete_service_linked_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            role = self._get(txn, ctx, "role", params["RoleName"])
            if not role.get("service_linked"):
                raise invalid_input(f"Role {role['name']} is not a service-linked role.")
            txn.delete(R.ROLE, role["name"], ctx.account_id)
            task = f"task{role['path']}{role['name']}/{uuid.uuid4()}"
            txn.put(R.JOB, task, {"kind": "slr-deletion", "status": "SUCCEEDED", "created": ctx.clock.time()}, ctx.account_id)
        return {"DeletionTaskId": task}

    def get_service_linked_role_deletion_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = ctx.store.read.get(R.JOB, params["DeletionTaskId"], ctx.account_id)
        if doc is None or doc.get("kind") != "slr-deletion":
            raise no_such_entity(f"Deletion task {params['DeletionTaskId']} cannot be found.")
        return {"Status": doc["status"]}

    # ------------------------------------------------------------ instance profiles

    def _profile_shape(self, ctx: RequestContext, doc: dict[str, Any], txn: Txn | None = None) -> dict[str, Any]:
        read = txn or ctx.store.read
        roles = [self._role_shape(r, full=False) for r in (read.get(R.ROLE, n, ctx.account_id) for n in doc["roles"]) if r]
        out = {"Path": doc["path"], "InstanceProfileName": doc["name"], "InstanceProfileId": doc["id"], "Arn": doc["arn"],
               "CreateDate": dt(doc["created"]), "Roles": roles}
        if doc.get("tags"):
            out["Tags"] = doc["tags"]
        return out

    def _profile(self, txn: Txn, ctx: RequestContext, name: str) -> dict[str, Any]:
        doc = txn.get(R.INSTANCE_PROFILE, name, ctx.account_id)
        if doc is None:
            raise no_such_entity(f"Instance Profile {name} cannot be found.")
        return doc

    def create_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params["InstanceProfileName"], "instanceProfileName", 128)
        path = check_path(params.get("Path"))
        with ctx.store.transaction() as txn:
            if txn.exists(R.INSTANCE_PROFILE, name, ctx.account_id):
                raise already_exists(f"Instance Profile {name} already exists.")
            doc = {"name": name, "id": R.new_id("AIPA"), "arn": self._arn(ctx, "instance-profile", path, name), "path": path,
                   "created": ctx.clock.time(), "roles": [], "tags": check_tags(params.get("Tags"))}
            txn.put(R.INSTANCE_PROFILE, name, doc, ctx.account_id)
        return {"InstanceProfile": self._profile_shape(ctx, doc)}

    def get_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"InstanceProfile": self._profile_shape(ctx, self._profile(ctx.store.read, ctx, params["InstanceProfileName"]))}

    def list_instance_profiles(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        docs = [self._profile_shape(ctx, d) for _, d in ctx.store.read.scan(R.INSTANCE_PROFILE, ctx.account_id) if d["path"].startswith(prefix)]
        return page(docs, params, "InstanceProfiles")

    def list_instance_profiles_for_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get(ctx.store.read, ctx, "role", params["RoleName"])
        docs = [self._profile_shape(ctx, d) for _, d in ctx.store.read.scan(R.INSTANCE_PROFILE, ctx.account_id) if role["name"] in d["roles"]]
        return page(docs, params, "InstanceProfiles")

    def add_role_to_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            profile = self._profile(txn, ctx, params["InstanceProfileName"])
            role = self._get(txn, ctx, "role", params["RoleName"])
            if profile["roles"]:
                raise limit_exceeded("Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
            profile["roles"].append(role["name"])
            txn.put(R.INSTANCE_PROFILE, profile["name"], profile, ctx.account_id)
        return {}

    def remove_role_from_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            profile = self._profile(txn, ctx, params["InstanceProfileName"])
            if params["RoleName"] not in profile["roles"]:
                raise no_such_entity(f"The role with name {params['RoleName']} cannot be found.")
            profile["roles"].remove(params["RoleName"])
            txn.put(R.INSTANCE_PROFILE, profile["name"], profile, ctx.account_id)
        return {}

    def delete_instance_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            profile = self._profile(txn, ctx, params["InstanceProfileName"])
            if profile["roles"]:
                raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
            txn.delete(R.INSTANCE_PROFILE, profile["name"], ctx.account_id)
        return {}

    # ------------------------------------------------------------ managed policies

    def create_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params["PolicyName"], "policyName", 128)
        path = check_path(params.get("Path"))
        document = validated_policy(params["PolicyDocument"], max_size=MAX_MANAGED_POLICY_SIZE)
        now = ctx.clock.time()
        with ctx.store.transaction() as txn:
            if txn.exists(R.POLICY, name, ctx.account_id):
                raise already_exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
            doc = {"name": name, "id": R.new_id("ANPA"), "arn": self._arn(ctx, "policy", path, name), "path": path,
                   "created": now, "updated": now, "description": params.get("Description", ""),
                   "tags": check_tags(params.get("Tags")), "default": "v1", "next": 2,
                   "versions": {"v1": {"document": document, "created": now}}}
            txn.put(R.POLICY, name, doc, ctx.account_id)
        return {"Policy": self._policy_shape(doc, ctx)}

    def get_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._policy_by_arn(ctx.store.read, ctx, params["PolicyArn"])
        if doc is None:
            raise no_such_entity(f"Policy {params['PolicyArn']} was not found.")
        return {"Policy": self._policy_shape(doc, ctx)}

    def list_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        scope = params.get("Scope") or "All"
        attached_only = bool(params.get("OnlyAttached"))
        prefix = params.get("PathPrefix") or "/"
        docs: list[dict[str, Any]] = []
        if scope in ("All", "AWS"):
            docs += [{"aws": True, **p} for p in R.aws_managed().values()]
        if scope in ("All", "Local"):
            docs += self._entities(ctx, R.POLICY)
        shapes = [self._policy_shape(d, ctx) for d in docs if (d.get("path") or d.get("Path", "/")).startswith(prefix)]
        if attached_only:
            shapes = [s for s in shapes if s["AttachmentCount"]]
        return page(shapes, params, "Policies")

    def delete_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["PolicyArn"]
        with ctx.store.transaction() as txn:
            doc = self._policy_by_arn(txn, ctx, arn)
            if doc is None or doc.get("aws"):
                raise no_such_entity(f"Policy {arn} was not found.") if doc is None else invalid_input("AWS managed policies cannot be deleted.")
            if self._attachment_count(ctx, arn) or self._boundary_count(ctx, arn):
                raise delete_conflict("Cannot delete a policy attached to entities.")
            if len(doc["versions"]) > 1:
                raise delete_conflict("Cannot delete a policy with non-default versions; delete them first.")
            txn.delete(R.POLICY, doc["name"], ctx.account_id)
        return {}

    def _local_policy(self, txn: Txn, ctx: RequestContext, arn: str) -> dict[str, Any]:
        doc = self._policy_by_arn(txn, ctx, arn)
        if doc is None:
            raise no_such_entity(f"Policy {arn} was not found.")
        if doc.get("aws"):
            raise invalid_input("AWS managed policies cannot be changed.")
        return doc

    def create_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        document = validated_policy(params["PolicyDocument"], max_size=MAX_MANAGED_POLICY_SIZE)
        with ctx.store.transaction() as txn:
            doc = self._local_policy(txn, ctx, params["PolicyArn"])
            if len(doc["versions"]) >= MAX_POLICY_VERSIONS:
                raise limit_exceeded(f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version.")
            version = f"v{doc['next']}"
            doc["next"] += 1
            now = ctx.clock.time()
            doc["versions"][version] = {"document": document, "created": now}
            if params.get("SetAsDefault"):
                doc["default"] = version
            doc["updated"] = now
            txn.put(R.POLICY, doc["name"], doc, ctx.account_id)
        return {"PolicyVersion": {"VersionId": version, "IsDefaultVersion": doc["default"] == version, "CreateDate": dt(now)}}

    def get_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._policy_by_arn(ctx.store.read, ctx, params["PolicyArn"])
        version = params["VersionId"]
        if doc is None:
            raise no_such_entity(f"Policy {params['PolicyArn']} was not found.")
        if doc.get("aws"):
            if version != doc["DefaultVersionId"]:
                raise no_such_entity(f"Policy {params['PolicyArn']} version {version} does not exist or is not attachable.")
            return {"PolicyVersion": {"Document": encoded(doc["text"]), "VersionId": version, "IsDefaultVersion": True, "CreateDate": doc["UpdateDate"]}}
        v = doc["versions"].get(version)
        if v is None:
            raise no_such_entity(f"Policy {params['PolicyArn']} version {version} does not exist or is not attachable.")
        return {"PolicyVersion": {"Document": encoded(v["document"]), "VersionId": version, "IsDefaultVersion": doc["default"] == version, "CreateDate": dt(v["created"])}}

    def list_policy_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._policy_by_arn(ctx.store.read, ctx, params["PolicyArn"])
        if doc is None:
            raise no_such_entity(f"Policy {params['PolicyArn']} was not found.")
        if doc.get("aws"):
            versions = [{"VersionId": doc["DefaultVersionId"], "IsDefaultVersion": True, "CreateDate": doc["UpdateDate"]}]
        else:
            versions = [{"VersionId": k, "IsDefaultVersion": k == doc["default"], "CreateDate": dt(v["created"])}
                        for k, v in sorted(doc["versions"].items(), key=lambda kv: -int(kv[0][1:]))]
        return page(versions, params, "Versions")

    def set_default_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._local_policy(txn, ctx, params["PolicyArn"])
            if params["VersionId"] not in doc["versions"]:
                raise no_such_entity(f"Policy {params['PolicyArn']} version {params['VersionId']} does not exist or is not attachable.")
            doc["default"] = params["VersionId"]
            doc["updated"] = ctx.clock.time()
            txn.put(R.POLICY, doc["name"], doc, ctx.account_id)
        return {}

    def delete_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._local_policy(txn, ctx, params["PolicyArn"])
            version = params["VersionId"]
            if version not in doc["versions"]:
                raise no_such_entity(f"Policy {params['PolicyArn']} version {version} does not exist or is not attachable.")
            if version == doc["default"]:
                raise delete_conflict("Cannot delete the default version of a policy.")
            del doc["versions"][version]
            txn.put(R.POLICY, doc["name"], doc, ctx.account_id)
        return {}

    # ------------------------------------------------------------ attach / detach

    def _attach(self, ctx: RequestContext, entity: str, name: str, arn: str) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            self._require_policy(txn, ctx, arn)
            if arn not in doc["attached"]:
                if len(doc["attached"]) >= MAX_ATTACHED:
                    raise limit_exceeded(f"Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED}" if entity == "user" else f"Cannot exceed quota for PoliciesPer{entity.capitalize()}: {MAX_ATTACHED}")
                doc["attached"].append(arn)
                self._put(txn, ctx, entity, doc)
        return {}

    def _detach(self, ctx: RequestContext, entity: str, name: str, arn: str) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            if arn not in doc["attached"]:
                raise no_such_entity(f"Policy {arn} was not found.")
            doc["attached"].remove(arn)
            self._put(txn, ctx, entity, doc)
        return {}

    def attach_user_policy(self, ctx, params):
        return self._attach(ctx, "user", params["UserName"], params["PolicyArn"])

    def attach_group_policy(self, ctx, params):
        return self._attach(ctx, "group", params["GroupName"], params["PolicyArn"])

    def attach_role_policy(self, ctx, params):
        return self._attach(ctx, "role", params["RoleName"], params["PolicyArn"])

    def detach_user_policy(self, ctx, params):
        return self._detach(ctx, "user", params["UserName"], params["PolicyArn"])

    def detach_group_policy(self, ctx, params):
        return self._detach(ctx, "group", params["GroupName"], params["PolicyArn"])

    def detach_role_policy(self, ctx, params):
        return self._detach(ctx, "role", params["RoleName"], params["PolicyArn"])

    def _list_attached(self, ctx: RequestContext, entity: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(ctx.store.read, ctx, entity, name)
        prefix = params.get("PathPrefix") or "/"
        items = []
        for arn in doc["attached"]:
            path = "/" + arn.split(":", 5)[5].split("/", 1)[1].rsplit("/", 1)[0] + "/" if arn.count("/") > 1 else "/"
            if path.replace("//", "/").startswith(prefix):
                items.append({"PolicyName": R.policy_name_from_arn(arn), "PolicyArn": arn})
        return page(items, params, "AttachedPolicies")

    def list_attached_user_policies(self, ctx, params):
        return self._list_attached(ctx, "user", params["UserName"], params)

    def list_attached_group_policies(self, ctx, params):
        return self._list_attached(ctx, "group", params["GroupName"], params)

    def list_attached_role_policies(self, ctx, params):
        return self._list_attached(ctx, "role", params["RoleName"], params)

    def list_entities_for_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["PolicyArn"]
        if self._policy_by_arn(ctx.store.read, ctx, arn) is None:
            raise no_such_entity(f"Policy {arn} was not found.")
        usage = params.get("PolicyUsageFilter") or "PermissionsPolicy"
        want = params.get("EntityFilter")
        out: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": [], "IsTruncated": False}
        for entity, kind, key, id_key in (("User", R.USER, "PolicyUsers", "UserId"), ("Group", R.GROUP, "PolicyGroups", "GroupId"), ("Role", R.ROLE, "PolicyRoles", "RoleId")):
            if want and want not in (entity, "LocalManagedPolicy", "AWSManagedPolicy"):
                continue
            for d in self._entities(ctx, kind):
                hit = arn in d.get("attached", []) if usage == "PermissionsPolicy" else d.get("boundary") == arn
                if hit:
                    out[key].append({f"{entity}Name": d["name"], id_key: d["id"]})
        return out

    # ------------------------------------------------------------ inline policies

    def _put_inline(self, ctx: RequestContext, entity: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        policy_name = check_name(params["PolicyName"], "policyName", 128)
        document = validated_policy(params["PolicyDocument"], max_size=_INLINE_LIMIT[entity])
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            inline = dict(doc.get("inline") or {})
            inline[policy_name] = document
            total = sum(len("".join(t.split())) for t in inline.values())
            if total > _INLINE_LIMIT[entity]:
                raise limit_exceeded(f"Maximum policy size of {_INLINE_LIMIT[entity]} bytes exceeded for {_label(entity)} {name}")
            doc["inline"] = inline
            self._put(txn, ctx, entity, doc)
        return {}

    def _get_inline(self, ctx: RequestContext, entity: str, name: str, policy_name: str) -> dict[str, Any]:
        doc = self._get(ctx.store.read, ctx, entity, name)
        text = (doc.get("inline") or {}).get(policy_name)
        if text is None:
            raise no_such_entity(f"The {_label(entity)} policy with name {policy_name} cannot be found.")
        member = _ENTITY[entity][1]
        return {member: doc["name"], "PolicyName": policy_name, "PolicyDocument": encoded(text)}

    def _delete_inline(self, ctx: RequestContext, entity: str, name: str, policy_name: str) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            if policy_name not in (doc.get("inline") or {}):
                raise no_such_entity(f"The {_label(entity)} policy with name {policy_name} cannot be found.")
            del doc["inline"][policy_name]
            self._put(txn, ctx, entity, doc)
        return {}

    def _list_inline(self, ctx: RequestContext, entity: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(ctx.store.read, ctx, entity, name)
        return page(sorted(doc.get("inline") or {}), params, "PolicyNames")

    def put_user_policy(self, ctx, params):
        return self._put_inline(ctx, "user", params["UserName"], params)

    def put_group_policy(self, ctx, params):
        return self._put_inline(ctx, "group", params["GroupName"], params)

    def put_role_policy(self, ctx, params):
        return self._put_inline(ctx, "role", params["RoleName"], params)

    def get_user_policy(self, ctx, params):
        return self._get_inline(ctx, "user", params["UserName"], params["PolicyName"])

    def get_group_policy(self, ctx, params):
        return self._get_inline(ctx, "group", params["GroupName"], params["PolicyName"])

    def get_role_policy(self, ctx, params):
        return self._get_inline(ctx, "role", params["RoleName"], params["PolicyName"])

    def delete_user_policy(self, ctx, params):
        return self._delete_inline(ctx, "user", params["UserName"], params["PolicyName"])

    def delete_group_policy(self, ctx, params):
        return self._delete_inline(ctx, "group", params["GroupName"], params["PolicyName"])

    def delete_role_policy(self, ctx, params):
        return self._delete_inline(ctx, "role", params["RoleName"], params["PolicyName"])

    def list_user_policies(self, ctx, params):
        return self._list_inline(ctx, "user", params["UserName"], params)

    def list_group_policies(self, ctx, params):
        return self._list_inline(ctx, "group", params["GroupName"], params)

    def list_role_policies(self, ctx, params):
        return self._list_inline(ctx, "role", params["RoleName"], params)

    # ------------------------------------------------------------ permission boundaries

    def _set_boundary(self, ctx: RequestContext, entity: str, name: str, arn: str | None) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            if arn is not None:
                self._require_policy(txn, ctx, arn)
            elif not doc.get("boundary"):
                raise no_such_entity(f"The {_label(entity)} {name} has no permissions boundary.")
            doc["boundary"] = arn
            self._put(txn, ctx, entity, doc)
        return {}

    def put_user_permissions_boundary(self, ctx, params):
        return self._set_boundary(ctx, "user", params["UserName"], params["PermissionsBoundary"])

    def put_role_permissions_boundary(self, ctx, params):
        return self._set_boundary(ctx, "role", params["RoleName"], params["PermissionsBoundary"])

    def delete_user_permissions_boundary(self, ctx, params):
        return self._set_boundary(ctx, "user", params["UserName"], None)

    def delete_role_permissions_boundary(self, ctx, params):
        return self._set_boundary(ctx, "role", params["RoleName"], None)

    # ------------------------------------------------------------ tags

    def _tag(self, ctx: RequestContext, entity: str, name: str, tags: list[dict[str, str]]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            doc["tags"] = check_tags(tags, doc.get("tags"))
            self._put(txn, ctx, entity, doc)
        return {}

    def _untag(self, ctx: RequestContext, entity: str, name: str, keys: list[str]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._get(txn, ctx, entity, name)
            doc["tags"] = [t for t in doc.get("tags", []) if t["Key"] not in keys]
            self._put(txn, ctx, entity, doc)
        return {}

    def tag_user(self, ctx, params):
        return self._tag(ctx, "user", params["UserName"], params["Tags"])

    def tag_role(self, ctx, params):
        return self._tag(ctx, "role", params["RoleName"], params["Tags"])

    def untag_user(self, ctx, params):
        return self._untag(ctx, "user", params["UserName"], params["TagKeys"])

    def untag_role(self, ctx, params):
        return self._untag(ctx, "role", params["RoleName"], params["TagKeys"])

    def list_user_tags(self, ctx, params):
        return page(self._get(ctx.store.read, ctx, "user", params["UserName"]).get("tags", []), params, "Tags")

    def list_role_tags(self, ctx, params):
        return page(self._get(ctx.store.read, ctx, "role", params["RoleName"]).get("tags", []), params, "Tags")

    def tag_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._local_policy(txn, ctx, params["PolicyArn"])
            doc["tags"] = check_tags(params["Tags"], doc.get("tags"))
            txn.put(R.POLICY, doc["name"], doc, ctx.account_id)
        return {}

    def list_policy_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._local_policy(ctx.store.read, ctx, params["PolicyArn"])
        return page(doc.get("tags", []), params, "Tags")


__all__ = ["IamProvider", "ServiceError"]
