"""Route 53 Domains as a local registrar: availability, registration, transfer lock,
name servers.  Registering a domain also creates its public hosted zone (as AWS does),
so the domain resolves through Nimbus's DNS server at once.

Records: ``route53domains:domain`` (scope the account, key the domain name; names are
unique across accounts through ``route53domains:registry`` in scope ""),
``route53domains:operation``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ..base import Provider

DOMAIN_KIND = "route53domains:domain"
REGISTRY_KIND = "route53domains:registry"
OPERATION_KIND = "route53domains:operation"
RESERVED = {"example.com", "example.net", "example.org", "amazon.com", "amazonaws.com", "localhost"}
TLDS = {"com", "net", "org", "io", "dev", "app", "info", "biz", "cloud", "co", "me", "tech", "xyz", "uk", "de", "fr"}
_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\.[a-z]{2,63}$")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message, 400)


class Route53DomainsProvider(Provider):
    service = "route53domains"

    def _name(self, raw: str) -> str:
        name = (raw or "").strip().lower().rstrip(".")
        if not _NAME.match(name):
            raise _invalid(f"The domain name {raw} is not valid.")
        if name.rsplit(".", 1)[1] not in TLDS:
            raise ServiceError("UnsupportedTLD", f"Amazon Route 53 does not support the top-level domain (TLD) .{name.rsplit('.', 1)[1]}.", 400)
        return name

    def _domain(self, ctx: RequestContext, raw: str) -> dict[str, Any]:
        name = self._name(raw)
        doc = ctx.store.read.get(DOMAIN_KIND, name, ctx.account_id)
        if doc is None:
            raise _invalid(f"Domain {name} not found in account {ctx.account_id}.")
        return doc

    def _operation(self, ctx: RequestContext, txn: Any, domain: str, kind: str) -> str:
        op_id = str(uuid.uuid4())
        now = ctx.clock.time()
        txn.put(OPERATION_KIND, op_id, {"OperationId": op_id, "Status": "SUCCESSFUL", "DomainName": domain, "Type": kind,
                                        "SubmittedDate": now, "LastUpdatedDate": now}, ctx.account_id)
        return op_id

    def check_domain_availability(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._name(params["DomainName"])
        if name in RESERVED:
            return {"Availability": "RESERVED"}
        taken = ctx.store.read.exists(REGISTRY_KIND, name, "")
        return {"Availability": "UNAVAILABLE" if taken else "AVAILABLE"}

    def register_domain(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._name(params["DomainName"])
        if name in RESERVED or ctx.store.read.exists(REGISTRY_KIND, name, ""):
            raise ServiceError("DomainLimitExceeded" if False else "InvalidInput", f"The domain {name} is not available for registration.", 400)
        years = int(params.get("DurationInYears") or 1)
        if not 1 <= years <= 10:
            raise _invalid("DurationInYears must be between 1 and 10.")
        for contact in ("AdminContact", "RegistrantContact", "TechContact"):
            if not params.get(contact):
                raise _invalid(f"{contact} is required.")
        # the hosted zone AWS creates for a registered domain
        route53 = self.runtime.provider("route53")
        zone = route53.create_hosted_zone(ctx, {"Name": name, "CallerReference": f"route53domains-{name}-{uuid.uuid4()}",
                                                "HostedZoneConfig": {"Comment": "HostedZone created by Route53 Registrar"}})
        name_servers = [n for n in zone["DelegationSet"]["NameServers"]]
        now = ctx.clock.time()
        doc = {
            "DomainName": name, "AutoRenew": params.get("AutoRenew", True), "TransferLock": True,
            "Nameservers": [{"Name": n} for n in name_servers], "CreationDate": now, "UpdatedDate": now,
            "ExpirationDate": now + years * 365 * 86400, "HostedZoneId": zone["HostedZone"]["Id"].rsplit("/", 1)[-1],
            "AdminContact": params["AdminContact"], "RegistrantContact": params["RegistrantContact"], "TechContact": params["TechContact"],
            "AdminPrivacy": params.get("PrivacyProtectAdminContact", True),
            "RegistrantPrivacy": params.get("PrivacyProtectRegistrantContact", True),
            "TechPrivacy": params.get("PrivacyProtectTechContact", True),
        }
        with ctx.store.transaction() as txn:
            txn.put(REGISTRY_KIND, name, ctx.account_id, "")
            txn.put(DOMAIN_KIND, name, doc, ctx.account_id)
            op = self._operation(ctx, txn, name, "REGISTER_DOMAIN")
        return {"OperationId": op}

    def list_domains(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        domains = [
            {"DomainName": d["DomainName"], "AutoRenew": d["AutoRenew"], "TransferLock": d["TransferLock"], "Expiry": _dt(d["ExpirationDate"])}
            for _k, d in ctx.store.read.scan(DOMAIN_KIND, ctx.account_id)
        ]
        return {"Domains": domains}

    def get_domain_detail(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        d = self._domain(ctx, params["DomainName"])
        status = ["clientTransferProhibited"] if d["TransferLock"] else []
        return {
            "DomainName": d["DomainName"], "Nameservers": d["Nameservers"], "AutoRenew": d["AutoRenew"],
            "AdminContact": d["AdminContact"], "RegistrantContact": d["RegistrantContact"], "TechContact": d["TechContact"],
            "AdminPrivacy": d["AdminPrivacy"], "RegistrantPrivacy": d["RegistrantPrivacy"], "TechPrivacy": d["TechPrivacy"],
            "RegistrarName": "Nimbus Local Registrar", "WhoIsServer": "whois.nimbus.localhost", "RegistrarUrl": "http://localhost",
            "CreationDate": _dt(d["CreationDate"]), "UpdatedDate": _dt(d["UpdatedDate"]), "ExpirationDate": _dt(d["ExpirationDate"]),
            "StatusList": status,
        }

    def _update(self, ctx: RequestContext, raw: str, kind: str, **changes: Any) -> dict[str, Any]:
        d = self._domain(ctx, raw)
        d.update(changes)
        d["UpdatedDate"] = ctx.clock.time()
        with ctx.store.transaction() as txn:
            txn.put(DOMAIN_KIND, d["DomainName"], d, ctx.account_id)
            op = self._operation(ctx, txn, d["DomainName"], kind)
        return {"OperationId": op}

    def enable_domain_transfer_lock(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._update(ctx, params["DomainName"], "ADD_DNSSEC" if False else "DOMAIN_LOCK", TransferLock=True)

    def disable_domain_transfer_lock(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._update(ctx, params["DomainName"], "DOMAIN_LOCK", TransferLock=False)

    def enable_domain_auto_renew(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._update(ctx, params["DomainName"], "UPDATE_DOMAIN_CONTACT", AutoRenew=True)
        return {}

    def disable_domain_auto_renew(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._update(ctx, params["DomainName"], "UPDATE_DOMAIN_CONTACT", AutoRenew=False)
        return {}

    def update_domain_nameservers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        servers = params.get("Nameservers") or []
        if not 1 <= len(servers) <= 6:
            raise _invalid("Specify between one and six name servers.")
        return self._update(ctx, params["DomainName"], "UPDATE_NAMESERVER", Nameservers=[{k: v for k, v in s.items() if v} for s in servers])

    def get_operation_detail(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        op = ctx.store.read.get(OPERATION_KIND, params["OperationId"], ctx.account_id)
        if op is None:
            raise _invalid(f"Operation {params['OperationId']} not found.")
        return {**op, "SubmittedDate": _dt(op["SubmittedDate"]), "LastUpdatedDate": _dt(op["LastUpdatedDate"])}
