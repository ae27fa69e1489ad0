"""IAM security tooling: the credential report, Access Advisor (service last accessed),
the account summary and authorization details, and the policy simulator — all from
real data (the records and the audit log of requests) and the same policy engine
that decides requests."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from ...accounts import KEY_KIND, Principal
from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...iam import records as R
from ...iam.audit import EVENT
from ...iam.authorizer import iam_state
from ...iam.engine import PrincipalPolicies
from ...iam.policy import PolicyError, compile_policy, parse_document
from .common import dt, encoded, invalid_input, iso, no_such_entity, page

REPORT_COLUMNS = [
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
    "password_next_rotation", "mfa_active", "access_key_1_active", "access_key_1_last_rotated",
    "access_key_1_last_used_date", "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active", "cert_1_last_rotated",
    "cert_2_active", "cert_2_last_rotated",
]

SERVICE_NAMES = {
    "s3": "Amazon S3", "ec2": "Amazon EC2", "iam": "AWS Identity and Access Management", "sts": "AWS Security Token Service",
    "kms": "AWS Key Management Service", "cloudwatch": "Amazon CloudWatch", "elasticfilesystem": "Amazon Elastic File System",
    "rds": "Amazon RDS", "elasticache": "Amazon ElastiCache", "route53": "Amazon Route 53",
    "elasticloadbalancing": "Elastic Load Balancing", "autoscaling": "Amazon EC2 Auto Scaling", "acm": "AWS Certificate Manager",
    "ssm": "AWS Systems Manager", "logs": "Amazon CloudWatch Logs", "cloudtrail": "AWS CloudTrail",
    "route53domains": "Amazon Route 53 Domains",
}


class ReportsMixin:
    # ------------------------------------------------------------ credential report

    def _key_rows(self, ctx: RequestContext, keys: list[str]) -> list[str]:
        read = ctx.store.read
        cells: list[str] = []
        for i in range(2):
            doc = read.get(KEY_KIND, keys[i]) if i < len(keys) else None
            if doc is None:
                cells += ["false", "N/A", "N/A", "N/A", "N/A"]
                continue
            used = read.get(R.KEY_USED, keys[i])
            cells += [
                "true" if doc.get("status", "Active") == "Active" else "false",
                iso(doc.get("created")),
                iso(used["date"]) if used else "N/A",
                used["region"] if used and used["region"] else "N/A",
                used["service"] if used and used["service"] else "N/A",
            ]
        return cells

    def generate_credential_report(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        iam_state(self.runtime).audit.flush()
        read = ctx.store.read
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        root_arn = f"arn:aws:iam::{ctx.account_id}:root"
        root_keys = [k for k, d in read.scan(KEY_KIND) if d.get("account") == ctx.account_id and d.get("kind") == "root"]
        account = read.get("account", ctx.account_id) or {}
        writer.writerow(["<root_account>", root_arn, iso(account.get("created", self.runtime.started)), "not_supported",
                         "no_information", "not_supported", "not_supported", "false"] + self._key_rows(ctx, root_keys)
                        + ["false", "N/A", "false", "N/A"])
        policy = self._password_policy(read, ctx) or {}
        for _, user in read.scan(R.USER, ctx.account_id):
            login = user.get("login")
            rotation = "N/A"
            if login and policy.get("MaxPasswordAge"):
                rotation = iso(login["changed"] + policy["MaxPasswordAge"] * 86400)
            writer.writerow([
                user["name"], user["arn"], iso(user["created"]), "true" if login else "false",
                iso(user.get("password_last_used")) if user.get("password_last_used") else ("no_information" if login else "N/A"),
                iso(login["changed"]) if login else "N/A", rotation, "true" if user.get("mfa") else "false",
            ] + self._key_rows(ctx, user.get("keys", [])) + ["false", "N/A", "false", "N/A"])
        with ctx.store.transaction() as txn:
            txn.put(R.REPORT, "credential", {"generated": ctx.clock.time(), "csv": out.getvalue()}, ctx.account_id)
        return {"State": "COMPLETE", "Description": "No report exists. Starting a new report generation task"}

    def get_credential_report(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        report = ctx.store.read.get(R.REPORT, "credential", ctx.account_id)
        if report is None:
            raise ServiceError("ReportNotPresent", "Credential report not present. Use GenerateCredentialReport to generate a report.")
        if ctx.clock.time() - report["generated"] > 4 * 3600:
            raise ServiceError("ReportExpired", "Credential report is expired. Use GenerateCredentialReport to generate a new report.")
        return {"Content": report["csv"].encode(), "ReportFormat": "text/csv", "GeneratedTime": dt(report["generated"])}

    # ------------------------------------------------------------ access advisor

    def _entity_by_arn(self, ctx: RequestContext, arn: str) -> tuple[str, dict[str, Any]]:
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        if len(parts) != 6 or parts[2] != "iam" or parts[4] not in (ctx.account_id, "aws"):
            raise invalid_input(f"ARN {arn} is not valid.")
        kind_name = parts[5].split("/", 1)[0]
        if kind_name == "policy":
            doc = self._policy_by_arn(ctx.store.read, ctx, arn)
            if doc is None:
                raise no_such_entity(f"Policy {arn} was not found.")
            return "policy", doc
        entity = {"user": "user", "group": "group", "role": "role"}.get(kind_name)
        if entity is None:
            raise invalid_input(f"ARN {arn} is not valid.")
        return entity, self._get(ctx.store.read, ctx, entity, R.name_from_arn(arn))

    def _policy_texts(self, ctx: RequestContext, entity: str, doc: dict[str, Any]) -> list[str]:
        read = ctx.store.read
        if entity == "policy":
            return [doc["text"]] if doc.get("aws") else [doc["versions"][doc["default"]]["document"]]
        texts = list((doc.get("inline") or {}).values())
        texts += [t for t in (R.managed_policy_text(read, a) for a in doc.get("attached", [])) if t]
        if entity == "user":
            for g in doc.get("groups", []):
                group = read.get(R.GROUP, g, ctx.account_id)
                if group:
                    texts += self._policy_texts(ctx, "group", group)
        return texts

    def generate_service_last_accessed_details(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["Arn"]
        entity, doc = self._entity_by_arn(ctx, arn)
        state = iam_state(self.runtime)
        state.audit.flush()
        # which principals count as this entity
        read = ctx.store.read
        if entity == "user":
            members = {doc["arn"]}
        elif entity == "role":
            members = {doc["arn"]}
        elif entity == "group":
            members = {u["arn"] for _, u in read.scan(R.USER, ctx.account_id) if doc["name"] in u.get("groups", [])}
        else:
            members = {d["arn"] for kind in (R.USER, R.ROLE) for _, d in read.scan(kind, ctx.account_id) if arn in d.get("attached", [])}
        # services the entity's policies allow
        prefixes: set[str] = set()
        for text in self._policy_texts(ctx, entity, doc):
            for st in compile_policy(text).statements:
                if not st.allow or st.actions is None:
                    continue
                for pattern in st.actions.patterns:
                    prefix = pattern.split(":", 1)[0].lower()
                    if prefix == "*" or "*" in prefix:
                        prefixes |= set(SERVICE_NAMES)
                    else:
                        prefixes.add(prefix)
        accessed: dict[str, dict[str, Any]] = {}
        for _, event in read.scan(EVENT, ctx.account_id, limit=200_000):
            who = event.get("parent") if event.get("principal_kind") == "assumed-role" else event.get("principal")
            prefix = event.get("prefix")
            if who in members and prefix in prefixes and event.get("decision") == "Allow":
                entry = accessed.setdefault(prefix, {"time": event["time"], "entity": who, "region": event.get("region"), "who": set()})
                entry["who"].add(who)  # events come newest first: the first one is the last access
        services = []
        for prefix in sorted(prefixes):
            item: dict[str, Any] = {"ServiceName": SERVICE_NAMES.get(prefix, prefix), "ServiceNamespace": prefix}
            hit = accessed.get(prefix)
            if hit:
                item.update(LastAuthenticated=dt(hit["time"]), LastAuthenticatedEntity=hit["entity"],
                            LastAuthenticatedRegion=hit["region"], TotalAuthenticatedEntities=len(hit["who"]))
            else:
                item["TotalAuthenticatedEntities"] = 0
            services.append(item)
        job_id = str(uuid.uuid4())
        now = ctx.clock.time()
        with ctx.store.transaction() as txn:
            txn.put(R.JOB, job_id, {"arn": arn, "created": now, "services": json.dumps(services, default=lambda d: d.timestamp())}, ctx.account_id)
        return {"JobId": job_id}

    def get_service_last_accessed_details(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        job = ctx.store.read.get(R.JOB, params["JobId"], ctx.account_id)
        if job is None:
            raise no_such_entity(f"No job with id {params['JobId']} exists.")
        services = json.loads(job["services"])
        for s in services:
            if "LastAuthenticated" in s:
                s["LastAuthenticated"] = dt(s["LastAuthenticated"])
        out = page(services, params, "ServicesLastAccessed")
        out.update(JobStatus="COMPLETED", JobType="SERVICE_LEVEL", JobCreationDate=dt(job["created"]), JobCompletionDate=dt(job["created"]))
        return out

    # ------------------------------------------------------------ account summary / details

    def get_account_summary(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        read = ctx.store.read
        users = [d for _, d in read.scan(R.USER, ctx.account_id)]
        devices = [d for _, d in read.scan(R.MFA, ctx.account_id)]
        policies = [d for _, d in read.scan(R.POLICY, ctx.account_id)]
        root_keys = [k for k, d in read.scan(KEY_KIND) if d.get("account") == ctx.account_id and d.get("kind") == "root"]
        summary = {
            "Users": len(users), "UsersQuota": 5000,
            "Groups": read.count(R.GROUP, ctx.account_id), "GroupsQuota": 300,
            "Roles": read.count(R.ROLE, ctx.account_id), "RolesQuota": 1000,
            "Policies": len(policies), "PoliciesQuota": 1500,
            "PolicyVersionsInUse": sum(len(p["versions"]) for p in policies), "PolicyVersionsInUseQuota": 10000,
            "VersionsPerPolicyQuota": 5, "PolicySizeQuota": 6144, "UserPolicySizeQuota": 2048,
            "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240, "AssumeRolePolicySizeQuota": 2048,
            "GroupsPerUserQuota": 10, "AccessKeysPerUserQuota": 2, "SigningCertificatesPerUserQuota": 2,
            "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10, "AttachedPoliciesPerRoleQuota": 10,
            "MFADevices": len(devices), "MFADevicesInUse": sum(1 for d in devices if d.get("user")),
            "AccountMFAEnabled": 0, "AccountAccessKeysPresent": 1 if root_keys else 0,
            "AccountPasswordPresent": 0, "AccountSigningCertificatesPresent": 0,
            "ServerCertificates": read.count(R.SERVER_CERT, ctx.account_id), "ServerCertificatesQuota": 20,
            "InstanceProfiles": read.count(R.INSTANCE_PROFILE, ctx.account_id), "InstanceProfilesQuota": 1000,
            "Providers": read.count(R.OIDC, ctx.account_id), "GlobalEndpointTokenVersion": 1,
        }
        return {"SummaryMap": summary}

    def get_account_authorization_details(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        read = ctx.store.read
        wanted = set(params.get("Filter") or ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"])

        def inline(doc: dict[str, Any]) -> list[dict[str, str]]:
            return [{"PolicyName": n, "PolicyDocument": encoded(t)} for n, t in sorted((doc.get("inline") or {}).items())]

        def attached(doc: dict[str, Any]) -> list[dict[str, str]]:
            return [{"PolicyName": R.policy_name_from_arn(a), "PolicyArn": a} for a in doc.get("attached", [])]

        out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": [], "IsTruncated": False}
        used_aws: set[str] = set()
        if "User" in wanted:
            for _, u in read.scan(R.USER, ctx.account_id):
                item = {**self._user_shape(u, full=True), "UserPolicyList": inline(u), "GroupList": u.get("groups", []), "AttachedManagedPolicies": attached(u)}
                out["UserDetailList"].append(item)
        if "Group" in wanted:
            for _, g in read.scan(R.GROUP, ctx.account_id):
                out["GroupDetailList"].append({**self._group_shape(g), "GroupPolicyList": inline(g), "AttachedManagedPolicies": attached(g)})
        if "Role" in wanted:
            for _, r in read.scan(R.ROLE, ctx.account_id):
                profiles = [self._profile_shape(ctx, p) for _, p in read.scan(R.INSTANCE_PROFILE, ctx.account_id) if r["name"] in p["roles"]]
                out["RoleDetailList"].append({**self._role_shape(r), "RolePolicyList": inline(r), "AttachedManagedPolicies": attached(r), "InstanceProfileList": profiles})
        for kind in (R.USER, R.GROUP, R.ROLE):
            for _, d in read.scan(kind, ctx.account_id):
                used_aws |= {a for a in d.get("attached", []) if a.startswith(R.AWS_MANAGED_PREFIX)}
        if "LocalManagedPolicy" in wanted:
            for _, p in read.scan(R.POLICY, ctx.account_id):
                shape = self._policy_shape(p, ctx)
                shape["PolicyVersionList"] = [{"Document": encoded(v["document"]), "VersionId": k, "IsDefaultVersion": k == p["default"], "CreateDate": dt(v["created"])} for k, v in p["versions"].items()]
                out["Policies"].append(shape)
        if "AWSManagedPolicy" in wanted:
            for arn in sorted(used_aws):
                p = {"aws": True, **R.aws_managed()[arn]}
                shape = self._policy_shape(p, ctx)
                shape["PolicyVersionList"] = [{"Document": encoded(p["text"]), "VersionId": p["DefaultVersionId"], "IsDefaultVersion": True, "CreateDate": p["UpdateDate"]}]
                out["Policies"].append(shape)
        return out

    # ------------------------------------------------------------ policy simulator

    def _simulate(self, ctx: RequestContext, principal: Principal, pp: PrincipalPolicies, params: dict[str, Any]) -> dict[str, Any]:
        actions = params.get("ActionNames") or []
        resources = params.get("ResourceArns") or ["*"]
        context: dict[str, Any] = {}
        for entry in params.get("ContextEntries") or []:
            values = entry.get("ContextKeyValues") or []
            context[entry["ContextKeyName"]] = values if entry.get("ContextKeyType", "").endswith("List") else (values[0] if values else None)
        resource_policy = None
        if params.get("ResourcePolicy"):
            try:
                parse_document(params["ResourcePolicy"], kind="resource")
            except PolicyError as exc:
                raise ServiceError("MalformedPolicyDocument", str(exc)) from None
            resource_policy = compile_policy(params["ResourcePolicy"], kind="resource")
        engine = iam_state(self.runtime).engine
        results = []
        for action in actions:
            for resource in resources:
                decision, matched = engine.simulate(principal, pp, action, resource, context, resource_policy,
                                                    params.get("ResourceOwner", "").split(":")[4] if params.get("ResourceOwner", "").count(":") >= 4 else "", ctx)
                results.append({"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision,
                                "MatchedStatements": matched, "MissingContextValues": []})
        return page(results, params, "EvaluationResults")

    def _input_policies(self, params: dict[str, Any], member: str, kind: str = "identity") -> list[Any]:
        out = []
        for i, text in enumerate(params.get(member) or []):
            try:
                parse_document(text, kind=kind)
            except PolicyError as exc:
                raise ServiceError("MalformedPolicyDocument", str(exc)) from None
            out.append(compile_policy(text, name=f"PolicyInputList.{i + 1}", kind=kind))
        return out

    def simulate_principal_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["PolicySourceArn"]
        engine = iam_state(self.runtime).engine
        read = ctx.store.read
        entity, doc = self._entity_by_arn(ctx, arn)
        if entity == "user":
            pp = engine.user_policies(read, ctx.account_id, doc["name"])
            principal = Principal(account_id=ctx.account_id, arn=doc["arn"], user_id=doc["id"], kind="user", name=doc["name"])
        elif entity == "role":
            pp = engine.role_policies(read, ctx.account_id, doc["name"])
            principal = Principal(account_id=ctx.account_id, arn=doc["arn"], user_id=doc["id"], kind="assumed-role", name=doc["name"], parent_arn=doc["arn"])
        elif entity == "group":
            from ...iam.engine import _entity_policies

            pp = PrincipalPolicies(_entity_policies(read, doc, f"group {doc['name']}"))
            principal = Principal(account_id=ctx.account_id, arn=doc["arn"], user_id=doc["id"], kind="user", name=doc["name"])
        else:
            raise invalid_input("PolicySourceArn must be a user, group or role.")
        extra = self._input_policies(params, "PolicyInputList")
        boundary = self._input_policies(params, "PermissionsBoundaryPolicyInputList", "boundary")
        pp = PrincipalPolicies(list(pp.identity) + extra, boundary[0] if boundary else pp.boundary, None, pp.tags)
        return self._simulate(ctx, principal, pp, params)

    def simulate_custom_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        policies = self._input_policies(params, "PolicyInputList")
        boundary = self._input_policies(params, "PermissionsBoundaryPolicyInputList", "boundary")
        caller = params.get("CallerArn") or f"arn:aws:iam::{ctx.account_id}:user/simulated"
        principal = Principal(account_id=ctx.account_id, arn=caller, user_id="SIMULATED", kind="user", name=R.name_from_arn(caller))
        pp = PrincipalPolicies(policies, boundary[0] if boundary else None)
        return self._simulate(ctx, principal, pp, params)


def _context_keys(texts: list[str]) -> list[str]:
    """The condition keys policy documents test (GetContextKeysFor*Policy), as written."""
    import json
    import re as _re

    keys: dict[str, str] = {}
    for text in texts:
        try:
            doc = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            continue
        statements = doc.get("Statement", []) if isinstance(doc, dict) else []
        for st in [statements] if isinstance(statements, dict) else statements:
            if not isinstance(st, dict):
                continue
            for block in (st.get("Condition") or {}).values():
                if isinstance(block, dict):
                    for key in block:
                        keys.setdefault(key.lower(), key)
            for element in ("Resource", "NotResource"):
                values = st.get(element) or []
                for value in [values] if isinstance(values, str) else values:
                    for var in _re.findall(r"\$\{([^},]+)", str(value)):
                        if var not in ("*", "?", "$"):
                            keys.setdefault(var.lower(), var)
    return sorted(keys.values(), key=str.lower)


class ContextKeysMixin:
    def get_context_keys_for_custom_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        texts = params["PolicyInputList"]
        self._input_policies(params, "PolicyInputList")  # MalformedPolicyDocument as AWS checks it
        return {"ContextKeyNames": _context_keys(texts)}

    def get_context_keys_for_principal_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entity, doc = self._entity_by_arn(ctx, params["PolicySourceArn"])
        texts = self._policy_texts(ctx, entity, doc) + list(params.get("PolicyInputList") or [])
        self._input_policies(params, "PolicyInputList")
        return {"ContextKeyNames": _context_keys(texts)}
