"""EC2 compute: instances, launch templates, instance types, images, key pairs, EBS, spot and
reserved instances, dedicated hosts and capacity reservations.

Each resource keeps its records and rules in its own module (``instances``,
``launch_templates``, ``ami``, ``keypair``, ``ebs``, ``spot``, ``purchasing``, ``hosts``,
``capacity``, ``compute_catalog``); this mixin only wires the operations to them.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from . import ami, capacity, compute_catalog, ebs, hosts, instances, keypair, launch_templates, purchasing, spot
from .compute_common import page
from .filters import apply_filters

Params = dict[str, Any]


def _delegate(function: Any) -> Any:
    def operation(self: Any, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return function(ctx, params)

    operation.__name__ = function.__name__
    operation.__doc__ = function.__doc__
    return operation


class ComputeOperations:
    def __init__(self, runtime: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(runtime, *args, **kwargs)  # type: ignore[call-arg]
        self._watch_network(runtime)

    def _watch_network(self, runtime: Any) -> None:
        if getattr(self, "_compute_watching", False):
            return
        self._compute_watching = True
        runtime.store.subscribe(lambda changes: instances.on_changes(runtime, changes))

    # -- instances ------------------------------------------------------------------------
    def run_instances(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        token = params.get("ClientToken")
        if not (token and ctx.store.read.get(instances.TOKEN_KIND, token, ctx.scope)):
            params = instances.with_launch_template(ctx, params)  # the template may make it a spot launch
        market = (params.get("InstanceMarketOptions") or {}).get("MarketType")
        if market == "spot":
            instances._launch_common(ctx, params)  # every check before the market's
            return spot.run_spot(ctx, params)
        if market not in (None, "spot"):
            raise ServiceError("InvalidParameterValue", f"Value ({market}) for parameter marketType is invalid.", 400)
        return instances.run_instances(ctx, params)

    describe_instances = _delegate(instances.describe_instances)
    start_instances = _delegate(instances.start_instances)
    stop_instances = _delegate(instances.stop_instances)
    terminate_instances = _delegate(instances.terminate_instances)
    reboot_instances = _delegate(instances.reboot_instances)
    modify_instance_attribute = _delegate(instances.modify_instance_attribute)
    describe_instance_attribute = _delegate(instances.describe_instance_attribute)
    describe_instance_status = _delegate(instances.describe_instance_status)
    get_console_output = _delegate(instances.get_console_output)

    # -- instance types ----------------------------------------------------------------------
    def describe_instance_types(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        catalog = compute_catalog.instance_types()
        names = params.get("InstanceTypes") or []
        missing = [n for n in names if n not in catalog]
        if missing:
            raise ServiceError("InvalidInstanceType", f"The following supplied instance types do not exist: [{', '.join(missing)}]", 400)
        items = [catalog[n] for n in names] if names else list(catalog.values())
        items = apply_filters(items, params.get("Filters"), compute_catalog.INSTANCE_TYPE_FILTERS)
        items = sorted(items, key=lambda i: i["InstanceType"])
        result, token = page(items, params, "InstanceType", minimum=5, maximum=100)
        out: dict[str, Any] = {"InstanceTypes": result}
        if token:
            out["NextToken"] = token
        return out

    def describe_instance_type_offerings(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        location_type = params.get("LocationType") or "region"
        if location_type not in ("region", "availability-zone", "availability-zone-id"):
            raise ServiceError("InvalidParameterValue", f"Value ({location_type}) for parameter locationType is invalid.", 400)
        items = compute_catalog.offerings(ctx.region, location_type)
        items = apply_filters(items, params.get("Filters"), {"instance-type": "InstanceType", "location": "Location"})
        for i in items:
            i["_key"] = f"{i['InstanceType']}/{i['Location']}"
        result, token = page(items, params, "_key", minimum=5, maximum=1000)
        out: dict[str, Any] = {"InstanceTypeOfferings": result}
        if token:
            out["NextToken"] = token
        return out

    # -- images ---------------------------------------------------------------------------
    describe_images = _delegate(ami.describe_images)
    create_image = _delegate(ami.create_image)
    copy_image = _delegate(ami.copy_image)
    deregister_image = _delegate(ami.deregister_image)
    modify_image_attribute = _delegate(ami.modify_image_attribute)
    describe_image_attribute = _delegate(ami.describe_image_attribute)
    reset_image_attribute = _delegate(ami.reset_image_attribute)

    # -- key pairs -----------------------------------------------------------------------------
    create_key_pair = _delegate(keypair.create_key_pair)
    import_key_pair = _delegate(keypair.import_key_pair)
    delete_key_pair = _delegate(keypair.delete_key_pair)
    describe_key_pairs = _delegate(keypair.describe_key_pairs)

    # -- EBS ---------------------------------------------------------------------------------
    create_volume = _delegate(ebs.create_volume)
    delete_volume = _delegate(ebs.delete_volume)
    describe_volumes = _delegate(ebs.describe_volumes)
    attach_volume = _delegate(ebs.attach_volume)
    detach_volume = _delegate(ebs.detach_volume)
    modify_volume = _delegate(ebs.modify_volume)
    describe_volumes_modifications = _delegate(ebs.describe_volumes_modifications)
    create_snapshot = _delegate(ebs.create_snapshot)
    copy_snapshot = _delegate(ebs.copy_snapshot)
    delete_snapshot = _delegate(ebs.delete_snapshot)
    describe_snapshots = _delegate(ebs.describe_snapshots)
    enable_ebs_encryption_by_default = _delegate(ebs.enable_ebs_encryption_by_default)
    disable_ebs_encryption_by_default = _delegate(ebs.disable_ebs_encryption_by_default)
    get_ebs_encryption_by_default = _delegate(ebs.get_ebs_encryption_by_default)
    get_ebs_default_kms_key_id = _delegate(ebs.get_ebs_default_kms_key_id)
    modify_ebs_default_kms_key_id = _delegate(ebs.modify_ebs_default_kms_key_id)
    reset_ebs_default_kms_key_id = _delegate(ebs.reset_ebs_default_kms_key_id)

    # -- purchasing -------------------------------------------------------------------------------
    describe_spot_price_history = _delegate(spot.describe_spot_price_history)
    request_spot_instances = _delegate(spot.request_spot_instances)
    describe_spot_instance_requests = _delegate(spot.describe_spot_instance_requests)
    cancel_spot_instance_requests = _delegate(spot.cancel_spot_instance_requests)
    describe_reserved_instances_offerings = _delegate(purchasing.describe_reserved_instances_offerings)
    purchase_reserved_instances_offering = _delegate(purchasing.purchase_reserved_instances_offering)
    describe_reserved_instances = _delegate(purchasing.describe_reserved_instances)
    modify_reserved_instances = _delegate(purchasing.modify_reserved_instances)
    describe_reserved_instances_modifications = _delegate(purchasing.describe_reserved_instances_modifications)
    get_reserved_instances_exchange_quote = _delegate(purchasing.get_reserved_instances_exchange_quote)
    accept_reserved_instances_exchange_quote = _delegate(purchasing.accept_reserved_instances_exchange_quote)

    # -- launch templates ----------------------------------------------------------------------------
    create_launch_template = _delegate(launch_templates.create_launch_template)
    create_launch_template_version = _delegate(launch_templates.create_launch_template_version)
    describe_launch_templates = _delegate(launch_templates.describe_launch_templates)
    describe_launch_template_versions = _delegate(launch_templates.describe_launch_template_versions)
    modify_launch_template = _delegate(launch_templates.modify_launch_template)
    delete_launch_template = _delegate(launch_templates.delete_launch_template)
    delete_launch_template_versions = _delegate(launch_templates.delete_launch_template_versions)

    # -- dedicated hosts and capacity reservations -------------------------------------------------------
    allocate_hosts = _delegate(hosts.allocate_hosts)
    describe_hosts = _delegate(hosts.describe_hosts)
    release_hosts = _delegate(hosts.release_hosts)
    modify_hosts = _delegate(hosts.modify_hosts)
    modify_instance_placement = _delegate(hosts.modify_instance_placement)
    create_capacity_reservation = _delegate(capacity.create_capacity_reservation)
    describe_capacity_reservations = _delegate(capacity.describe_capacity_reservations)
    modify_capacity_reservation = _delegate(capacity.modify_capacity_reservation)
    cancel_capacity_reservation = _delegate(capacity.cancel_capacity_reservation)
