"""Spot: a deterministic market on the simulation clock, requests, and interruptions.

The spot price of (zone, type) is constant within each ``step_seconds`` step and moves
between steps as a sine wave plus hash noise around ``base_fraction`` of the on-demand
price (``data/prices.json``), so history is reproducible and never needs storing.  A
running spot instance whose max price is below the market at some step gets the
two-minute notice (``_nimbus.spot_action``, the request's ``marked-for-termination``)
and is then stopped or terminated.  ``SpotController`` applies this as the clock moves.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import availability_zones
from ...state import Txn
from . import compute_catalog, instances, tags
from .compute_common import check_ids, dry_run, not_found, page
from .filters import apply_filters
from .ids import new_id

KIND = "ec2:spot-request"
tags.register("sir", KIND, "spot-instances-request")
NOTICE_SECONDS = 120.0


def _params() -> dict[str, Any]:
    return compute_catalog.prices()["spot"]


def price_at(region: str, zone: str, instance_type: str, t: float, product: str = "Linux/UNIX") -> float:
    p = _params()
    step = int(t // p["step_seconds"])
    od = compute_catalog.on_demand_price(instance_type, region, product)
    seed = int.from_bytes(hashlib.sha256(f"{zone}:{instance_type}".encode()).digest()[:4], "big")
    phase = (seed % 1000) / 1000 * 2 * math.pi
    noise = int.from_bytes(hashlib.sha256(f"{zone}:{instance_type}:{step}".encode()).digest()[:4], "big") / 2**32 - 0.5
    fraction = p["base_fraction"] + p["swing_fraction"] * math.sin(2 * math.pi * step / p["period_steps"] + phase) + 2 * p["noise_fraction"] * noise
    return round(od * max(p["floor_fraction"], fraction), 6)


def step_start(t: float) -> float:
    s = _params()["step_seconds"]
    return (t // s) * s


def _iso(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def describe_spot_price_history(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    step = _params()["step_seconds"]
    end = params.get("EndTime")
    start = params.get("StartTime")
    end_t = min(now, end.timestamp()) if end else now
    start_t = start.timestamp() if start else end_t - 86400
    start_t = max(start_t, now - _params()["history_days"] * 86400)
    if start_t > end_t:
        raise ServiceError("InvalidParameterValue", "The start time must be before the end time.", 400)
    types = params.get("InstanceTypes") or ["t3.micro", "t3.small", "m5.large", "c5.large"]
    for t in types:
        if compute_catalog.instance_type(t) is None:
            raise ServiceError("InvalidParameterValue", f"Invalid value '{t}' for InstanceType.", 400)
    products = params.get("ProductDescriptions") or ["Linux/UNIX"]
    zones = [z["ZoneName"] for z in availability_zones(ctx.region)]
    if params.get("AvailabilityZone"):
        if params["AvailabilityZone"] not in zones:
            raise ServiceError("InvalidParameterValue", f"Invalid availability zone: [{params['AvailabilityZone']}]", 400)
        zones = [params["AvailabilityZone"]]
    rows = []
    for t in types:
        for zone in zones:
            for product in products:
                s = step_start(end_t)
                while s >= step_start(start_t):
                    rows.append({"AvailabilityZone": zone, "InstanceType": t, "ProductDescription": product,
                                 "SpotPrice": f"{price_at(ctx.region, zone, t, s, product):.6f}", "Timestamp": _iso(max(s, start_t) if s < start_t else s),
                                 "_key": f"{t}/{zone}/{product}/{10**12 - s:013.0f}"})
                    s -= step
    rows = apply_filters(rows, params.get("Filters"), {
        "availability-zone": "AvailabilityZone", "instance-type": "InstanceType", "product-description": "ProductDescription",
        "spot-price": "SpotPrice", "timestamp": lambda r: r["Timestamp"].strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    items, token = page(rows, params, "_key", minimum=5, maximum=10000)
    out: dict[str, Any] = {"SpotPriceHistory": [{k: v for k, v in r.items() if k != "_key"} for r in items]}
    if token:
        out["NextToken"] = token
    return out


# -- requests ----------------------------------------------------------------------------------

def _request_view(doc: dict[str, Any]) -> dict[str, Any]:
    return doc


def _status(doc: dict[str, Any], code: str, message: str, t: float, state: str | None = None) -> None:
    doc["Status"] = {"Code": code, "Message": message, "UpdateTime": t}
    if state:
        doc["State"] = state


def new_request(ctx: RequestContext, spec: dict[str, Any], *, max_price: float, request_type: str, behavior: str,
                tag_list: list[dict[str, str]], valid_until: float | None = None) -> dict[str, Any]:
    now = ctx.clock.time()
    doc = {
        "SpotInstanceRequestId": "sir-" + new_id("x")[2:10],
        "SpotPrice": f"{max_price:.6f}",
        "Type": request_type,
        "State": "open",
        "Status": {"Code": "pending-evaluation", "Message": "Your Spot request has been submitted for review, and is pending evaluation.", "UpdateTime": now},
        "CreateTime": now,
        "LaunchSpecification": spec,
        "ProductDescription": "Linux/UNIX",
        "InstanceInterruptionBehavior": behavior,
        "Tags": tag_list,
        "ValidUntil": valid_until or now + 7 * 86400,
    }
    return doc


def _max_price(ctx: RequestContext, value: Any, instance_type: str) -> float:
    od = compute_catalog.on_demand_price(instance_type, ctx.region)
    if value in (None, ""):
        return od
    try:
        price = float(value)
    except ValueError:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{value}' for SpotPrice.", 400) from None
    if price <= 0:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{value}' for SpotPrice.", 400)
    return price


def run_spot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """RunInstances with InstanceMarketOptions spot: one-time requests fulfilled at once or refused."""
    options = (params.get("InstanceMarketOptions") or {}).get("SpotOptions") or {}
    instance_type = params.get("InstanceType") or "m1.small"
    max_price = _max_price(ctx, options.get("MaxPrice"), instance_type)
    request_type = options.get("SpotInstanceType") or "one-time"
    behavior = options.get("InstanceInterruptionBehavior") or "terminate"
    if request_type == "one-time" and behavior != "terminate":
        raise ServiceError("InvalidParameterCombination", "The interruption behavior must be 'terminate' for one-time Spot Instance requests.", 400)
    zone = (params.get("Placement") or {}).get("AvailabilityZone")
    if zone is None and params.get("SubnetId"):
        subnet = ctx.store.read.get("ec2:subnet", params["SubnetId"], ctx.scope)
        zone = subnet["AvailabilityZone"] if subnet else None
    zone = zone or availability_zones(ctx.region)[0]["ZoneName"]
    market = price_at(ctx.region, zone, instance_type, ctx.clock.time())
    if max_price < market:
        raise ServiceError("SpotMaxPriceTooLow", f"Your Spot request price of {max_price} is lower than the minimum required Spot request "
                           f"fulfillment price of {market}.", 400)
    if not (params.get("Placement") or {}).get("AvailabilityZone") and not params.get("SubnetId"):
        params = {**params, "Placement": {**(params.get("Placement") or {}), "AvailabilityZone": zone}}
    requests = []
    count = params["MaxCount"]
    sir_tags = tags.tags_for_type(params.get("TagSpecifications"), "spot-instances-request")
    for _ in range(count):
        requests.append(new_request(ctx, {"ImageId": params.get("ImageId"), "InstanceType": instance_type,
                                          "Placement": {"AvailabilityZone": zone}}, max_price=max_price,
                                    request_type=request_type, behavior=behavior, tag_list=sir_tags))
    out = None
    docs = []
    for index, req in enumerate(requests):
        one = {**params, "MinCount": 1, "MaxCount": 1, "ClientToken": None}
        result = instances.run_instances(ctx, one, spot={"SpotInstanceRequestId": req["SpotInstanceRequestId"], "max_price": max_price,
                                                         "behavior": behavior, "type": request_type})
        inst = result["Instances"][0]
        inst["AmiLaunchIndex"] = index
        docs.append(inst)
        _fulfilled(req, inst, ctx.clock.time())
        if out is None:
            out = result
    with ctx.store.transaction() as txn:
        for req in requests:
            txn.put(KIND, req["SpotInstanceRequestId"], req, ctx.scope)
    assert out is not None
    out["Instances"] = docs
    return out


def _fulfilled(req: dict[str, Any], inst: dict[str, Any], now: float) -> None:
    req["InstanceId"] = inst["InstanceId"]
    req["LaunchedAvailabilityZone"] = inst["Placement"]["AvailabilityZone"]
    req["State"] = "active"
    _status(req, "fulfilled", "Your Spot request is fulfilled.", now)


def request_spot_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    spec = dict(params.get("LaunchSpecification") or {})
    instance_type = spec.get("InstanceType") or "m1.small"
    if compute_catalog.instance_type(instance_type) is None:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.", 400)
    max_price = _max_price(ctx, params.get("SpotPrice"), instance_type)
    count = params.get("InstanceCount") or 1
    request_type = params.get("Type") or "one-time"
    behavior = params.get("InstanceInterruptionBehavior") or "terminate"
    if request_type == "one-time" and behavior != "terminate":
        raise ServiceError("InvalidParameterCombination", "The interruption behavior must be 'terminate' for one-time Spot Instance requests.", 400)
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "spot-instances-request")
    valid_until = params.get("ValidUntil")
    dry_run(params)
    requests = [new_request(ctx, spec, max_price=max_price, request_type=request_type, behavior=behavior, tag_list=tag_list,
                            valid_until=valid_until.timestamp() if valid_until else None) for _ in range(count)]
    with ctx.store.transaction() as txn:
        for req in requests:
            txn.put(KIND, req["SpotInstanceRequestId"], req, ctx.scope)
    for req in requests:
        _try_fulfil(ctx, req)
    return {"SpotInstanceRequests": requests}


def _launch_params(req: dict[str, Any]) -> dict[str, Any]:
    spec = req["LaunchSpecification"]
    params: dict[str, Any] = {"MinCount": 1, "MaxCount": 1}
    for key in ("ImageId", "InstanceType", "KeyName", "UserData", "SubnetId", "Placement", "BlockDeviceMappings",
                "IamInstanceProfile", "EbsOptimized", "NetworkInterfaces"):
        if spec.get(key) is not None:
            params[key] = spec[key]
    groups = [g.get("GroupId") or g.get("GroupName") for g in spec.get("SecurityGroups") or [] if isinstance(g, dict)]
    groups += list(spec.get("SecurityGroupIds") or [])
    if groups:
        params["SecurityGroupIds"] = groups
    if spec.get("Monitoring"):
        params["Monitoring"] = spec["Monitoring"]
    return params


def _try_fulfil(ctx: RequestContext, req: dict[str, Any]) -> None:
    """Launch the request's instance if the market is at or below its price (else price-too-low)."""
    now = ctx.clock.time()
    params = _launch_params(req)
    zone = (params.get("Placement") or {}).get("AvailabilityZone")
    if zone is None and params.get("SubnetId"):
        subnet = ctx.store.read.get("ec2:subnet", params["SubnetId"], ctx.scope)
        zone = subnet["AvailabilityZone"] if subnet else None
    zone = zone or availability_zones(ctx.region)[0]["ZoneName"]
    market = price_at(ctx.region, zone, params.get("InstanceType", "m1.small"), now)
    if float(req["SpotPrice"]) < market:
        _status(req, "price-too-low", "Your Spot request price is lower than the minimum required Spot request fulfillment price.", now)
    else:
        if not params.get("SubnetId"):
            params["Placement"] = {**(params.get("Placement") or {}), "AvailabilityZone": zone}
        try:
            result = instances.run_instances(ctx, params, spot={"SpotInstanceRequestId": req["SpotInstanceRequestId"],
                                                                "max_price": float(req["SpotPrice"]),
                                                                "behavior": req["InstanceInterruptionBehavior"], "type": req["Type"]})
        except ServiceError as exc:
            _status(req, "bad-parameters", exc.message, now, state="failed")
            req["Fault"] = {"Code": exc.code, "Message": exc.message}
        else:
            _fulfilled(req, result["Instances"][0], now)
    with ctx.store.transaction() as txn:
        txn.put(KIND, req["SpotInstanceRequestId"], req, ctx.scope)


def describe_spot_instance_requests(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("SpotInstanceRequestIds") or []
    for value in ids:
        if not isinstance(value, str) or not value.startswith("sir-"):
            raise ServiceError("InvalidSpotInstanceRequestID.Malformed", f'Invalid id: "{value}" (expecting "sir-...")', 400)
    docs = [d for _, d in ctx.store.read.scan(KIND, ctx.scope)]
    if ids:
        missing = [i for i in ids if i not in {d["SpotInstanceRequestId"] for d in docs}]
        if missing:
            raise not_found("sir", missing)
        docs = [d for d in docs if d["SpotInstanceRequestId"] in ids]
    docs = apply_filters(docs, params.get("Filters"), {
        "spot-instance-request-id": "SpotInstanceRequestId", "state": "State", "status-code": lambda d: d["Status"]["Code"],
        "status-message": lambda d: d["Status"]["Message"], "instance-id": "InstanceId", "type": "Type", "spot-price": "SpotPrice",
        "launched-availability-zone": "LaunchedAvailabilityZone", "product-description": "ProductDescription",
        "launch.instance-type": lambda d: d["LaunchSpecification"].get("InstanceType"),
        "launch.image-id": lambda d: d["LaunchSpecification"].get("ImageId"),
        "launch.key-name": lambda d: d["LaunchSpecification"].get("KeyName"),
        "create-time": "CreateTime", "fault-code": lambda d: (d.get("Fault") or {}).get("Code")})
    items, token = page(sorted(docs, key=lambda d: d["SpotInstanceRequestId"]), params, "SpotInstanceRequestId", minimum=5, maximum=1000)
    out: dict[str, Any] = {"SpotInstanceRequests": items}
    if token:
        out["NextToken"] = token
    return out


def cancel_spot_instance_requests(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    out = []
    with ctx.store.transaction() as txn:
        for value in params["SpotInstanceRequestIds"]:
            doc = txn.get(KIND, value, ctx.scope)
            if doc is None:
                raise not_found("sir", [value])
            if doc["State"] in ("open", "active", "disabled"):
                fulfilled = doc["State"] == "active"
                doc["State"] = "cancelled"
                _status(doc, "request-canceled-and-instance-running" if fulfilled else "canceled-before-fulfillment",
                        "Spot Instance request canceled, but instance is still running." if fulfilled else "Spot Instance request canceled before fulfillment.", now)
                txn.put(KIND, value, doc, ctx.scope)
            out.append({"SpotInstanceRequestId": value, "State": doc["State"]})
        dry_run(params)
    return {"CancelledSpotInstanceRequests": out}


def instance_terminated(txn: Txn, ctx: RequestContext, request_id: str, code: str, now: float) -> None:
    doc = txn.get(KIND, request_id, ctx.scope)
    if doc is None or doc["State"] == "cancelled" and code == "instance-terminated-by-user":
        if doc is not None:
            _status(doc, "instance-terminated-by-user", "Spot Instance terminated due to user-initiated termination.", now)
            txn.put(KIND, request_id, doc, ctx.scope)
        return
    messages = {"instance-terminated-by-user": "Spot Instance terminated due to user-initiated termination.",
                "instance-terminated-by-price": "Your Spot Instance was terminated because your Spot request price was lower than the Spot price.",
                "instance-stopped-by-price": "Your Spot Instance was stopped because your Spot request price was lower than the Spot price."}
    _status(doc, code, messages.get(code, code), now, state="closed" if doc["Type"] == "one-time" or code == "instance-terminated-by-user" else "disabled")
    txn.put(KIND, request_id, doc, ctx.scope)


# -- interruption ----------------------------------------------------------------------------

class _ScopeCtx:
    """What the instance and network helpers need when a controller acts for an account."""

    def __init__(self, runtime: Any, scope: str) -> None:
        self.runtime = runtime
        self.scope = scope
        self.account_id, self.region = scope.split("/", 1)

    @property
    def clock(self) -> Any:
        return self.runtime.clock

    @property
    def store(self) -> Any:
        return self.runtime.store


def first_breach(region: str, zone: str, instance_type: str, max_price: float, since: float, until: float) -> float | None:
    """The start of the first price step in [since, until] whose price exceeds ``max_price``."""
    step = _params()["step_seconds"]
    s = step_start(since)
    while s <= until:
        if price_at(region, zone, instance_type, s) > max_price + 1e-12:
            return max(s, since)
        s += step
    return None


class SpotController:
    """Interrupts spot instances whose max price the market exceeded (two-minute notice first)."""

    interval = 60.0

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def tick(self, now: float) -> None:
        store = self.runtime.store
        for scope in list(store.read.scopes(KIND)):
            active = [d for _, d in store.read.scan(KIND, scope) if d["State"] in ("active", "open")]
            if not active:
                continue
            ctx = _ScopeCtx(self.runtime, scope)
            for req in active:
                try:
                    self._reconcile(ctx, req, now)
                except ServiceError:
                    continue

    def _reconcile(self, ctx: _ScopeCtx, req: dict[str, Any], now: float) -> None:
        store = self.runtime.store
        if req["State"] == "open":
            if now >= req.get("ValidUntil", now + 1):
                with store.transaction() as txn:
                    req["State"] = "closed"
                    _status(req, "schedule-expired", "The Spot request has expired.", now)
                    txn.put(KIND, req["SpotInstanceRequestId"], req, ctx.scope)
                return
            _try_fulfil(ctx, req)  # type: ignore[arg-type]
            return
        instance_id = req.get("InstanceId")
        with store.transaction() as txn:
            inst = txn.get(instances.KIND, instance_id, ctx.scope) if instance_id else None
            if inst is None or inst["_nimbus"].get("spot_action"):
                return
            state = instances.current_state(inst, now)
            if state not in ("running", "pending"):
                return
            checked = inst["_nimbus"]["spot"].get("checked_until", inst["LaunchTime"])
            zone = inst["Placement"]["AvailabilityZone"]
            region = ctx.region
            breach = first_breach(region, zone, inst["InstanceType"], float(inst["_nimbus"]["spot"]["max_price"]), checked, now)
            if breach is None:
                inst["_nimbus"]["spot"]["checked_until"] = now
                txn.put(instances.KIND, instance_id, inst, ctx.scope)
                return
            behavior = inst["_nimbus"]["spot"].get("behavior", "terminate")
            action_at = breach + NOTICE_SECONDS
            inst["_nimbus"]["spot_action"] = {"action": "stop" if behavior == "stop" else "terminate",
                                              "time": _iso(action_at).strftime("%Y-%m-%dT%H:%M:%SZ"), "at": action_at, "noticed_at": breach}
            _status(req, "marked-for-stop" if behavior == "stop" else "marked-for-termination",
                    "Your Spot Instance is marked to be stopped/terminated because the Spot price exceeded your max price.", breach)
            txn.put(KIND, req["SpotInstanceRequestId"], req, ctx.scope)
            if behavior == "stop":
                # the stop takes effect at the end of the notice: schedule it on the timeline
                instances._set_timeline(inst, breach, (NOTICE_SECONDS, "stopping"), (NOTICE_SECONDS + instances.STOP_SECONDS, "stopped"))
                inst["StateReason"] = {"Code": "Server.SpotInstanceShutdown", "Message": "Server.SpotInstanceShutdown: Spot Instance stopped due to price"}
                instances.put_instance(txn, ctx, inst)  # type: ignore[arg-type]
                instance_terminated(txn, ctx, req["SpotInstanceRequestId"], "instance-stopped-by-price", action_at)  # type: ignore[arg-type]
            else:
                instances.terminate(txn, ctx, inst, breach, delay=NOTICE_SECONDS,  # type: ignore[arg-type]
                                    code="Server.SpotInstanceTermination",
                                    message="Server.SpotInstanceTermination: Spot Instance terminated due to price",
                                    reason="Server.SpotInstanceTermination: Spot Instance terminated due to price")
                instance_terminated(txn, ctx, req["SpotInstanceRequestId"], "instance-terminated-by-price", action_at)  # type: ignore[arg-type]


class InstanceSweeper:
    """Forgets instances an hour after they terminated (Describe hides them already)."""

    interval = 900.0

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def tick(self, now: float) -> None:
        instances.sweep(self.runtime.store, now)
