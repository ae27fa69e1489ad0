"""Route 53 (global, rest-xml): hosted zones, record sets, changes, health checks, tags.

Records (scope = the account unless noted):
``route53:zone`` (key zone id), ``route53:zone-owner`` (scope "", zone id → account, for
cross-account VPC association), ``route53:rrset`` (see ``records.rrset_key``),
``route53:change``, ``route53:healthcheck``, ``route53:health`` / ``route53:healthcheck-state``
(written by the health-check controller), ``route53:tags``, ``route53:delegation-set``,
``route53:query-logging``, ``route53:vpc-authorization``, ``route53:traffic-policy``.

The DNS plane (``nimbus.planes.dns``) serves what these records say; a change is INSYNC
once the plane's snapshot contains it and ``NIMBUS_ROUTE53_PROPAGATION`` simulated
seconds have passed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import random
import string
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ..base import Provider
from . import geonames
from . import healthchecks as H
from . import records as R
from . import trafficpolicy as TP

OWNER_KIND = "route53:zone-owner"
TAGS_KIND = "route53:tags"
DELEGATION_KIND = "route53:delegation-set"
QUERY_LOG_KIND = "route53:query-logging"
VPC_AUTH_KIND = "route53:vpc-authorization"
POLICY_KIND = R.POLICY_KIND
INSTANCE_KIND = R.INSTANCE_KIND
CIDR_KIND = R.CIDR_KIND
CALLER_KIND = "route53:caller-reference"

SOA_TTL, NS_TTL = 900, 172800
PRIVATE_NS = ["ns-0.awsdns-00.com.", "ns-512.awsdns-00.net.", "ns-1024.awsdns-00.org.", "ns-1536.awsdns-00.co.uk."]


def _id(prefix: str, length: int = 21) -> str:
    return prefix + "".join(random.choices(string.ascii_uppercase + string.digits, k=length - len(prefix)))


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _bad_batch(messages: list[str]) -> ServiceError:
    """AWS's form today: the standard ``ErrorResponse`` whose message lists every problem
    as ``[m1, m2]``; the modeled ``messages`` member carries them one by one."""
    return ServiceError("InvalidChangeBatch", "[" + ", ".join(messages) + "]", 400, fields={"messages": list(messages)})


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message, 400)


def _no_zone(zone_id: str) -> ServiceError:
    return ServiceError("NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}", 404)


def _no_hc(hc_id: str) -> ServiceError:
    return ServiceError("NoSuchHealthCheck", f"No health check exists with the specified ID {hc_id}.", 404)


def _name_servers(seed: str) -> list[str]:
    digest = hashlib.sha256(seed.encode()).digest()
    return [
        f"ns-{digest[0] * 4 % 512}.awsdns-{digest[1] % 64:02d}.com.",
        f"ns-{512 + digest[2] * 2 % 512}.awsdns-{digest[3] % 64:02d}.net.",
        f"ns-{1024 + digest[4] * 2 % 512}.awsdns-{digest[5] % 64:02d}.org.",
        f"ns-{1536 + digest[6] * 2 % 512}.awsdns-{digest[7] % 64:02d}.co.uk.",
    ]


def _rr_label(rrset: dict[str, Any]) -> str:
    label = f"[name='{rrset['Name']}', type='{rrset['Type']}'"
    if rrset.get("SetIdentifier"):
        label += f", set-identifier='{rrset['SetIdentifier']}'"
    return label + "]"


def _clean_rrset(rrset: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in rrset.items() if v is not None}
    doc["Name"] = R.normalize_name(doc["Name"])
    if "AliasTarget" in doc:
        doc["AliasTarget"] = dict(doc["AliasTarget"])
        doc["AliasTarget"]["DNSName"] = R.normalize_name(doc["AliasTarget"]["DNSName"])
        doc["AliasTarget"].setdefault("EvaluateTargetHealth", False)
    return doc


def _same_values(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = set(a) | set(b)
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if key == "ResourceRecords":
            va = sorted(v["Value"] for v in va or [])
            vb = sorted(v["Value"] for v in vb or [])
        if key == "AliasTarget" and va and vb:
            va = (va["HostedZoneId"], va["DNSName"].lower(), bool(va.get("EvaluateTargetHealth")))
            vb = (vb["HostedZoneId"], vb["DNSName"].lower(), bool(vb.get("EvaluateTargetHealth")))
        if va != vb:
            return False
    return True


class Route53Provider(Provider):
    service = "route53"

    def resource_counts(self) -> dict[str, int]:
        read = self.runtime.store.read
        return {"hostedzone": read.count(R.ZONE_KIND), "rrset": read.count(R.RRSET_KIND), "healthcheck": read.count(R.HEALTHCHECK_KIND)}

    # -- helpers -----------------------------------------------------------------------

    def _zone(self, ctx: RequestContext, zone_id: str) -> dict[str, Any]:
        zone_id = zone_id.rsplit("/", 1)[-1]
        doc = ctx.store.read.get(R.ZONE_KIND, zone_id, ctx.account_id)
        if doc is None:
            raise _no_zone(zone_id)
        return doc

    def _zone_out(self, ctx: RequestContext, zone: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": f"/hostedzone/{zone['Id']}",
            "Name": R.display_name(zone["Name"]),
            "CallerReference": zone["CallerReference"],
            "Config": {"PrivateZone": bool(zone.get("Private"))},
            "ResourceRecordSetCount": ctx.store.read.count(R.RRSET_KIND, ctx.account_id) if False else zone.get("Count", 0),
        }
        if zone.get("Comment") is not None:
            out["Config"]["Comment"] = zone["Comment"]
        return out

    def _change(self, ctx: RequestContext, txn: Any, comment: str | None = None) -> dict[str, Any]:
        change_id = _id("C")
        doc = {"Id": change_id, "submitted": ctx.clock.time(), "wall": time.time()}
        if comment:
            doc["Comment"] = comment
        txn.put(R.CHANGE_KIND, change_id, doc, "")
        return self._change_out(doc, status="PENDING")

    def _change_out(self, doc: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        if status is None:
            status = "INSYNC" if self._in_sync(doc) else "PENDING"
        out = {"Id": f"/change/{doc['Id']}", "Status": status, "SubmittedAt": _dt(doc["submitted"])}
        if doc.get("Comment"):
            out["Comment"] = doc["Comment"]
        return out

    def _in_sync(self, doc: dict[str, Any]) -> bool:
        if self.runtime.clock.time() < doc["submitted"] + self.runtime.config.route53_propagation:
            return False
        from ...planes.dns import current

        plane = current(self.runtime)
        if plane is None:
            return True
        plane.flush()
        return plane.snapshot.built_wall >= doc["wall"]

    def _tags(self, ctx: RequestContext, rtype: str, rid: str) -> list[dict[str, str]]:
        return ctx.store.read.get(TAGS_KIND, f"{rtype}/{rid}", ctx.account_id) or []

    def _check_vpc(self, ctx: RequestContext, vpc: dict[str, Any] | None) -> dict[str, str]:
        if not vpc or not vpc.get("VPCId"):
            raise _invalid("A VPC with VPCId and VPCRegion is required for a private hosted zone.")
        region = vpc.get("VPCRegion") or ctx.region
        vpc_id = vpc["VPCId"]
        if not vpc_id.startswith("vpc-"):
            raise ServiceError("InvalidVPCId", f"The VPC ID '{vpc_id}' is not valid.", 400)
        scope = f"{ctx.account_id}/{region}"
        # Once EC2 keeps VPCs, only existing ones may be associated.
        if ctx.store.read.count("ec2:vpc", scope) and not ctx.store.read.exists("ec2:vpc", vpc_id, scope):
            raise ServiceError("InvalidVPCId", f"The VPC ID '{vpc_id}' does not exist in {region}.", 400)
        return {"VPCRegion": region, "VPCId": vpc_id}

    # -- hosted zones ------------------------------------------------------------------

    def create_hosted_zone(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = R.normalize_name(params["Name"])
        if not R.valid_domain(name) or name == "." or "*" in name:
            raise ServiceError("InvalidDomainName", f"{params['Name']} is not a valid domain name.", 400)
        ref = params["CallerReference"]
        config = params.get("HostedZoneConfig") or {}
        vpc = params.get("VPC")
        private = bool(config.get("PrivateZone")) or vpc is not None
        if config.get("PrivateZone") and vpc is None:
            raise _invalid("When you're creating a private hosted zone (when you specify true for PrivateZone), you must also specify values for VPCId and VPCRegion.")
        vpcs = [self._check_vpc(ctx, vpc)] if private else []
        delegation_id = params.get("DelegationSetId")
        account = ctx.account_id
        if ctx.store.read.exists(CALLER_KIND, f"zone/{ref}", account):
            raise ServiceError("HostedZoneAlreadyExists", f"A hosted zone has already been created with the specified caller reference: {ref}", 409)
        if delegation_id:
            if private:
                raise _invalid("A reusable delegation set cannot be used with a private hosted zone.")
            dset = ctx.store.read.get(DELEGATION_KIND, delegation_id.rsplit("/", 1)[-1], account)
            if dset is None:
                raise ServiceError("NoSuchDelegationSet", f"No delegation set found with ID {delegation_id}", 400)
            for _k, other in ctx.store.read.scan(R.ZONE_KIND, account):
                if other.get("DelegationSetId") == dset["Id"] and other["Name"] == name:
                    raise ServiceError("ConflictingDomainExists", f"The delegation set already contains a hosted zone for {name}.", 400)
            name_servers = dset["NameServers"]
        else:
            name_servers = PRIVATE_NS if private else _name_servers(name + ref + account)
        if private:
            for _k, other in ctx.store.read.scan(R.ZONE_KIND, account):
                if other.get("Private") and other["Name"] == name and any(v["VPCId"] == vpcs[0]["VPCId"] for v in other.get("VPCs", [])):
                    raise ServiceError("ConflictingDomainExists", f"A conflicting domain {name} is already associated with the VPC {vpcs[0]['VPCId']}.", 400)
        zone_id = _id("Z")
        now = ctx.clock.time()
        zone = {
            "Id": zone_id, "Name": name, "CallerReference": ref, "Comment": config.get("Comment"),
            "Private": private, "VPCs": vpcs, "NameServers": name_servers, "created": now, "Count": 2,
        }
        if delegation_id:
            zone["DelegationSetId"] = delegation_id.rsplit("/", 1)[-1]
        soa = {"Name": name, "Type": "SOA", "TTL": SOA_TTL,
               "ResourceRecords": [{"Value": f"{name_servers[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}]}
        ns = {"Name": name, "Type": "NS", "TTL": NS_TTL, "ResourceRecords": [{"Value": n} for n in name_servers]}
        with ctx.store.transaction() as txn:
            txn.put(R.ZONE_KIND, zone_id, zone, account)
            txn.put(OWNER_KIND, zone_id, account, "")
            txn.put(CALLER_KIND, f"zone/{ref}", zone_id, account)
            txn.put(R.RRSET_KIND, R.rrset_key(zone_id, name, "SOA"), soa, account)
            txn.put(R.RRSET_KIND, R.rrset_key(zone_id, name, "NS"), ns, account)
            change = self._change(ctx, txn)
        out: dict[str, Any] = {
            "HostedZone": self._zone_out(ctx, zone),
            "ChangeInfo": change,
            "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/hostedzone/{zone_id}",
        }
        if private:
            out["VPC"] = vpcs[0]
        else:
            out["DelegationSet"] = {"NameServers": [n.rstrip(".") for n in name_servers]}
            if delegation_id:
                out["DelegationSet"]["Id"] = f"/delegationset/{zone['DelegationSetId']}"
        return out

    def get_hosted_zone(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["Id"])
        out: dict[str, Any] = {"HostedZone": self._zone_out(ctx, zone)}
        if zone.get("Private"):
            out["VPCs"] = zone["VPCs"]
        else:
            out["DelegationSet"] = {"NameServers": [n.rstrip(".") for n in zone["NameServers"]]}
            if zone.get("DelegationSetId"):
                out["DelegationSet"]["Id"] = f"/delegationset/{zone['DelegationSetId']}"
        return out

    def get_hosted_zone_count(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"HostedZoneCount": ctx.store.read.count(R.ZONE_KIND, ctx.account_id)}

    def _all_zones(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return [doc for _k, doc in ctx.store.read.scan(R.ZONE_KIND, ctx.account_id)]

    def list_hosted_zones(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        max_items = int(params.get("MaxItems") or 100)
        zones = sorted(self._all_zones(ctx), key=lambda z: z["Id"])
        if params.get("DelegationSetId"):
            dset = params["DelegationSetId"].rsplit("/", 1)[-1]
            zones = [z for z in zones if z.get("DelegationSetId") == dset]
        if params.get("HostedZoneType") == "PrivateHostedZone":
            zones = [z for z in zones if z.get("Private")]
        marker = params.get("Marker")
        if marker:
            zones = [z for z in zones if z["Id"] >= marker.rsplit("/", 1)[-1]]
        page, rest = zones[:max_items], zones[max_items:]
        out: dict[str, Any] = {"HostedZones": [self._zone_out(ctx, z) for z in page], "IsTruncated": bool(rest),
                               "MaxItems": str(max_items), "Marker": marker or ""}
        if rest:
            out["NextMarker"] = rest[0]["Id"]
        return out

    def list_hosted_zones_by_name(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        max_items = int(params.get("MaxItems") or 100)
        zones = sorted(self._all_zones(ctx), key=lambda z: (R.reversed_name(z["Name"]), z["Id"]))
        dns_name = params.get("DNSName")
        zone_id = params.get("HostedZoneId")
        if zone_id and not dns_name:
            raise _invalid("If you specify HostedZoneId, you must also specify DNSName.")
        if dns_name:
            start = (R.reversed_name(R.normalize_name(dns_name)), zone_id.rsplit("/", 1)[-1] if zone_id else "")
            zones = [z for z in zones if (R.reversed_name(z["Name"]), z["Id"]) >= start]
        page, rest = zones[:max_items], zones[max_items:]
        out: dict[str, Any] = {"HostedZones": [self._zone_out(ctx, z) for z in page], "IsTruncated": bool(rest), "MaxItems": str(max_items)}
        if dns_name:
            out["DNSName"] = dns_name
        if zone_id:
            out["HostedZoneId"] = zone_id
        if rest:
            out["NextDNSName"] = R.display_name(rest[0]["Name"])
            out["NextHostedZoneId"] = rest[0]["Id"]
        return out

    def list_hosted_zones_by_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        vpc_id, region = params["VPCId"], params["VPCRegion"]
        summaries = []
        for scope in ctx.store.read.scopes(R.ZONE_KIND):
            for _k, zone in ctx.store.read.scan(R.ZONE_KIND, scope):
                if any(v["VPCId"] == vpc_id and v["VPCRegion"] == region for v in zone.get("VPCs", [])):
                    summaries.append({"HostedZoneId": zone["Id"], "Name": R.display_name(zone["Name"]), "Owner": {"OwningAccount": scope}})
        return {"HostedZoneSummaries": summaries, "MaxItems": str(params.get("MaxItems") or 100)}

    def update_hosted_zone_comment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["Id"])
        with ctx.store.transaction() as txn:
            zone["Comment"] = params.get("Comment") or ""
            txn.put(R.ZONE_KIND, zone["Id"], zone, ctx.account_id)
        return {"HostedZone": self._zone_out(ctx, zone)}

    def delete_hosted_zone(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["Id"])
        account = ctx.account_id
        keys = list(ctx.store.read.scan_keys(R.RRSET_KIND, account, prefix=R.zone_prefix(zone["Id"])))
        for key in keys:
            doc = ctx.store.read.get(R.RRSET_KIND, key, account)
            if not (doc["Name"] == zone["Name"] and doc["Type"] in ("SOA", "NS")):
                raise ServiceError("HostedZoneNotEmpty", "The hosted zone contains resource record sets in addition to the default NS and SOA resource record sets. Before you can delete the hosted zone, you must delete the additional resource record sets.", 400)
        with ctx.store.transaction() as txn:
            for key in keys:
                txn.delete(R.RRSET_KIND, key, account)
            txn.delete(R.ZONE_KIND, zone["Id"], account)
            txn.delete(OWNER_KIND, zone["Id"], "")
            txn.delete(CALLER_KIND, f"zone/{zone['CallerReference']}", account)
            txn.delete(TAGS_KIND, f"hostedzone/{zone['Id']}", account)
            change = self._change(ctx, txn)
        return {"ChangeInfo": change}

    # -- VPC associations --------------------------------------------------------------

    def _zone_any_account(self, ctx: RequestContext, zone_id: str) -> tuple[str, dict[str, Any]]:
        zone_id = zone_id.rsplit("/", 1)[-1]
        owner = ctx.store.read.get(OWNER_KIND, zone_id, "")
        zone = ctx.store.read.get(R.ZONE_KIND, zone_id, owner) if owner else None
        if zone is None:
            raise _no_zone(zone_id)
        return owner, zone

    def associate_vpc_with_hosted_zone(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        owner, zone = self._zone_any_account(ctx, params["HostedZoneId"])
        vpc = self._check_vpc(ctx, params.get("VPC"))
        if owner != ctx.account_id and not ctx.store.read.exists(VPC_AUTH_KIND, f"{zone['Id']}/{vpc['VPCId']}", owner):
            raise ServiceError("NotAuthorizedException", f"The VPC {vpc['VPCId']} is not authorized to be associated with hosted zone {zone['Id']}; the zone's owner must first call CreateVPCAssociationAuthorization.", 401)
        if not zone.get("Private"):
            raise ServiceError("PublicZoneVPCAssociation", "You're trying to associate a VPC with a public hosted zone. Amazon Route 53 doesn't support associating a VPC with a public hosted zone.", 400)
        if any(v["VPCId"] == vpc["VPCId"] for v in zone["VPCs"]):
            raise ServiceError("ConflictingDomainExists", f"The VPC {vpc['VPCId']} is already associated with the hosted zone {zone['Id']}.", 400)
        with ctx.store.transaction() as txn:
            zone["VPCs"].append(vpc)
            txn.put(R.ZONE_KIND, zone["Id"], zone, owner)
            change = self._change(ctx, txn, params.get("Comment"))
        return {"ChangeInfo": change}

    def disassociate_vpc_from_hosted_zone(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        owner, zone = self._zone_any_account(ctx, params["HostedZoneId"])
        vpc_id = (params.get("VPC") or {}).get("VPCId")
        if not any(v["VPCId"] == vpc_id for v in zone.get("VPCs", [])):
            raise ServiceError("VPCAssociationNotFound", f"The specified VPC {vpc_id} is not associated with the hosted zone {zone['Id']}.", 404)
        if len(zone["VPCs"]) == 1:
            raise ServiceError("LastVPCAssociation", "The VPC that you're trying to disassociate from the private hosted zone is the last VPC that is associated with the hosted zone. Amazon Route 53 doesn't support disassociating the last VPC from a hosted zone.", 400)
        with ctx.store.transaction() as txn:
            zone["VPCs"] = [v for v in zone["VPCs"] if v["VPCId"] != vpc_id]
            txn.put(R.ZONE_KIND, zone["Id"], zone, owner)
            change = self._change(ctx, txn, params.get("Comment"))
        return {"ChangeInfo": change}

    def create_vpc_association_authorization(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        vpc = params["VPC"]
        with ctx.store.transaction() as txn:
            txn.put(VPC_AUTH_KIND, f"{zone['Id']}/{vpc['VPCId']}", {"VPCId": vpc["VPCId"], "VPCRegion": vpc.get("VPCRegion") or ctx.region}, ctx.account_id)
        return {"HostedZoneId": zone["Id"], "VPC": vpc}

    def delete_vpc_association_authorization(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        with ctx.store.transaction() as txn:
            if not txn.delete(VPC_AUTH_KIND, f"{zone['Id']}/{params['VPC']['VPCId']}", ctx.account_id):
                raise ServiceError("VPCAssociationAuthorizationNotFound", "The VPC association authorization does not exist.", 404)
        return {}

    def list_vpc_association_authorizations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        vpcs = [doc for _k, doc in ctx.store.read.scan(VPC_AUTH_KIND, ctx.account_id, prefix=zone["Id"] + "/")]
        return {"HostedZoneId": zone["Id"], "VPCs": vpcs}

    # -- record sets -------------------------------------------------------------------

    def change_resource_record_sets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        batch = params["ChangeBatch"]
        changes = batch.get("Changes") or []
        if not changes:
            raise _invalid("Invalid request: ChangeBatch must contain at least one change.")
        account = ctx.account_id
        apex = zone["Name"]
        # working copy of every name the batch touches, grouped by owner name so each
        # change looks only at its own name (linear in the batch): name → key → doc|None
        by_name: dict[str, dict[str, dict[str, Any] | None]] = {}
        messages: list[str] = []
        touched: set[tuple[str, str, str]] = set()

        def load_name(name: str) -> dict[str, dict[str, Any] | None]:
            group = by_name.get(name)
            if group is None:
                group = by_name[name] = dict(ctx.store.read.scan(R.RRSET_KIND, account, prefix=R.rrset_key(zone["Id"], name)))
            return group

        hc_ids: set[str] = set()
        for change in changes:
            action = change.get("Action")
            raw = change.get("ResourceRecordSet") or {}
            if action not in ("CREATE", "DELETE", "UPSERT"):
                raise _invalid(f"Invalid request: Action {action} is not one of CREATE, DELETE, UPSERT.")
            if not raw.get("Name") or not raw.get("Type"):
                raise _invalid("Invalid request: a ResourceRecordSet needs a Name and a Type.")
            rrset = _clean_rrset(raw)
            before = len(messages)
            self._validate_rrset(rrset, apex, messages)
            if len(messages) > before:
                continue
            name, rtype, set_id = rrset["Name"], rrset["Type"], rrset.get("SetIdentifier")
            if rrset.get("HealthCheckId"):
                hc_ids.add(rrset["HealthCheckId"])
            identity = (name, rtype, set_id or "")
            if identity in touched:
                messages.append(f"The request contains an invalid set of changes for a resource record set '{rtype} {name}'")
                continue
            touched.add(identity)
            work = load_name(name)
            key = R.rrset_key(zone["Id"], name, rtype, set_id)
            current = work.get(key)
            if current is not None and current.get("TrafficPolicyInstanceId"):
                messages.append(f"Tried to {action.lower()} resource record set {_rr_label(rrset)} but it was created by traffic policy instance {current['TrafficPolicyInstanceId']}; change the traffic policy instance instead")
                continue
            if action == "DELETE":
                if current is None:
                    messages.append(f"Tried to delete resource record set {_rr_label(rrset)} but it was not found")
                elif not _same_values(current, rrset):
                    messages.append(f"Tried to delete resource record set {_rr_label(rrset)} but the values provided do not match the current values")
                elif name == apex and rtype in ("SOA", "NS"):
                    messages.append(f"A HostedZone must contain at least one {rtype} record for the zone itself.")
                else:
                    work[key] = None
                continue
            if action == "CREATE" and current is not None:
                messages.append(f"Tried to create resource record set {_rr_label(rrset)} but it already exists")
                continue
            others = [d for k, d in work.items() if d is not None and k != key]
            if rtype == "CNAME" and any(d["Type"] != "CNAME" for d in others):
                messages.append(f"RRSet of type CNAME with DNS name {name} is not permitted as it conflicts with other records with the same DNS name in zone {apex}")
                continue
            conflict = next((d for d in others if d["Type"] == "CNAME" and rtype != "CNAME"), None)
            if conflict is not None:
                messages.append(f"RRSet of type {rtype} with DNS name {name} is not permitted because a conflicting RRSet of type  CNAME with the same DNS name already exists in zone {apex}")
                continue
            same_type = [d for d in others if d["Type"] == rtype]
            policy = R.routing_policy(rrset)
            if any(bool(d.get("SetIdentifier")) != bool(set_id) or R.routing_policy(d) != policy for d in same_type):
                messages.append(f"RRSet with DNS name {name}, type {rtype}" + (f", SetIdentifier {set_id}" if set_id else "")
                                + f" cannot be created because a non-{policy} RRSet with the same name and type exists.")
                continue
            if policy == "failover" and any(d.get("Failover") == rrset["Failover"] for d in same_type):
                messages.append(f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} cannot be created because another {rrset['Failover']} failover RRSet with the same name and type exists.")
                continue
            if policy == "geolocation" and any(d.get("GeoLocation") == rrset["GeoLocation"] for d in same_type):
                messages.append(f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} cannot be created because another RRSet with the same name, type and geolocation exists.")
                continue
            if policy == "latency" and any(d.get("Region") == rrset["Region"] for d in same_type):
                messages.append(f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} cannot be created because another RRSet with the same name, type and region exists.")
                continue
            if policy == "cidr":
                problem = self._cidr_problem(ctx, rrset, same_type)
                if problem:
                    messages.append(problem)
                    continue
            work[key] = rrset
        # alias targets inside this zone must exist once the batch is applied
        for name, rtype, set_id in touched:
            doc = by_name[name].get(R.rrset_key(zone["Id"], name, rtype, set_id or None))
            alias = doc.get("AliasTarget") if doc else None
            if not alias:
                continue
            target_zone = alias["HostedZoneId"].rsplit("/", 1)[-1]
            if target_zone == zone["Id"]:
                prefix = R.rrset_key(zone["Id"], alias["DNSName"], doc["Type"])
                if not any(k.startswith(prefix) and v is not None for k, v in load_name(alias["DNSName"]).items()):
                    messages.append(f"Tried to create an alias that targets {alias['DNSName']}, type {doc['Type']} in zone {zone['Id']}, but the alias target name does not lie within the target zone")
        if messages:
            raise _bad_batch(messages)
        for hc in hc_ids:
            if not ctx.store.read.exists(R.HEALTHCHECK_KIND, hc, account):
                raise ServiceError("NoSuchHealthCheck", f"No health check found with id: {hc}", 400)
        with ctx.store.transaction() as txn:
            count = zone.get("Count", 0)
            for key, doc in ((k, d) for group in by_name.values() for k, d in group.items()):
                existed = txn.exists(R.RRSET_KIND, key, account)
                if doc is None:
                    if existed:
                        txn.delete(R.RRSET_KIND, key, account)
                        count -= 1
                elif (doc["Name"], doc["Type"], doc.get("SetIdentifier") or "") in touched:
                    txn.put(R.RRSET_KIND, key, doc, account)
                    count += 0 if existed else 1
            fresh = txn.get(R.ZONE_KIND, zone["Id"], account)
            fresh["Count"] = count
            txn.put(R.ZONE_KIND, zone["Id"], fresh, account)
            change = self._change(ctx, txn, batch.get("Comment"))
        return {"ChangeInfo": change}

    def _cidr_problem(self, ctx: RequestContext, rrset: dict[str, Any], same_type: list[dict[str, Any]]) -> str | None:
        config = rrset["CidrRoutingConfig"]
        name, rtype, set_id = rrset["Name"], rrset["Type"], rrset.get("SetIdentifier")
        collection = ctx.store.read.get(CIDR_KIND, config["CollectionId"], ctx.account_id)
        if collection is None:
            return f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} references the CIDR collection {config['CollectionId']}, which does not exist"
        if config["LocationName"] != "*" and config["LocationName"] not in collection["Locations"]:
            return f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} references the location {config['LocationName']}, which is not in the CIDR collection {collection['Name']}"
        for other in same_type:
            theirs = other.get("CidrRoutingConfig") or {}
            if theirs.get("CollectionId") != config["CollectionId"]:
                return f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} cannot be created because all IP-based record sets with the same name and type must use the same CIDR collection"
            if theirs.get("LocationName") == config["LocationName"]:
                return f"RRSet with DNS name {name}, type {rtype}, SetIdentifier {set_id} cannot be created because another RRSet with the same name, type and CIDR location exists."
        return None

    def _validate_rrset(self, rrset: dict[str, Any], apex: str, messages: list[str]) -> None:
        name, rtype = rrset["Name"], rrset["Type"]
        if rtype not in R.TYPES:
            raise _invalid(f"Invalid request: Invalid type {rtype}; expected one of {', '.join(R.TYPES)}")
        if not R.valid_domain(name):
            raise _invalid(f"Invalid request: {name} is not a valid DNS name")
        if not R.in_zone(name, apex):
            messages.append(f"RRSet with DNS name {name} is not permitted in zone {apex}")
            return
        if "*" in name and not (name.startswith("*.") and "*" not in name[2:]):
            messages.append(f"RRSet with DNS name {name} is not permitted: a wildcard must be the leftmost label")
        alias = rrset.get("AliasTarget")
        records = rrset.get("ResourceRecords")
        where = f"Change with [Action=?, Name={name}, Type={rtype}, SetIdentifier={rrset.get('SetIdentifier') or 'null'}]"
        if alias is not None:
            if records or "TTL" in rrset:
                raise _invalid(f"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in {where}")
            if rtype not in R.ALIAS_TYPES:
                raise _invalid(f"Invalid request: Alias records of type {rtype} are not supported")
        elif "TrafficPolicyInstanceId" not in rrset:
            if "TTL" not in rrset or not records:
                raise _invalid(f"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in {where}")
            ttl = rrset["TTL"]
            if not 0 <= int(ttl) <= 2147483647:
                raise _invalid("Invalid request: TTL must be between 0 and 2147483647")
            if rtype == "CNAME" and name == apex:
                messages.append(f"RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {apex}")
            if rtype in ("CNAME", "SOA") and len(records) > 1:
                messages.append(f"RRSet of type {rtype} with DNS name {name} has more than one resource record")
            if rtype == "SOA" and name != apex:
                messages.append(f"RRSet of type SOA with DNS name {name} is not permitted because SOA records are only allowed at the zone apex")
            seen = set()
            for item in records:
                value = item.get("Value") if isinstance(item, dict) else None
                if value is None:
                    messages.append(f"Invalid Resource Record: empty value in {_rr_label(rrset)}")
                    continue
                if len(value) > 4000:
                    messages.append(f"Invalid Resource Record: value too long in {_rr_label(rrset)}")
                    continue
                try:
                    R.parse_value(rtype, value)
                except R.BadValue as exc:
                    messages.append(str(exc))
                if value in seen:
                    messages.append(f"Duplicate Resource Record: '{value}'")
                seen.add(value)
        policy = R.routing_policy(rrset)
        set_id = rrset.get("SetIdentifier")
        if policy == "simple" and set_id:
            raise _invalid("Invalid request: Missing field 'Weight', 'Region', 'Failover', 'GeoLocation', 'GeoProximityLocation', 'MultiValueAnswer' or 'CidrRoutingConfig' in a record set with a SetIdentifier")
        if policy != "simple" and not set_id:
            raise _invalid(f"Invalid request: Missing field 'SetIdentifier' in Change with [Name={name}, Type={rtype}]")
        policies = [k for k in ("Weight", "Region", "Failover", "GeoLocation", "GeoProximityLocation", "MultiValueAnswer", "CidrRoutingConfig") if k in rrset]
        if len(policies) > 1:
            raise _invalid(f"Invalid request: A record set can have only one of {', '.join(policies)}")
        if "Weight" in rrset and not 0 <= int(rrset["Weight"]) <= 255:
            raise _invalid("Invalid request: Weight must be between 0 and 255")
        if "Failover" in rrset and rrset["Failover"] not in ("PRIMARY", "SECONDARY"):
            raise _invalid("Invalid request: Failover must be PRIMARY or SECONDARY")
        if "GeoLocation" in rrset:
            self._check_geo(rrset["GeoLocation"])
        if "GeoProximityLocation" in rrset:
            prox = rrset["GeoProximityLocation"]
            if not -99 <= int(prox.get("Bias", 0) or 0) <= 99:
                raise _invalid("Invalid request: Bias must be between -99 and 99")
            if not (prox.get("AWSRegion") or prox.get("Coordinates") or prox.get("LocalZoneGroup")):
                raise _invalid("Invalid request: GeoProximityLocation needs AWSRegion, LocalZoneGroup or Coordinates")
        if rrset.get("MultiValueAnswer") is False:
            raise _invalid("Invalid request: MultiValueAnswer must be true when present")

    @staticmethod
    def _check_geo(geo: dict[str, Any]) -> None:
        from ...planes.dns.geo import CONTINENTS, COUNTRY_CONTINENT

        cont, country, sub = geo.get("ContinentCode"), geo.get("CountryCode"), geo.get("SubdivisionCode")
        if cont and (country or sub):
            raise _invalid("Invalid request: GeoLocation can have a ContinentCode or a CountryCode, not both")
        if cont and cont not in CONTINENTS:
            raise ServiceError("InvalidInput", f"Invalid request: Value '{cont}' at 'continentCode' is not a valid continent code", 400)
        if country and country != "*" and country not in COUNTRY_CONTINENT and country != "UA":
            raise _invalid(f"Invalid request: Value '{country}' at 'countryCode' is not a valid country code")
        if sub and country not in ("US", "UA"):
            raise _invalid("Invalid request: SubdivisionCode is only supported for the United States and Ukraine")
        if not (cont or country):
            raise _invalid("Invalid request: GeoLocation needs a ContinentCode or a CountryCode")

    def list_resource_record_sets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        max_items = int(params.get("MaxItems") or 300)
        if max_items < 1:
            raise _invalid("Invalid request: MaxItems must be at least 1")
        max_items = min(max_items, 300)
        start_name = params.get("StartRecordName")
        start_type = params.get("StartRecordType")
        if start_type and not start_name:
            raise _invalid("Invalid request: StartRecordType requires StartRecordName")
        start_key = None
        if start_name:
            start_key = R.rrset_key(zone["Id"], R.normalize_name(start_name), start_type, params.get("StartRecordIdentifier")) if start_type else R.rrset_key(zone["Id"], R.normalize_name(start_name))
        page: list[dict[str, Any]] = []
        next_doc = None
        for key, doc in ctx.store.read.scan(R.RRSET_KIND, ctx.account_id, prefix=R.zone_prefix(zone["Id"])):
            if start_key is not None and key < start_key:
                continue
            if len(page) == max_items:
                next_doc = doc
                break
            page.append(doc)
        out: dict[str, Any] = {"ResourceRecordSets": [self._rrset_out(d) for d in page], "IsTruncated": next_doc is not None, "MaxItems": str(max_items)}
        if next_doc is not None:
            out["NextRecordName"] = R.display_name(next_doc["Name"])
            out["NextRecordType"] = next_doc["Type"]
            if next_doc.get("SetIdentifier"):
                out["NextRecordIdentifier"] = next_doc["SetIdentifier"]
        return out

    @staticmethod
    def _rrset_out(doc: dict[str, Any]) -> dict[str, Any]:
        out = dict(doc)
        out["Name"] = R.display_name(doc["Name"])
        return out

    def get_change(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        change_id = params["Id"].rsplit("/", 1)[-1]
        doc = ctx.store.read.get(R.CHANGE_KIND, change_id, "")
        if doc is None:
            raise ServiceError("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}", 404)
        return {"ChangeInfo": self._change_out(doc)}

    # -- TestDNSAnswer -----------------------------------------------------------------

    def test_dns_answer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from ...planes.dns import current
        from ...planes.dns import wire
        from ...planes.dns.resolve import Resolver

        zone = self._zone(ctx, params["HostedZoneId"])
        name = R.normalize_name(params["RecordName"])
        rtype = params["RecordType"]
        if rtype not in R.TYPES:
            raise _invalid(f"Invalid request: Invalid type {rtype}")
        plane = current(self.runtime)
        if plane is None:
            raise ServiceError("InvalidInput", "The DNS server is not running.", 400)
        plane.flush()
        snapshot = plane.snapshot
        view = snapshot.zones.get(zone["Id"])
        query = wire.Query(0, 0, name, R.QTYPE_NUM[rtype], 1, b"")
        subnet = params.get("EDNS0ClientSubnetIP")
        if subnet:
            query.edns = True
            query.ecs = (subnet, 2 if ":" in subnet else 1, int(params.get("EDNS0ClientSubnetMask") or (24 if ":" not in subnet else 56)))
        resolver: Resolver = plane.resolver
        client = resolver.client(params.get("ResolverIP") or "127.0.0.1", query)
        records: list[Any] = []
        rcode = wire.RCODE_REFUSED
        if view is not None and R.in_zone(name, view.name):
            rcode, _aa = resolver.lookup(snapshot, view, name, query.qtype, client, records, [], 0)
        data = [_rdata_text(t, rdata) for owner, t, ttl, rdata in records if t == query.qtype]
        codes = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
        return {"Nameserver": zone["NameServers"][0].rstrip("."), "RecordName": name, "RecordType": rtype,
                "RecordData": data, "ResponseCode": codes.get(rcode, "SERVFAIL"), "Protocol": "UDP"}

    # -- health checks -----------------------------------------------------------------

    def _hc(self, ctx: RequestContext, hc_id: str) -> dict[str, Any]:
        doc = ctx.store.read.get(R.HEALTHCHECK_KIND, hc_id, ctx.account_id)
        if doc is None:
            raise _no_hc(hc_id)
        return doc

    @staticmethod
    def _hc_out(doc: dict[str, Any]) -> dict[str, Any]:
        out = {"Id": doc["Id"], "CallerReference": doc["CallerReference"], "HealthCheckConfig": doc["HealthCheckConfig"],
               "HealthCheckVersion": doc["HealthCheckVersion"]}
        config = doc["HealthCheckConfig"]
        if config["Type"] == "CLOUDWATCH_METRIC":
            out["CloudWatchAlarmConfiguration"] = doc.get("Alarm") or {
                "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "Period": 60, "MetricName": "Unknown", "Namespace": "Unknown", "Statistic": "Average",
            }
        return out

    def create_health_check(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = params["CallerReference"]
        config = H.normalize_config(dict(params["HealthCheckConfig"]))
        account = ctx.account_id
        existing_id = ctx.store.read.get(CALLER_KIND, f"healthcheck/{ref}", account)
        if existing_id:
            existing = ctx.store.read.get(R.HEALTHCHECK_KIND, existing_id, account)
            if existing is not None and existing["HealthCheckConfig"] == config:
                return {"HealthCheck": self._hc_out(existing), "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/healthcheck/{existing_id}"}
            raise ServiceError("HealthCheckAlreadyExists", f"A health check with the caller reference {ref} already exists with a different configuration.", 409)
        self._check_children(ctx, config)
        hc_id = str(uuid.uuid4())
        doc = {"Id": hc_id, "CallerReference": ref, "HealthCheckConfig": config, "HealthCheckVersion": 1, "created": ctx.clock.time()}
        with ctx.store.transaction() as txn:
            txn.put(R.HEALTHCHECK_KIND, hc_id, doc, account)
            txn.put(CALLER_KIND, f"healthcheck/{ref}", hc_id, account)
        return {"HealthCheck": self._hc_out(doc), "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/healthcheck/{hc_id}"}

    def _check_children(self, ctx: RequestContext, config: dict[str, Any]) -> None:
        for child in config.get("ChildHealthChecks") or []:
            if not ctx.store.read.exists(R.HEALTHCHECK_KIND, child, ctx.account_id):
                raise _invalid(f"The child health check {child} does not exist.")

    def get_health_check(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"HealthCheck": self._hc_out(self._hc(ctx, params["HealthCheckId"]))}

    def get_health_check_count(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"HealthCheckCount": ctx.store.read.count(R.HEALTHCHECK_KIND, ctx.account_id)}

    def list_health_checks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        max_items = int(params.get("MaxItems") or 100)
        marker = params.get("Marker")
        docs = [d for _k, d in ctx.store.read.scan(R.HEALTHCHECK_KIND, ctx.account_id, start_after=None)]
        if marker:
            docs = [d for d in docs if d["Id"] >= marker]
        page, rest = docs[:max_items], docs[max_items:]
        out: dict[str, Any] = {"HealthChecks": [self._hc_out(d) for d in page], "Marker": marker or "", "IsTruncated": bool(rest), "MaxItems": str(max_items)}
        if rest:
            out["NextMarker"] = rest[0]["Id"]
        return out

    def update_health_check(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._hc(ctx, params["HealthCheckId"])
        version = params.get("HealthCheckVersion")
        if version is not None and int(version) != doc["HealthCheckVersion"]:
            raise ServiceError("HealthCheckVersionMismatch", "The value of HealthCheckVersion in the request doesn't match the value of HealthCheckVersion in the health check.", 409)
        config = dict(doc["HealthCheckConfig"])
        for key in ("IPAddress", "Port", "ResourcePath", "FullyQualifiedDomainName", "SearchString", "FailureThreshold",
                    "Inverted", "Disabled", "HealthThreshold", "ChildHealthChecks", "EnableSNI", "Regions",
                    "AlarmIdentifier", "InsufficientDataHealthStatus"):
            if params.get(key) is not None:
                config[key] = params[key]
        for element in params.get("ResetElements") or []:
            config.pop({"FullyQualifiedDomainName": "FullyQualifiedDomainName", "Regions": "Regions",
                        "ResourcePath": "ResourcePath", "ChildHealthChecks": "ChildHealthChecks"}.get(element, element), None)
        config = H.normalize_config(config)
        self._check_children(ctx, config)
        doc["HealthCheckConfig"] = config
        doc["HealthCheckVersion"] += 1
        with ctx.store.transaction() as txn:
            txn.put(R.HEALTHCHECK_KIND, doc["Id"], doc, ctx.account_id)
        return {"HealthCheck": self._hc_out(doc)}

    def delete_health_check(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._hc(ctx, params["HealthCheckId"])
        account = ctx.account_id
        for _key, rrset in ctx.store.read.scan(R.RRSET_KIND, account):
            if rrset.get("HealthCheckId") == doc["Id"]:
                raise ServiceError("HealthCheckInUse", f"The health check {doc['Id']} is still referenced from the resource record set {rrset['Name']} {rrset['Type']}.", 400)
        with ctx.store.transaction() as txn:
            txn.delete(R.HEALTHCHECK_KIND, doc["Id"], account)
            txn.delete(R.HEALTH_KIND, doc["Id"], account)
            txn.delete(R.HEALTHSTATE_KIND, doc["Id"], account)
            txn.delete(CALLER_KIND, f"healthcheck/{doc['CallerReference']}", account)
            txn.delete(TAGS_KIND, f"healthcheck/{doc['Id']}", account)
        return {}

    def get_health_check_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._hc(ctx, params["HealthCheckId"])
        state = ctx.store.read.get(R.HEALTHSTATE_KIND, doc["Id"], ctx.account_id) or {}
        observations = []
        for obs in state.get("observations", []):
            observations.append({"Region": obs["Region"], "IPAddress": obs["IPAddress"],
                                 "StatusReport": {"Status": obs["Status"], "CheckedTime": _dt(obs["CheckedTime"])}})
        return {"HealthCheckObservations": observations}

    def get_health_check_last_failure_reason(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._hc(ctx, params["HealthCheckId"])
        state = ctx.store.read.get(R.HEALTHSTATE_KIND, doc["Id"], ctx.account_id) or {}
        observations = []
        for obs in state.get("failures", []):
            observations.append({"Region": obs["Region"], "IPAddress": obs["IPAddress"],
                                 "StatusReport": {"Status": obs["Status"], "CheckedTime": _dt(obs["CheckedTime"])}})
        return {"HealthCheckObservations": observations}

    def get_checker_ip_ranges(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"CheckerIpRanges": list(H.CHECKER_IP_RANGES)}

    # -- tags --------------------------------------------------------------------------

    def _tag_target(self, ctx: RequestContext, rtype: str, rid: str) -> None:
        if rtype == "hostedzone":
            self._zone(ctx, rid)
        elif rtype == "healthcheck":
            self._hc(ctx, rid)
        else:
            raise _invalid(f"Invalid request: ResourceType must be healthcheck or hostedzone, not {rtype}")

    def change_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rtype, rid = params["ResourceType"], params["ResourceId"].rsplit("/", 1)[-1]
        self._tag_target(ctx, rtype, rid)
        tags = {t["Key"]: t.get("Value", "") for t in self._tags(ctx, rtype, rid)}
        for tag in params.get("AddTags") or []:
            if not tag.get("Key"):
                raise _invalid("Invalid request: a tag needs a Key")
            tags[tag["Key"]] = tag.get("Value", "")
        for key in params.get("RemoveTagKeys") or []:
            tags.pop(key, None)
        if len(tags) > 50:
            raise _invalid("Invalid request: a resource can have at most 50 tags")
        with ctx.store.transaction() as txn:
            txn.put(TAGS_KIND, f"{rtype}/{rid}", [{"Key": k, "Value": v} for k, v in tags.items()], ctx.account_id)
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rtype, rid = params["ResourceType"], params["ResourceId"].rsplit("/", 1)[-1]
        self._tag_target(ctx, rtype, rid)
        return {"ResourceTagSet": {"ResourceType": rtype, "ResourceId": rid, "Tags": self._tags(ctx, rtype, rid)}}

    def list_tags_for_resources(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rtype = params["ResourceType"]
        sets = []
        for rid in params.get("ResourceIds") or []:
            rid = rid.rsplit("/", 1)[-1]
            self._tag_target(ctx, rtype, rid)
            sets.append({"ResourceType": rtype, "ResourceId": rid, "Tags": self._tags(ctx, rtype, rid)})
        return {"ResourceTagSets": sets}

    # -- reusable delegation sets ------------------------------------------------------

    def create_reusable_delegation_set(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = params["CallerReference"]
        account = ctx.account_id
        if ctx.store.read.exists(CALLER_KIND, f"delegation/{ref}", account):
            raise ServiceError("DelegationSetAlreadyCreated", f"A delegation set has already been created with the caller reference {ref}.", 400)
        if params.get("HostedZoneId"):
            zone = self._zone(ctx, params["HostedZoneId"])
            if zone.get("Private"):
                raise ServiceError("DelegationSetNotAvailable", "A private hosted zone has no delegation set to reuse.", 400)
            name_servers = zone["NameServers"]
        else:
            name_servers = _name_servers(ref + account)
        dset_id = _id("N")
        doc = {"Id": dset_id, "CallerReference": ref, "NameServers": name_servers}
        with ctx.store.transaction() as txn:
            txn.put(DELEGATION_KIND, dset_id, doc, account)
            txn.put(CALLER_KIND, f"delegation/{ref}", dset_id, account)
        return {"DelegationSet": self._dset_out(doc), "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/delegationset/{dset_id}"}

    @staticmethod
    def _dset_out(doc: dict[str, Any]) -> dict[str, Any]:
        return {"Id": f"/delegationset/{doc['Id']}", "CallerReference": doc["CallerReference"], "NameServers": [n.rstrip(".") for n in doc["NameServers"]]}

    def _dset(self, ctx: RequestContext, dset_id: str) -> dict[str, Any]:
        doc = ctx.store.read.get(DELEGATION_KIND, dset_id.rsplit("/", 1)[-1], ctx.account_id)
        if doc is None:
            raise ServiceError("NoSuchDelegationSet", f"No delegation set found with ID {dset_id}", 400)
        return doc

    def get_reusable_delegation_set(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"DelegationSet": self._dset_out(self._dset(ctx, params["Id"]))}

    def list_reusable_delegation_sets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = [d for _k, d in ctx.store.read.scan(DELEGATION_KIND, ctx.account_id)]
        return {"DelegationSets": [self._dset_out(d) for d in docs], "Marker": params.get("Marker") or "", "IsTruncated": False,
                "MaxItems": str(params.get("MaxItems") or 100)}

    def delete_reusable_delegation_set(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._dset(ctx, params["Id"])
        if any(z.get("DelegationSetId") == doc["Id"] for z in self._all_zones(ctx)):
            raise ServiceError("DelegationSetInUse", "The delegation set is still used by a hosted zone.", 400)
        with ctx.store.transaction() as txn:
            txn.delete(DELEGATION_KIND, doc["Id"], ctx.account_id)
            txn.delete(CALLER_KIND, f"delegation/{doc['CallerReference']}", ctx.account_id)
        return {}

    # -- query logging -----------------------------------------------------------------

    def create_query_logging_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        arn = params["CloudWatchLogsLogGroupArn"]
        if not arn.startswith("arn:aws:logs:us-east-1:"):
            raise ServiceError("InvalidInput", "The log group must be in us-east-1 (arn:aws:logs:us-east-1:...).", 400)
        if zone.get("Private"):
            raise ServiceError("InvalidInput", "Query logging is not available for private hosted zones.", 400)
        for _k, doc in ctx.store.read.scan(QUERY_LOG_KIND, ctx.account_id):
            if doc["HostedZoneId"] == zone["Id"]:
                raise ServiceError("QueryLoggingConfigAlreadyExists", "The hosted zone already has a query logging configuration.", 409)
        config_id = str(uuid.uuid4())
        doc = {"Id": config_id, "HostedZoneId": zone["Id"], "CloudWatchLogsLogGroupArn": arn}
        with ctx.store.transaction() as txn:
            txn.put(QUERY_LOG_KIND, config_id, doc, ctx.account_id)
        return {"QueryLoggingConfig": doc, "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/queryloggingconfig/{config_id}"}

    def get_query_logging_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = ctx.store.read.get(QUERY_LOG_KIND, params["Id"], ctx.account_id)
        if doc is None:
            raise ServiceError("NoSuchQueryLoggingConfig", f"There is no query logging configuration with the ID {params['Id']}.", 404)
        return {"QueryLoggingConfig": doc}

    def list_query_logging_configs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = [d for _k, d in ctx.store.read.scan(QUERY_LOG_KIND, ctx.account_id)]
        if params.get("HostedZoneId"):
            zone = self._zone(ctx, params["HostedZoneId"])
            docs = [d for d in docs if d["HostedZoneId"] == zone["Id"]]
        return {"QueryLoggingConfigs": docs}

    def delete_query_logging_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            if not txn.delete(QUERY_LOG_KIND, params["Id"], ctx.account_id):
                raise ServiceError("NoSuchQueryLoggingConfig", f"There is no query logging configuration with the ID {params['Id']}.", 404)
        return {}

    # -- traffic policies (documents and versions) ---------------------------------------

    def create_traffic_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._check_policy_document(ctx, params["Document"])
        for _k, doc in ctx.store.read.scan(POLICY_KIND, ctx.account_id):
            if doc["Name"] == params["Name"]:
                raise ServiceError("TrafficPolicyAlreadyExists", f"A traffic policy named {params['Name']} already exists.", 409)
        policy_id = str(uuid.uuid4())
        return self._put_policy(ctx, policy_id, 1, params["Name"], params["Document"], params.get("Comment"))

    def create_traffic_policy_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._check_policy_document(ctx, params["Document"])
        versions = [d for _k, d in ctx.store.read.scan(POLICY_KIND, ctx.account_id, prefix=params["Id"] + "/")]
        if not versions:
            raise ServiceError("NoSuchTrafficPolicy", f"No traffic policy found with ID {params['Id']}", 404)
        return self._put_policy(ctx, params["Id"], versions[-1]["Version"] + 1, versions[-1]["Name"], params["Document"], params.get("Comment"))

    def _put_policy(self, ctx: RequestContext, policy_id: str, version: int, name: str, document: str, comment: str | None) -> dict[str, Any]:
        kind = json.loads(document).get("RecordType", "A")
        doc = {"Id": policy_id, "Version": version, "Name": name, "Type": kind, "Document": document}
        if comment:
            doc["Comment"] = comment
        with ctx.store.transaction() as txn:
            txn.put(POLICY_KIND, f"{policy_id}/{version:06d}", doc, ctx.account_id)
        return {"TrafficPolicy": doc, "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/trafficpolicy/{policy_id}/{version}"}

    def _check_policy_document(self, ctx: RequestContext, document: str) -> None:
        TP.validate(document, lambda hc: ctx.store.read.exists(R.HEALTHCHECK_KIND, hc, ctx.account_id))

    def get_traffic_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = ctx.store.read.get(POLICY_KIND, f"{params['Id']}/{int(params['Version']):06d}", ctx.account_id)
        if doc is None:
            raise ServiceError("NoSuchTrafficPolicy", f"No traffic policy found with ID {params['Id']} and version {params['Version']}", 404)
        return {"TrafficPolicy": doc}

    def list_traffic_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        latest: dict[str, dict[str, Any]] = {}
        for _k, doc in ctx.store.read.scan(POLICY_KIND, ctx.account_id):
            latest[doc["Id"]] = doc
        summaries = [{"Id": d["Id"], "Name": d["Name"], "Type": d["Type"], "LatestVersion": d["Version"], "TrafficPolicyCount": d["Version"]} for d in latest.values()]
        return {"TrafficPolicySummaries": summaries, "IsTruncated": False, "TrafficPolicyIdMarker": "", "MaxItems": str(params.get("MaxItems") or 100)}

    def list_traffic_policy_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = [d for _k, d in ctx.store.read.scan(POLICY_KIND, ctx.account_id, prefix=params["Id"] + "/")]
        if not docs:
            raise ServiceError("NoSuchTrafficPolicy", f"No traffic policy found with ID {params['Id']}", 404)
        return {"TrafficPolicies": docs, "IsTruncated": False, "TrafficPolicyVersionMarker": "", "MaxItems": str(params.get("MaxItems") or 100)}

    def delete_traffic_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        policy_id, version = params["Id"], int(params["Version"])
        for _k, inst in ctx.store.read.scan(INSTANCE_KIND, ctx.account_id):
            if inst["TrafficPolicyId"] == policy_id and int(inst["TrafficPolicyVersion"]) == version:
                raise ServiceError("TrafficPolicyInUse", f"One or more traffic policy instances ({inst['Id']}) use version {version} of traffic policy {policy_id}.", 400)
        with ctx.store.transaction() as txn:
            if not txn.delete(POLICY_KIND, f"{policy_id}/{version:06d}", ctx.account_id):
                raise ServiceError("NoSuchTrafficPolicy", f"No traffic policy found with ID {policy_id}", 404)
        return {}

    def update_traffic_policy_comment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = f"{params['Id']}/{int(params['Version']):06d}"
        with ctx.store.transaction() as txn:
            doc = txn.get(POLICY_KIND, key, ctx.account_id)
            if doc is None:
                raise ServiceError("NoSuchTrafficPolicy", f"No traffic policy found with ID {params['Id']} and version {params['Version']}", 404)
            doc["Comment"] = params["Comment"]
            txn.put(POLICY_KIND, key, doc, ctx.account_id)
        return {"TrafficPolicy": doc}

    # -- traffic policy instances ------------------------------------------------------
    #
    # An instance owns one record set (name, type = the policy's RecordType, TTL,
    # TrafficPolicyInstanceId) in its zone; the DNS plane compiles the policy version the
    # instance uses and evaluates its rules per query.  Its State is derived from its
    # last change: Creating/Updating while PENDING, Applied once INSYNC.

    def _policy_version(self, ctx: RequestContext, policy_id: str, version: int) -> dict[str, Any]:
        doc = ctx.store.read.get(POLICY_KIND, f"{policy_id}/{int(version):06d}", ctx.account_id)
        if doc is None:
            raise ServiceError("NoSuchTrafficPolicy", f"No traffic policy found with ID {policy_id} and version {version}", 404)
        return doc

    def _instance(self, ctx: RequestContext, instance_id: str) -> dict[str, Any]:
        doc = ctx.store.read.get(INSTANCE_KIND, instance_id, ctx.account_id)
        if doc is None:
            raise ServiceError("NoSuchTrafficPolicyInstance", f"No traffic policy instance exists with the specified ID {instance_id}", 404)
        return doc

    def _instance_out(self, doc: dict[str, Any]) -> dict[str, Any]:
        change = self.runtime.store.read.get(R.CHANGE_KIND, doc["ChangeId"], "")
        pending = change is not None and not self._in_sync(change)
        state = doc["Pending"] if pending else "Applied"
        return {"Id": doc["Id"], "HostedZoneId": doc["HostedZoneId"], "Name": R.display_name(doc["Name"]), "TTL": doc["TTL"],
                "State": state, "Message": "", "TrafficPolicyId": doc["TrafficPolicyId"],
                "TrafficPolicyVersion": doc["TrafficPolicyVersion"], "TrafficPolicyType": doc["TrafficPolicyType"]}

    @staticmethod
    def _check_ttl(ttl: int) -> None:
        if not 0 <= int(ttl) <= 2147483647:
            raise _invalid("Invalid request: TTL must be between 0 and 2147483647")

    def create_traffic_policy_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        policy = self._policy_version(ctx, params["TrafficPolicyId"], params["TrafficPolicyVersion"])
        name = R.normalize_name(params["Name"])
        self._check_ttl(params["TTL"])
        if not R.valid_domain(name) or not R.in_zone(name, zone["Name"]):
            raise _invalid(f"Invalid request: The name {name} is not in the hosted zone {zone['Name']}")
        rtype = policy["Type"]
        if rtype == "CNAME" and name == zone["Name"]:
            raise _invalid(f"Invalid request: A CNAME record is not permitted at the apex of the zone {zone['Name']}")
        account = ctx.account_id
        existing = [d for _k, d in ctx.store.read.scan(R.RRSET_KIND, account, prefix=R.rrset_key(zone["Id"], name))]
        for doc in existing:
            if doc["Type"] == rtype and doc.get("TrafficPolicyInstanceId"):
                raise ServiceError("TrafficPolicyInstanceAlreadyExists", f"Traffic policy instance {doc['TrafficPolicyInstanceId']} already creates the {rtype} records for {name}", 409)
            if doc["Type"] == rtype or "CNAME" in (doc["Type"], rtype):
                raise _invalid(f"Invalid request: A resource record set of type {doc['Type']} with the name {name} already exists in the hosted zone {zone['Id']}")
        instance_id = str(uuid.uuid4())
        with ctx.store.transaction() as txn:
            change = self._change(ctx, txn)
            doc = {"Id": instance_id, "HostedZoneId": zone["Id"], "Name": name, "TTL": int(params["TTL"]),
                   "TrafficPolicyId": policy["Id"], "TrafficPolicyVersion": policy["Version"], "TrafficPolicyType": rtype,
                   "ChangeId": change["Id"].rsplit("/", 1)[-1], "Pending": "Creating"}
            txn.put(INSTANCE_KIND, instance_id, doc, account)
            txn.put(R.RRSET_KIND, R.rrset_key(zone["Id"], name, rtype), {"Name": name, "Type": rtype, "TTL": doc["TTL"], "TrafficPolicyInstanceId": instance_id}, account)
            fresh = txn.get(R.ZONE_KIND, zone["Id"], account)
            fresh["Count"] = fresh.get("Count", 0) + 1
            txn.put(R.ZONE_KIND, zone["Id"], fresh, account)
        return {"TrafficPolicyInstance": self._instance_out(doc),
                "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/trafficpolicyinstance/{instance_id}"}

    def get_traffic_policy_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"TrafficPolicyInstance": self._instance_out(self._instance(ctx, params["Id"]))}

    def get_traffic_policy_instance_count(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"TrafficPolicyInstanceCount": ctx.store.read.count(INSTANCE_KIND, ctx.account_id)}

    def update_traffic_policy_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._instance(ctx, params["Id"])
        policy = self._policy_version(ctx, params["TrafficPolicyId"], params["TrafficPolicyVersion"])
        self._check_ttl(params["TTL"])
        if policy["Type"] != doc["TrafficPolicyType"]:
            raise ServiceError("ConflictingTypes", f"The traffic policy creates {policy['Type']} records but the instance has {doc['TrafficPolicyType']} records; the DNS type can't change.", 400)
        account = ctx.account_id
        with ctx.store.transaction() as txn:
            change = self._change(ctx, txn)
            doc.update(TTL=int(params["TTL"]), TrafficPolicyId=policy["Id"], TrafficPolicyVersion=policy["Version"],
                       ChangeId=change["Id"].rsplit("/", 1)[-1], Pending="Updating")
            txn.put(INSTANCE_KIND, doc["Id"], doc, account)
            txn.put(R.RRSET_KIND, R.rrset_key(doc["HostedZoneId"], doc["Name"], doc["TrafficPolicyType"]),
                    {"Name": doc["Name"], "Type": doc["TrafficPolicyType"], "TTL": doc["TTL"], "TrafficPolicyInstanceId": doc["Id"]}, account)
        return {"TrafficPolicyInstance": self._instance_out(doc)}

    def delete_traffic_policy_instance(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._instance(ctx, params["Id"])
        account = ctx.account_id
        with ctx.store.transaction() as txn:
            txn.delete(INSTANCE_KIND, doc["Id"], account)
            if txn.delete(R.RRSET_KIND, R.rrset_key(doc["HostedZoneId"], doc["Name"], doc["TrafficPolicyType"]), account):
                zone = txn.get(R.ZONE_KIND, doc["HostedZoneId"], account)
                if zone is not None:
                    zone["Count"] = max(0, zone.get("Count", 0) - 1)
                    txn.put(R.ZONE_KIND, zone["Id"], zone, account)
            self._change(ctx, txn)
        return {}

    def _list_instances(self, ctx: RequestContext, params: dict[str, Any], docs: list[dict[str, Any]], by_zone: bool) -> dict[str, Any]:
        max_items = int(params.get("MaxItems") or 100)
        if max_items < 1:
            raise _invalid("Invalid request: MaxItems must be at least 1")
        def order(d: dict[str, Any]) -> tuple[str, ...]:
            return ((d["HostedZoneId"],) if not by_zone else ()) + (R.reversed_name(d["Name"]), d["TrafficPolicyType"])
        docs.sort(key=order)
        name_marker = params.get("TrafficPolicyInstanceNameMarker")
        if name_marker:
            start = ((params.get("HostedZoneIdMarker") or "",) if not by_zone else ()) + (
                R.reversed_name(R.normalize_name(name_marker)), params.get("TrafficPolicyInstanceTypeMarker") or "")
            docs = [d for d in docs if order(d) >= start]
        page, rest = docs[:max_items], docs[max_items:]
        out: dict[str, Any] = {"TrafficPolicyInstances": [self._instance_out(d) for d in page], "IsTruncated": bool(rest), "MaxItems": str(max_items)}
        if rest:
            out["TrafficPolicyInstanceNameMarker"] = R.display_name(rest[0]["Name"])
            out["TrafficPolicyInstanceTypeMarker"] = rest[0]["TrafficPolicyType"]
            if not by_zone:
                out["HostedZoneIdMarker"] = rest[0]["HostedZoneId"]
        return out

    def list_traffic_policy_instances(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = [d for _k, d in ctx.store.read.scan(INSTANCE_KIND, ctx.account_id)]
        return self._list_instances(ctx, params, docs, by_zone=False)

    def list_traffic_policy_instances_by_hosted_zone(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        zone = self._zone(ctx, params["HostedZoneId"])
        docs = [d for _k, d in ctx.store.read.scan(INSTANCE_KIND, ctx.account_id) if d["HostedZoneId"] == zone["Id"]]
        return self._list_instances(ctx, params, docs, by_zone=True)

    def list_traffic_policy_instances_by_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        policy = self._policy_version(ctx, params["TrafficPolicyId"], params["TrafficPolicyVersion"])
        docs = [d for _k, d in ctx.store.read.scan(INSTANCE_KIND, ctx.account_id)
                if d["TrafficPolicyId"] == policy["Id"] and d["TrafficPolicyVersion"] == policy["Version"]]
        return self._list_instances(ctx, params, docs, by_zone=False)

    # -- CIDR collections (IP-based routing) ---------------------------------------------

    def _cidr(self, ctx: RequestContext, collection_id: str) -> dict[str, Any]:
        doc = ctx.store.read.get(CIDR_KIND, collection_id, ctx.account_id)
        if doc is None:
            raise ServiceError("NoSuchCidrCollectionException", "The CIDR collection you specified, doesn't exist.", 404)
        return doc

    @staticmethod
    def _cidr_out(doc: dict[str, Any]) -> dict[str, Any]:
        return {"Arn": f"arn:aws:route53:::cidrcollection/{doc['Id']}", "Id": doc["Id"], "Name": doc["Name"], "Version": doc["Version"]}

    def create_cidr_collection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name, ref = params["Name"], params["CallerReference"]
        if not re.fullmatch(r"[0-9A-Za-z_\-]{1,64}", name):
            raise _invalid(f"Invalid request: the collection name {name!r} must be 1-64 letters, digits, _ or -")
        for _k, doc in ctx.store.read.scan(CIDR_KIND, ctx.account_id):
            if doc["Name"] == name:
                raise ServiceError("CidrCollectionAlreadyExistsException", f"A CIDR collection with the name {name} already exists (caller reference {doc['CallerReference']}).", 400)
        collection_id = str(uuid.uuid4())
        doc = {"Id": collection_id, "Name": name, "CallerReference": ref, "Version": 1, "Locations": {}}
        with ctx.store.transaction() as txn:
            txn.put(CIDR_KIND, collection_id, doc, ctx.account_id)
        return {"Collection": self._cidr_out(doc), "Location": f"{ctx.runtime.config.endpoint}/2013-04-01/cidrcollection/{collection_id}"}

    def _cidr_in_use(self, ctx: RequestContext, collection_id: str) -> dict[str, set[str]]:
        used: dict[str, set[str]] = {}
        for _k, rrset in ctx.store.read.scan(R.RRSET_KIND, ctx.account_id):
            config = rrset.get("CidrRoutingConfig")
            if config and config["CollectionId"] == collection_id:
                used.setdefault(config["LocationName"], set()).add(f"{rrset['Name']} {rrset['Type']}")
        return used

    def change_cidr_collection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._cidr(ctx, params["Id"])
        version = params.get("CollectionVersion")
        if version is not None and int(version) != doc["Version"]:
            raise ServiceError("CidrCollectionVersionMismatchException", f"The CIDR collection version {version} doesn't match the current version {doc['Version']}.", 409)
        locations = {k: list(v) for k, v in doc["Locations"].items()}
        for item in params["Changes"]:
            location, action = item["LocationName"], item["Action"]
            if not re.fullmatch(r"[0-9A-Za-z_\-]{1,16}", location):
                raise _invalid(f"Invalid request: the location name {location!r} must be 1-16 letters, digits, _ or -")
            blocks = []
            for block in item["CidrList"]:
                try:
                    net = ipaddress.ip_network(block, strict=True)
                except ValueError:
                    raise _invalid(f"Invalid request: {block} is not a valid CIDR block (address bits beyond the prefix must be zero)") from None
                if net.prefixlen > (24 if net.version == 4 else 48) or net.prefixlen < (0 if net.version == 4 else 0):
                    raise _invalid(f"Invalid request: {block} is too specific: IPv4 blocks must be /0 to /24 and IPv6 blocks /0 to /48")
                blocks.append(str(net))
            if action == "PUT":
                current = locations.setdefault(location, [])
                for block in blocks:
                    owner = next((loc for loc, cidrs in locations.items() if block in cidrs and loc != location), None)
                    if owner is not None:
                        raise _invalid(f"Invalid request: the CIDR block {block} already belongs to the location {owner}")
                    if block not in current:
                        current.append(block)
            elif action == "DELETE_IF_EXISTS":
                if location in locations:
                    locations[location] = [b for b in locations[location] if b not in blocks]
            else:
                raise _invalid(f"Invalid request: Action {action} is not one of PUT, DELETE_IF_EXISTS")
        emptied = [loc for loc, cidrs in locations.items() if not cidrs]
        if emptied:
            used = self._cidr_in_use(ctx, doc["Id"])
            for loc in emptied:
                if loc in used:
                    raise ServiceError("CidrBlockInUseException", f"The location {loc} is still used by the record sets {', '.join(sorted(used[loc]))}; deleting its last CIDR block would leave them without a location.", 400)
                del locations[loc]
        with ctx.store.transaction() as txn:
            fresh = txn.get(CIDR_KIND, doc["Id"], ctx.account_id)
            if fresh is None or fresh["Version"] != doc["Version"]:
                raise ServiceError("ConcurrentModification", "Another request changed the CIDR collection; try again.", 400)
            fresh.update(Locations=locations, Version=doc["Version"] + 1)
            txn.put(CIDR_KIND, doc["Id"], fresh, ctx.account_id)
            change = self._change(ctx, txn)
        return {"Id": change["Id"].rsplit("/", 1)[-1]}

    @staticmethod
    def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
        try:
            start = int(params.get("NextToken") or 0)
            size = int(params.get("MaxResults") or 100)
        except ValueError:
            raise _invalid("Invalid request: NextToken or MaxResults is not valid") from None
        if size < 1 or start < 0:
            raise _invalid("Invalid request: NextToken or MaxResults is not valid")
        page = items[start:start + size]
        return page, (str(start + size) if start + size < len(items) else None)

    def list_cidr_collections(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = sorted((d for _k, d in ctx.store.read.scan(CIDR_KIND, ctx.account_id)), key=lambda d: d["Name"])
        page, token = self._page(docs, params)
        out: dict[str, Any] = {"CidrCollections": [self._cidr_out(d) for d in page]}
        if token:
            out["NextToken"] = token
        return out

    def list_cidr_locations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._cidr(ctx, params["CollectionId"])
        page, token = self._page(sorted(doc["Locations"]), params)
        out: dict[str, Any] = {"CidrLocations": [{"LocationName": name} for name in page]}
        if token:
            out["NextToken"] = token
        return out

    def list_cidr_blocks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._cidr(ctx, params["CollectionId"])
        wanted = params.get("LocationName")
        if wanted is not None and wanted not in doc["Locations"]:
            raise ServiceError("NoSuchCidrLocationException", "The CIDR collection location doesn't match any location in the collection.", 404)
        blocks = [{"CidrBlock": block, "LocationName": loc} for loc in sorted(doc["Locations"]) if wanted in (None, loc)
                  for block in doc["Locations"][loc]]
        page, token = self._page(blocks, params)
        out: dict[str, Any] = {"CidrBlocks": page}
        if token:
            out["NextToken"] = token
        return out

    def delete_cidr_collection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._cidr(ctx, params["Id"])
        used = self._cidr_in_use(ctx, doc["Id"])
        if used:
            names = sorted(n for group in used.values() for n in group)
            raise ServiceError("CidrCollectionInUseException", f"This CIDR collection is in use by the record sets {', '.join(names)}; delete them first.", 400)
        with ctx.store.transaction() as txn:
            txn.delete(CIDR_KIND, doc["Id"], ctx.account_id)
        return {}

    # -- geolocations ------------------------------------------------------------------

    def get_geo_location(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        continent, country, sub = params.get("ContinentCode"), params.get("CountryCode"), params.get("SubdivisionCode")
        if continent and (country or sub):
            raise _invalid("Invalid request: specify a ContinentCode or a CountryCode (with an optional SubdivisionCode), not both")
        if sub and not country:
            raise _invalid("Invalid request: a SubdivisionCode requires a CountryCode")
        details = geonames.details(continent, country, sub)
        if details is None:
            raise ServiceError("NoSuchGeoLocation", "Amazon Route 53 doesn't support the specified geographic location. For a list of supported geolocation codes, see the GeoLocation data type.", 404)
        return {"GeoLocationDetails": details}

    def list_geo_locations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        max_items = int(params.get("MaxItems") or 100)
        if max_items < 1:
            raise _invalid("Invalid request: MaxItems must be at least 1")
        places = geonames.ordered()
        start = (params.get("StartContinentCode"), params.get("StartCountryCode"), params.get("StartSubdivisionCode"))
        if any(start):
            try:
                places = places[places.index(start):]
            except ValueError:
                raise _invalid("Invalid request: the start location is not a supported geographic location") from None
        page, rest = places[:max_items], places[max_items:]
        out: dict[str, Any] = {"GeoLocationDetailsList": [geonames.details(*p) for p in page], "IsTruncated": bool(rest), "MaxItems": str(max_items)}
        if rest:
            continent, country, sub = rest[0]
            for key, value in (("NextContinentCode", continent), ("NextCountryCode", country), ("NextSubdivisionCode", sub)):
                if value:
                    out[key] = value
        return out


def _rdata_text(rtype: int, rdata: bytes) -> str:
    from dnslib import RR, DNSBuffer, QTYPE

    buffer = DNSBuffer(rdata)
    cls = RR  # decode through dnslib's rdata classes
    from dnslib.dns import RDMAP, RD

    rd_cls = RDMAP.get(QTYPE.get(rtype), RD)
    try:
        return str(rd_cls.parse(buffer, len(rdata)))
    except Exception:
        return rdata.hex()
