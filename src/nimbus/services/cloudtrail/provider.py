"""AWS CloudTrail: LookupEvents over Nimbus's record of every request.

The gateway records each request (principal, action, resources, decision, source IP,
time, error) in the audit log (``nimbus.iam.audit``); LookupEvents reads it back in
CloudTrail's shapes, newest first, with its one-attribute filters and time range.
Every request is recorded, management and data events alike, authorized or denied.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...iam.audit import EVENT
from ...iam.authorizer import iam_state
from ..base import Provider

ATTRIBUTE_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId")
_IDENTITY_TYPES = {"root": "Root", "user": "IAMUser", "assumed-role": "AssumedRole", "federated-user": "FederatedUser", "anonymous": "AWSAccount",
                   "web-identity": "WebIdentityUser"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_type(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return ""
    service, rest = parts[2], parts[5]
    kind = rest.split("/", 1)[0] if "/" in rest else (rest.split(":", 1)[0] if ":" in rest else "")
    if service == "s3":
        return "AWS::S3::Object" if "/" in rest else "AWS::S3::Bucket"
    names = {"ec2": "EC2", "iam": "IAM", "kms": "KMS", "rds": "RDS", "elasticfilesystem": "EFS", "sts": "STS"}
    kind_name = "".join(w.capitalize() for w in kind.replace("-", " ").split()) or "Resource"
    return f"AWS::{names.get(service, service.upper())}::{kind_name}"


class CloudTrailProvider(Provider):
    service = "cloudtrail"

    def resource_counts(self) -> dict[str, int]:
        return {"event": self.runtime.store.read.count(EVENT)}

    def _event(self, e: dict[str, Any]) -> dict[str, Any]:
        source = f"{e.get('prefix') or e.get('service')}.amazonaws.com"
        identity: dict[str, Any] = {"type": _IDENTITY_TYPES.get(e.get("principal_kind", ""), "Unknown"), "principalId": e.get("user_id", ""),
                                    "arn": e.get("principal", ""), "accountId": e.get("account", "")}
        if e.get("access_key"):
            identity["accessKeyId"] = e["access_key"]
        if e.get("principal_kind") == "user":
            identity["userName"] = e.get("user_name", "")
        if e.get("principal_kind") == "assumed-role":
            identity["sessionContext"] = {"sessionIssuer": {"type": "Role", "arn": e.get("parent", ""), "userName": e.get("user_name", "")}}
            if e.get("source_identity"):
                identity["sessionContext"]["sourceIdentity"] = e["source_identity"]
        if e.get("principal_kind") == "web-identity":
            identity = {"type": "WebIdentityUser", "principalId": e.get("user_id", ""), "userName": e.get("user_name", ""),
                        "identityProvider": e.get("principal", "").split(":oidc-provider/", 1)[-1]}
        record = {
            "eventVersion": "1.08", "userIdentity": identity, "eventTime": _iso(e["time"]), "eventSource": source,
            "eventName": e.get("operation", ""), "awsRegion": e.get("region", ""), "sourceIPAddress": e.get("source_ip", ""),
            "userAgent": e.get("user_agent", ""), "requestID": e["id"], "eventID": e["id"], "readOnly": e.get("read_only", False),
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": e.get("account", ""),
            "resources": [{"ARN": r, "type": _resource_type(r)} for r in e.get("resources", []) if r != "*"],
            "authorization": {"action": e.get("action", ""), "decision": e.get("decision", "")},
        }
        if e.get("error_code"):
            record["errorCode"] = e["error_code"]
            record["errorMessage"] = e.get("error_message", "")
        out = {
            "EventId": e["id"], "EventName": e.get("operation", ""), "ReadOnly": "true" if e.get("read_only") else "false",
            "EventTime": datetime.fromtimestamp(e["time"], tz=timezone.utc), "EventSource": source,
            "Username": e.get("user_name", ""),
            "Resources": [{"ResourceType": _resource_type(r), "ResourceName": r} for r in e.get("resources", []) if r != "*"],
            "CloudTrailEvent": json.dumps(record),
        }
        if e.get("access_key"):
            out["AccessKeyId"] = e["access_key"]
        return out

    @staticmethod
    def _matches(e: dict[str, Any], key: str, value: str) -> bool:
        if key == "EventId":
            return e["id"] == value
        if key == "EventName":
            return e.get("operation") == value
        if key == "ReadOnly":
            return str(bool(e.get("read_only"))).lower() == value.lower()
        if key == "Username":
            return e.get("user_name") == value
        if key == "ResourceName":
            return value in e.get("resources", [])
        if key == "ResourceType":
            return any(_resource_type(r) == value for r in e.get("resources", []))
        if key == "EventSource":
            return f"{e.get('prefix')}.amazonaws.com" == value
        if key == "AccessKeyId":
            return e.get("access_key") == value
        return False

    def lookup_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        attributes = params.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise ServiceError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
        for attr in attributes:
            if attr.get("AttributeKey") not in ATTRIBUTE_KEYS:
                raise ServiceError("InvalidLookupAttributesException", f"Invalid attribute key: {attr.get('AttributeKey')}")
            if not attr.get("AttributeValue"):
                raise ServiceError("InvalidLookupAttributesException", "The attribute value must not be empty.")
        limit = params.get("MaxResults") or 50
        if not 1 <= limit <= 50:
            raise ServiceError("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        start, end = params.get("StartTime"), params.get("EndTime")
        start_ts = start.timestamp() if start else None
        end_ts = end.timestamp() if end else None
        if start_ts is not None and end_ts is not None and start_ts > end_ts:
            raise ServiceError("InvalidTimeRangeException", "Start time must be before end time.")
        after = None
        if params.get("NextToken"):
            try:
                after = base64.urlsafe_b64decode(params["NextToken"].encode()).decode()
            except ValueError:
                raise ServiceError("InvalidNextTokenException", "Invalid NextToken.") from None
        audit = iam_state(self.runtime).audit
        audit.flush()
        cutoff = audit.cutoff()  # past the retention window (pruned soon if not yet)
        events: list[dict[str, Any]] = []
        last_key = None
        more = False
        for key, e in ctx.store.read.scan(EVENT, ctx.account_id, start_after=after):
            if end_ts is not None and e["time"] > end_ts:
                continue
            if (start_ts is not None and e["time"] < start_ts) or (cutoff is not None and e["time"] < cutoff):
                break  # newest first: everything after is older still
            if attributes and not self._matches(e, attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]):
                continue
            if len(events) == limit:
                more = True
                break
            events.append(self._event(e))
            last_key = key
        out: dict[str, Any] = {"Events": events}
        if more and last_key:
            out["NextToken"] = base64.urlsafe_b64encode(last_key.encode()).decode()
        return out
