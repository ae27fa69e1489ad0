"""Shared plumbing of the networking area: kinds, id errors, Describe paging, DryRun.

Every networking resource is one record in AWS's Describe output shape (PascalCase keys),
stored under ``KINDS[prefix]`` in the request's scope.  Private bookkeeping that AWS does
not show lives under keys starting with ``_`` (the serializer only walks the shape's
members, so they never reach a client).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import tags
from .filters import apply_filters
from .ids import is_id, new_id

# id prefix → (store kind, tag ResourceType, Malformed code, NotFound code, NotFound message)
RESOURCES: dict[str, tuple[str, str, str, str, str]] = {
    "vpc": ("ec2:vpc", "vpc", "InvalidVpcID.Malformed", "InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet": ("ec2:subnet", "subnet", "InvalidSubnetID.Malformed", "InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg": ("ec2:security-group", "security-group", "InvalidGroupId.Malformed", "InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "sgr": ("ec2:security-group-rule", "security-group-rule", "InvalidSecurityGroupRuleId.Malformed", "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '{}' does not exist"),
    "igw": ("ec2:internet-gateway", "internet-gateway", "InvalidInternetGatewayId.Malformed", "InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "eigw": ("ec2:egress-only-internet-gateway", "egress-only-internet-gateway", "InvalidEgressOnlyInternetGatewayId.Malformed", "InvalidEgressOnlyInternetGatewayId.NotFound", "The egressOnlyInternetGateway ID '{}' does not exist"),
    "rtb": ("ec2:route-table", "route-table", "InvalidRouteTableId.Malformed", "InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "acl": ("ec2:network-acl", "network-acl", "InvalidNetworkAclId.Malformed", "InvalidNetworkAclID.NotFound", "The networkAcl ID '{}' does not exist"),
    "nat": ("ec2:nat-gateway", "natgateway", "NatGatewayMalformed", "NatGatewayNotFound", "The Nat Gateway {} was not found"),
    "eipalloc": ("ec2:address", "elastic-ip", "InvalidAllocationID.Malformed", "InvalidAllocationID.NotFound", "The allocation ID '{}' does not exist"),
    "eni": ("ec2:network-interface", "network-interface", "InvalidNetworkInterfaceId.Malformed", "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '{}' does not exist"),
    "pcx": ("ec2:vpc-peering-connection", "vpc-peering-connection", "InvalidVpcPeeringConnectionId.Malformed", "InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID '{}' does not exist"),
    "vpce": ("ec2:vpc-endpoint", "vpc-endpoint", "InvalidVpcEndpointId.Malformed", "InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '{}' does not exist"),
    "pl": ("ec2:prefix-list", "prefix-list", "InvalidPrefixListId.Malformed", "InvalidPrefixListID.NotFound", "The prefix list ID '{}' does not exist"),
    "fl": ("ec2:flow-log", "vpc-flow-log", "InvalidFlowLogId.Malformed", "InvalidFlowLogId.NotFound", "Flow log '{}' does not exist"),
    "cgw": ("ec2:customer-gateway", "customer-gateway", "InvalidCustomerGatewayId.Malformed", "InvalidCustomerGatewayID.NotFound", "The customerGateway ID '{}' does not exist"),
    "vgw": ("ec2:vpn-gateway", "vpn-gateway", "InvalidVpnGatewayId.Malformed", "InvalidVpnGatewayID.NotFound", "The vpnGateway ID '{}' does not exist"),
    "vpn": ("ec2:vpn-connection", "vpn-connection", "InvalidVpnConnectionId.Malformed", "InvalidVpnConnectionID.NotFound", "The vpnConnection ID '{}' does not exist"),
    "dopt": ("ec2:dhcp-options", "dhcp-options", "InvalidDhcpOptionsId.Malformed", "InvalidDhcpOptionID.NotFound", "The dhcpOption ID '{}' does not exist"),
}

for _prefix, (_kind, _rtype, *_rest) in RESOURCES.items():
    tags.register(_prefix, _kind, _rtype)


def kind(prefix: str) -> str:
    return RESOURCES[prefix][0]


def check_id(value: Any, prefix: str) -> str:
    """``value`` when well formed for ``prefix``; AWS's ``.Malformed`` error otherwise."""
    if not isinstance(value, str) or not is_id(value, prefix):
        raise ServiceError(RESOURCES[prefix][2], f'Invalid id: "{value}" (expecting "{prefix}-...")', 400)
    return value


def not_found(prefix: str, value: str) -> ServiceError:
    _, _, _, code, message = RESOURCES[prefix]
    return ServiceError(code, message.format(value), 400)


def get(txn: Txn, ctx: RequestContext, prefix: str, resource_id: Any) -> dict[str, Any]:
    """The record of ``resource_id``: ``.Malformed`` for a bad id, ``.NotFound`` when absent."""
    check_id(resource_id, prefix)
    doc = txn.get(kind(prefix), resource_id, ctx.scope)
    if doc is None:
        raise not_found(prefix, resource_id)
    return doc


def put(txn: Txn, ctx: RequestContext, prefix: str, resource_id: str, doc: dict[str, Any]) -> None:
    txn.put(kind(prefix), resource_id, doc, ctx.scope)


def delete(txn: Txn, ctx: RequestContext, prefix: str, resource_id: str) -> None:
    txn.delete(kind(prefix), resource_id, ctx.scope)


def scan(txn: Txn, ctx: RequestContext, prefix: str) -> Iterable[dict[str, Any]]:
    for _, doc in txn.scan(kind(prefix), ctx.scope):
        yield doc


def new(prefix: str) -> str:
    return new_id(prefix)


def dry_run(params: dict[str, Any]) -> None:
    if params.get("DryRun"):
        raise ServiceError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def tags_of(params: dict[str, Any], resource_type: str) -> list[dict[str, str]]:
    return tags.tags_for_type(params.get("TagSpecifications"), resource_type)


def describe(
    ctx: RequestContext,
    params: dict[str, Any],
    prefix: str,
    *,
    ids_param: str | None,
    fields: dict[str, Any],
    visible: Callable[[dict[str, Any]], bool] | None = None,
    present: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    max_default: int = 1000,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of records of ``prefix``: ids, ``Filters``, ``MaxResults``/``NextToken``.

    Records are read in id order straight from the store and filtered in batches, so a
    page costs what it returns, not the whole table.  ``NextToken`` is the last id given.
    """
    read = ctx.store.read
    store_kind = kind(prefix)
    filters = params.get("Filters")
    wanted = params.get(ids_param) if ids_param else None
    max_results = params.get("MaxResults")
    if max_results is not None and max_results < 1:
        raise ServiceError("InvalidParameterValue", f"Value ( {max_results} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000.", 400)
    limit = min(max_results or max_default, max_default)
    token = params.get("NextToken")
    if wanted:
        docs = []
        missing = []
        for resource_id in dict.fromkeys(wanted):
            check_id(resource_id, prefix)
            doc = read.get(store_kind, resource_id, ctx.scope)
            if doc is not None and prepare:
                doc = prepare(doc)
            if doc is None or (visible and not visible(doc)):
                missing.append(resource_id)
            else:
                docs.append(doc)
        if missing:
            err = not_found(prefix, missing[0])
            if len(missing) > 1:
                err = ServiceError(err.code, RESOURCES[prefix][4].format(", ".join(missing)).replace("ID ", "IDs ").replace(" does ", " do "), 400)
            raise err
        docs = apply_filters(docs, filters, fields)
        if present:
            docs = [present(d) for d in docs]
        if max_results is None:
            return docs, None
        start = 0
        if token:
            ids = [_id_of(d, prefix) for d in docs]
            start = ids.index(token) + 1 if token in ids else 0
        page = docs[start : start + limit]
        more = start + limit < len(docs)
        return page, (_id_of(page[-1], prefix) if more and page else None)
    page: list[dict[str, Any]] = []
    cursor = token
    batch = max(limit + 1, 200)
    while len(page) <= limit:
        chunk = [doc for _, doc in read.scan(store_kind, ctx.scope, start_after=cursor, limit=batch)]
        if not chunk:
            break
        cursor = _id_of(chunk[-1], prefix)
        exhausted = len(chunk) < batch
        if prepare:
            chunk = [prepare(d) for d in chunk]
        if visible:
            chunk = [d for d in chunk if visible(d)]
        page.extend(apply_filters(chunk, filters, fields))
        if exhausted:
            break
    next_token = None
    if len(page) > limit:
        page = page[:limit]
        next_token = _id_of(page[-1], prefix)
    if present:
        page = [present(d) for d in page]
    return page, next_token


_ID_KEYS = {
    "vpc": "VpcId", "subnet": "SubnetId", "sg": "GroupId", "sgr": "SecurityGroupRuleId", "igw": "InternetGatewayId",
    "eigw": "EgressOnlyInternetGatewayId", "rtb": "RouteTableId", "acl": "NetworkAclId", "nat": "NatGatewayId",
    "eipalloc": "AllocationId", "eni": "NetworkInterfaceId", "pcx": "VpcPeeringConnectionId", "vpce": "VpcEndpointId",
    "pl": "PrefixListId", "fl": "FlowLogId", "cgw": "CustomerGatewayId", "vgw": "VpnGatewayId", "vpn": "VpnConnectionId",
    "dopt": "DhcpOptionsId",
}


def _id_of(doc: dict[str, Any], prefix: str) -> str:
    return doc[_ID_KEYS[prefix]]


def page_result(key: str, items: list[dict[str, Any]], next_token: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {key: items}
    if next_token:
        result["NextToken"] = next_token
    return result


def tag_values(doc: dict[str, Any]) -> list[str]:
    return [t["Value"] for t in doc.get("Tags", [])]


def dependency(kind_noun: str, resource_id: str) -> ServiceError:
    return ServiceError("DependencyViolation", f"The {kind_noun} '{resource_id}' has dependencies and cannot be deleted.", 400)


def each(list_key: str, field: str) -> Callable[[dict[str, Any]], list[Any]]:
    """Filter getter: ``field`` of every item of ``doc[list_key]``."""
    return lambda doc: [item.get(field) for item in doc.get(list_key) or [] if item.get(field) is not None]


def nested(*path: str) -> Callable[[dict[str, Any]], Any]:
    def get(doc: dict[str, Any]) -> Any:
        value: Any = doc
        for part in path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value
    return get
