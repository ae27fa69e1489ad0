"""EC2 purchasing: dedicated hosts and tenancy, capacity reservations, RI modification and exchange."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _code(e):
    return e.value.response["Error"]["Code"]


def _ami(nimbus, region):
    return nimbus.client("ssm", region=region).get_parameter(Name=AL2023)["Parameter"]["Value"]


def _instance(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def _host(ec2, host_id):
    return ec2.describe_hosts(HostIds=[host_id])["Hosts"][0]


def test_dedicated_hosts_capacity_placement_and_affinity(nimbus):
    region = "ap-south-1"
    ec2 = nimbus.client("ec2", region=region)
    ami = _ami(nimbus, region)
    zone = f"{region}a"
    typed = ec2.allocate_hosts(AvailabilityZone=zone, InstanceType="m5.large", Quantity=1, AutoPlacement="off",
                               TagSpecifications=[{"ResourceType": "dedicated-host", "Tags": [{"Key": "pool", "Value": "typed"}]}])["HostIds"]
    family = ec2.allocate_hosts(AvailabilityZone=zone, InstanceFamily="c5", Quantity=1, AutoPlacement="on")["HostIds"]
    host = _host(ec2, typed[0])
    assert host["State"] == "available" and host["HostProperties"]["InstanceType"] == "m5.large"
    assert host["HostProperties"]["TotalVCpus"] == 96 and host["AllowsMultipleInstanceTypes"] == "off"
    # an m5 host holds 96 vCPUs: 48 m5.large
    assert host["AvailableCapacity"]["AvailableInstanceCapacity"] == [{"AvailableCapacity": 48, "InstanceType": "m5.large", "TotalCapacity": 48}]
    mixed = _host(ec2, family[0])
    sizes = {c["InstanceType"]: c["TotalCapacity"] for c in mixed["AvailableCapacity"]["AvailableInstanceCapacity"]}
    assert sizes["c5.large"] == 48 and sizes["c5.24xlarge"] == 1 and mixed["AllowsMultipleInstanceTypes"] == "on"

    # placement on a named host, affinity host
    on_host = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=2, MaxCount=2,
                                Placement={"Tenancy": "host", "HostId": typed[0], "Affinity": "host"})["Instances"]
    assert {i["Placement"]["HostId"] for i in on_host} == {typed[0]} and on_host[0]["Placement"]["Tenancy"] == "host"
    assert on_host[0]["Placement"]["Affinity"] == "host"
    host = _host(ec2, typed[0])
    assert {i["InstanceId"] for i in host["Instances"]} == {i["InstanceId"] for i in on_host}
    assert host["AvailableCapacity"]["AvailableInstanceCapacity"][0]["AvailableCapacity"] == 46
    # auto placement: no host id, tenancy host → the c5 family host (auto-placement on); mixing sizes by vCPU
    big = ec2.run_instances(ImageId=ami, InstanceType="c5.12xlarge", MinCount=1, MaxCount=1, Placement={"Tenancy": "host", "AvailabilityZone": zone})["Instances"][0]
    assert big["Placement"]["HostId"] == family[0]
    mixed = _host(ec2, family[0])
    assert mixed["AvailableCapacity"]["AvailableVCpus"] == 48
    assert {c["InstanceType"]: c["AvailableCapacity"] for c in mixed["AvailableCapacity"]["AvailableInstanceCapacity"]}["c5.24xlarge"] == 0
    filtered = ec2.describe_hosts(Filter=[{"Name": "tag:pool", "Values": ["typed"]}])["Hosts"]
    assert [h["HostId"] for h in filtered] == typed
    assert [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "host-id", "Values": [family[0]]}])["Reservations"]
            for i in r["Instances"]] == [big["InstanceId"]]

    # bad placements change nothing
    for kwargs, code in (
        ({"InstanceType": "m5.xlarge", "Placement": {"Tenancy": "host", "HostId": typed[0]}}, "InvalidParameterValue"),
        ({"InstanceType": "c5.24xlarge", "Placement": {"Tenancy": "host", "HostId": family[0]}}, "InsufficientHostCapacity"),
        ({"InstanceType": "r5.large", "Placement": {"Tenancy": "host", "AvailabilityZone": zone}}, "InsufficientHostCapacity"),
        ({"InstanceType": "m5.large", "Placement": {"Tenancy": "host", "HostId": "h-123"}}, "InvalidHostID.Malformed"),
        ({"InstanceType": "m5.large", "Placement": {"Tenancy": "host", "HostId": "h-0123456789abcdef0"}}, "InvalidHostID.NotFound"),
        ({"InstanceType": "m5.large", "Placement": {"Tenancy": "default", "Affinity": "host"}}, "InvalidParameterCombination"),
    ):
        with pytest.raises(ClientError) as e:
            ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, **kwargs)
        assert _code(e) == code, kwargs
    assert _host(ec2, family[0])["AvailableCapacity"]["AvailableVCpus"] == 48

    # stop frees the slot; affinity host restarts on the same host; release refused while occupied
    first = on_host[0]["InstanceId"]
    nimbus.advance_clock(10)
    ec2.stop_instances(InstanceIds=[first])
    assert len(_host(ec2, typed[0])["Instances"]) == 1
    nimbus.advance_clock(10)
    ec2.start_instances(InstanceIds=[first])
    assert _instance(ec2, first)["Placement"]["HostId"] == typed[0] and len(_host(ec2, typed[0])["Instances"]) == 2
    released = ec2.release_hosts(HostIds=[typed[0], "h-0123456789abcdef0"])
    assert released["Successful"] == []
    assert {u["ResourceId"]: u["Error"]["Code"] for u in released["Unsuccessful"]} == {
        typed[0]: "Client.InvalidHost.Occupied", "h-0123456789abcdef0": "Client.InvalidHostID.NotFound"}
    modified = ec2.modify_hosts(HostIds=[typed[0]], AutoPlacement="on")
    assert modified["Successful"] == [typed[0]] and _host(ec2, typed[0])["AutoPlacement"] == "on"
    refused = ec2.modify_hosts(HostIds=[typed[0]], InstanceType="m5.xlarge")
    assert refused["Unsuccessful"][0]["Error"]["Code"] == "Client.InvalidHost.Occupied"

    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in on_host] + [big["InstanceId"]])
    assert _host(ec2, typed[0])["Instances"] == []
    assert ec2.modify_hosts(HostIds=[typed[0]], InstanceType="m5.xlarge")["Successful"] == [typed[0]]
    assert _host(ec2, typed[0])["AvailableCapacity"]["AvailableInstanceCapacity"][0] == {
        "AvailableCapacity": 24, "InstanceType": "m5.xlarge", "TotalCapacity": 24}
    out = json.loads(nimbus.aws("ec2", "release-hosts", "--host-ids", typed[0], family[0], region=region).stdout)
    assert sorted(out["Successful"]) == sorted(typed + family)
    assert {h["State"] for h in ec2.describe_hosts(HostIds=typed + family)["Hosts"]} == {"released"}

    for kwargs, code in (({"AvailabilityZone": "ap-south-1z", "InstanceType": "m5.large"}, "InvalidParameterValue"),
                         ({"AvailabilityZone": zone, "InstanceType": "t3.micro"}, "InvalidParameterValue"),
                         ({"AvailabilityZone": zone, "InstanceType": "m5.large", "InstanceFamily": "m5"}, "InvalidParameterCombination"),
                         ({"AvailabilityZone": zone, "InstanceType": "m5.large", "Quantity": 0}, "InvalidParameterValue")):
        with pytest.raises(ClientError) as e:
            ec2.allocate_hosts(**kwargs)
        assert _code(e) == code, kwargs
    with pytest.raises(ClientError) as e:
        ec2.describe_hosts(HostIds=["host-1"])
    assert _code(e) == "InvalidHostID.Malformed"


def test_dedicated_tenancy_and_placement_changes(nimbus):
    region = "ap-south-1"
    ec2 = nimbus.client("ec2", region=region)
    ami = _ami(nimbus, region)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", InstanceTenancy="dedicated")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.0.0/24", AvailabilityZone=f"{region}b")["Subnet"]["SubnetId"]
    inst = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    assert inst["Placement"]["Tenancy"] == "dedicated"  # the VPC's tenancy wins
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet)
    assert _code(e) == "InvalidParameterCombination"
    shared = ec2.run_instances(ImageId=ami, InstanceType="c5.large", MinCount=1, MaxCount=1, Placement={"Tenancy": "dedicated"})["Instances"][0]
    assert shared["Placement"]["Tenancy"] == "dedicated"
    assert [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "tenancy", "Values": ["dedicated"]},
                                                                     {"Name": "vpc-id", "Values": [vpc]}])["Reservations"]
            for i in r["Instances"]] == [inst["InstanceId"]]

    # ModifyInstancePlacement: only while stopped; dedicated → a host
    host_id = ec2.allocate_hosts(AvailabilityZone=f"{region}b", InstanceType="m5.large", Quantity=1)["HostIds"][0]
    with pytest.raises(ClientError) as e:
        ec2.modify_instance_placement(InstanceId=inst["InstanceId"], Tenancy="host", HostId=host_id)
    assert _code(e) == "IncorrectInstanceState"
    nimbus.advance_clock(10)
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    nimbus.advance_clock(10)
    assert ec2.modify_instance_placement(InstanceId=inst["InstanceId"], Tenancy="host", HostId=host_id, Affinity="host")["Return"]
    ec2.start_instances(InstanceIds=[inst["InstanceId"]])
    moved = _instance(ec2, inst["InstanceId"])
    assert moved["Placement"]["Tenancy"] == "host" and moved["Placement"]["HostId"] == host_id
    assert [i["InstanceId"] for i in _host(ec2, host_id)["Instances"]] == [inst["InstanceId"]]


def test_capacity_reservations_consumed_by_launches(nimbus):
    region = "ap-northeast-2"
    ec2 = nimbus.client("ec2", region=region)
    ami = _ami(nimbus, region)
    zone = f"{region}a"
    # a running instance that matches is taken into a new open reservation
    early = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone})["Instances"][0]
    open_cr = ec2.create_capacity_reservation(InstanceType="m5.large", InstancePlatform="Linux/UNIX", AvailabilityZone=zone,
                                              InstanceCount=3, TagSpecifications=[{"ResourceType": "capacity-reservation",
                                                                                   "Tags": [{"Key": "kind", "Value": "open"}]}])["CapacityReservation"]
    cr_id = open_cr["CapacityReservationId"]
    assert cr_id.startswith("cr-") and open_cr["State"] == "active" and open_cr["InstanceMatchCriteria"] == "open"
    assert open_cr["TotalInstanceCount"] == 3 and open_cr["AvailableInstanceCount"] == 2
    assert _instance(ec2, early["InstanceId"])["CapacityReservationId"] == cr_id

    launched = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=3, MaxCount=3, Placement={"AvailabilityZone": zone})["Instances"]
    assert [i.get("CapacityReservationId") for i in launched] == [cr_id, cr_id, None]  # the third runs as plain On-Demand
    assert ec2.describe_capacity_reservations(CapacityReservationIds=[cr_id])["CapacityReservations"][0]["AvailableInstanceCount"] == 0
    opted_out = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone},
                                  CapacityReservationSpecification={"CapacityReservationPreference": "none"})["Instances"][0]
    assert "CapacityReservationId" not in opted_out
    assert opted_out["CapacityReservationSpecification"] == {"CapacityReservationPreference": "none"}

    # targeted: only instances that target it; capacity exceeded refused whole
    targeted = ec2.create_capacity_reservation(InstanceType="c5.large", InstancePlatform="Linux/UNIX", AvailabilityZone=zone,
                                               InstanceCount=2, InstanceMatchCriteria="targeted", EndDateType="limited",
                                               EndDate=nimbus.now() + timedelta(days=1))["CapacityReservation"]
    t_id = targeted["CapacityReservationId"]
    plain = ec2.run_instances(ImageId=ami, InstanceType="c5.large", MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone})["Instances"][0]
    assert "CapacityReservationId" not in plain
    spec = {"CapacityReservationTarget": {"CapacityReservationId": t_id}}
    before = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
    for kwargs, code in (({"MinCount": 3, "MaxCount": 3, "InstanceType": "c5.large"}, "ReservationCapacityExceeded"),
                         ({"MinCount": 1, "MaxCount": 1, "InstanceType": "c5.xlarge"}, "InvalidParameterCombination")):
        with pytest.raises(ClientError) as e:
            ec2.run_instances(ImageId=ami, Placement={"AvailabilityZone": zone}, CapacityReservationSpecification=spec, **kwargs)
        assert _code(e) == code
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=ami, InstanceType="c5.large", MinCount=1, MaxCount=1,
                          CapacityReservationSpecification={"CapacityReservationTarget": {"CapacityReservationId": "cr-0123456789abcdef0"}})
    assert _code(e) == "InvalidCapacityReservationId.NotFound"
    assert sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]) == before
    in_target = ec2.run_instances(ImageId=ami, InstanceType="c5.large", MinCount=2, MaxCount=2, Placement={"AvailabilityZone": zone},
                                  CapacityReservationSpecification=spec)["Instances"]
    assert {i["CapacityReservationId"] for i in in_target} == {t_id}
    assert in_target[0]["CapacityReservationSpecification"] == spec

    # stop gives the slot back; start takes it again
    nimbus.advance_clock(10)
    ec2.stop_instances(InstanceIds=[in_target[0]["InstanceId"]])
    assert ec2.describe_capacity_reservations(CapacityReservationIds=[t_id])["CapacityReservations"][0]["AvailableInstanceCount"] == 1
    nimbus.advance_clock(10)
    ec2.start_instances(InstanceIds=[in_target[0]["InstanceId"]])
    assert _instance(ec2, in_target[0]["InstanceId"])["CapacityReservationId"] == t_id

    # modify: below what runs is refused; more capacity, then cancel; expiry on the clock
    with pytest.raises(ClientError) as e:
        ec2.modify_capacity_reservation(CapacityReservationId=t_id, InstanceCount=1)
    assert _code(e) == "InvalidParameterValue"
    assert ec2.modify_capacity_reservation(CapacityReservationId=t_id, InstanceCount=4)["Return"]
    got = ec2.describe_capacity_reservations(Filters=[{"Name": "instance-match-criteria", "Values": ["targeted"]}])["CapacityReservations"]
    assert [(c["CapacityReservationId"], c["TotalInstanceCount"], c["AvailableInstanceCount"]) for c in got] == [(t_id, 4, 2)]
    nimbus.advance_clock(2 * 86400)
    assert ec2.describe_capacity_reservations(CapacityReservationIds=[t_id])["CapacityReservations"][0]["State"] == "expired"
    with pytest.raises(ClientError) as e:
        ec2.cancel_capacity_reservation(CapacityReservationId=t_id)
    assert _code(e) == "IncorrectState"
    out = json.loads(nimbus.aws("ec2", "cancel-capacity-reservation", "--capacity-reservation-id", cr_id, region=region).stdout)
    assert out["Return"] is True
    assert ec2.describe_capacity_reservations(CapacityReservationIds=[cr_id])["CapacityReservations"][0]["State"] == "cancelled"
    assert "CapacityReservationId" not in _instance(ec2, early["InstanceId"])  # it keeps running On-Demand
    with pytest.raises(ClientError) as e:
        ec2.describe_capacity_reservations(CapacityReservationIds=["cr-1"])
    assert _code(e) == "InvalidCapacityReservationId.Malformed"
    with pytest.raises(ClientError) as e:
        ec2.create_capacity_reservation(InstanceType="m5.large", InstancePlatform="Linux/UNIX", AvailabilityZone=zone, InstanceCount=1,
                                        EndDateType="limited")
    assert _code(e) == "InvalidParameterCombination"


def _buy(ec2, instance_type, offering_class, payment="No Upfront", years=1, count=1):
    offers = ec2.describe_reserved_instances_offerings(InstanceType=instance_type, ProductDescription="Linux/UNIX",
                                                       OfferingClass=offering_class, OfferingType=payment)["ReservedInstancesOfferings"]
    offer = next(o for o in offers if o["Duration"] == years * 31536000)
    return ec2.purchase_reserved_instances_offering(ReservedInstancesOfferingId=offer["ReservedInstancesOfferingId"],
                                                    InstanceCount=count)["ReservedInstancesId"], offer


def _offer(ec2, instance_type, payment="No Upfront", years=1, offering_class="convertible"):
    offers = ec2.describe_reserved_instances_offerings(InstanceType=instance_type, ProductDescription="Linux/UNIX",
                                                       OfferingClass=offering_class, OfferingType=payment)["ReservedInstancesOfferings"]
    return next(o for o in offers if o["Duration"] == years * 31536000)


def test_reserved_instances_modify_by_footprint(nimbus):
    region = "ca-central-1"
    ec2 = nimbus.client("ec2", region=region)
    ri, _ = _buy(ec2, "m5.xlarge", "standard", "All Upfront", count=2)  # footprint 2 × 8 = 16
    with pytest.raises(ClientError) as e:  # 3 × large = 12 ≠ 16
        ec2.modify_reserved_instances(ReservedInstancesIds=[ri], TargetConfigurations=[{"InstanceType": "m5.large", "InstanceCount": 3}])
    assert _code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.modify_reserved_instances(ReservedInstancesIds=[ri], TargetConfigurations=[{"InstanceType": "c5.xlarge", "InstanceCount": 2}])
    assert _code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.modify_reserved_instances(ReservedInstancesIds=["11111111-2222-3333-4444-555555555555"],
                                      TargetConfigurations=[{"InstanceType": "m5.large", "InstanceCount": 4}])
    assert _code(e) == "InvalidReservedInstancesId"
    assert ec2.describe_reserved_instances(ReservedInstancesIds=[ri])["ReservedInstances"][0]["State"] == "active"

    mod_id = ec2.modify_reserved_instances(ReservedInstancesIds=[ri], TargetConfigurations=[
        {"InstanceType": "m5.large", "InstanceCount": 2, "Scope": "Region"},
        {"InstanceType": "m5.xlarge", "InstanceCount": 1, "AvailabilityZone": f"{region}a", "Scope": "Availability Zone"}])["ReservedInstancesModificationId"]
    mod = ec2.describe_reserved_instances_modifications(ReservedInstancesModificationIds=[mod_id])["ReservedInstancesModifications"][0]
    assert mod["Status"] == "processing" and [r["ReservedInstancesId"] for r in mod["ReservedInstancesIds"]] == [ri]
    new_ids = [r["ReservedInstancesId"] for r in mod["ModificationResults"]]
    with pytest.raises(ClientError) as e:  # already being modified
        ec2.modify_reserved_instances(ReservedInstancesIds=[ri], TargetConfigurations=[{"InstanceType": "m5.large", "InstanceCount": 4}])
    assert _code(e) == "InvalidParameterValue"
    nimbus.advance_clock(120)
    mod = ec2.describe_reserved_instances_modifications(Filters=[{"Name": "status", "Values": ["fulfilled"]}])["ReservedInstancesModifications"]
    assert [m["ReservedInstancesModificationId"] for m in mod] == [mod_id]
    states = {r["ReservedInstancesId"]: r for r in ec2.describe_reserved_instances()["ReservedInstances"]}
    assert states[ri]["State"] == "retired"
    assert {(states[i]["InstanceType"], states[i]["InstanceCount"], states[i]["State"], states[i].get("AvailabilityZone")) for i in new_ids} == {
        ("m5.large", 2, "active", None), ("m5.xlarge", 1, "active", f"{region}a")}
    assert all(states[i]["End"] == states[ri]["End"] for i in new_ids)


def test_convertible_exchange_quote_and_accept(nimbus):
    region = "eu-north-1"
    ec2 = nimbus.client("ec2", region=region)
    ri, bought = _buy(ec2, "m5.large", "convertible", "Partial Upfront")
    standard, _ = _buy(ec2, "m5.large", "standard")
    nimbus.advance_clock(30 * 86400)
    bigger = _offer(ec2, "m5.xlarge", "Partial Upfront")
    quote = ec2.get_reserved_instances_exchange_quote(ReservedInstanceIds=[ri], TargetConfigurations=[
        {"OfferingId": bigger["ReservedInstancesOfferingId"], "InstanceCount": 1}])
    assert quote["IsValidExchange"] is True and quote["CurrencyCode"] == "USD"
    source = float(quote["ReservedInstanceValueRollup"]["RemainingTotalValue"])
    target = float(quote["TargetConfigurationValueRollup"]["RemainingTotalValue"])
    assert target >= source > 0
    # the remaining value is the unused part of the term, priced from the one price table
    remaining = (365 - 30) / 365
    hourly = bought["RecurringCharges"][0]["Amount"]
    expected = bought["FixedPrice"] * remaining + hourly * (365 - 30) * 24
    assert abs(source - expected) < 0.05
    due = float(quote["PaymentDue"])
    assert abs(due - (float(quote["TargetConfigurationValueRollup"]["RemainingUpfrontValue"])
                      - float(quote["ReservedInstanceValueRollup"]["RemainingUpfrontValue"]))) < 0.02
    end = ec2.describe_reserved_instances(ReservedInstancesIds=[ri])["ReservedInstances"][0]["End"]
    assert quote["OutputReservedInstancesWillExpireAt"] == end  # same term: the original end date

    # lower value, a standard RI, a standard target: not valid
    smaller = _offer(ec2, "m5.large", "No Upfront")
    low = ec2.get_reserved_instances_exchange_quote(ReservedInstanceIds=[ri], TargetConfigurations=[
        {"OfferingId": _offer(ec2, "t3.nano")["ReservedInstancesOfferingId"], "InstanceCount": 1}])
    assert low["IsValidExchange"] is False and "lower" in low["ValidationFailureReason"]
    not_convertible = ec2.get_reserved_instances_exchange_quote(ReservedInstanceIds=[standard], TargetConfigurations=[
        {"OfferingId": smaller["ReservedInstancesOfferingId"], "InstanceCount": 1}])
    assert not_convertible["IsValidExchange"] is False and "Convertible" in not_convertible["ValidationFailureReason"]
    with pytest.raises(ClientError) as e:
        ec2.accept_reserved_instances_exchange_quote(ReservedInstanceIds=[ri], TargetConfigurations=[
            {"OfferingId": _offer(ec2, "t3.nano")["ReservedInstancesOfferingId"], "InstanceCount": 1}])
    assert _code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.get_reserved_instances_exchange_quote(ReservedInstanceIds=[ri], TargetConfigurations=[
            {"OfferingId": "00000000-0000-0000-0000-000000000000", "InstanceCount": 1}])
    assert _code(e) == "InvalidReservedInstancesOfferingId"
    assert ec2.describe_reserved_instances(ReservedInstancesIds=[ri])["ReservedInstances"][0]["State"] == "active"

    # 1 year → 3 years: a new term from now
    three = _offer(ec2, "m5.large", "No Upfront", years=3)
    longer = ec2.get_reserved_instances_exchange_quote(ReservedInstanceIds=[ri], TargetConfigurations=[
        {"OfferingId": three["ReservedInstancesOfferingId"], "InstanceCount": 1}])
    assert longer["OutputReservedInstancesWillExpireAt"] > end + timedelta(days=365)

    exchange = ec2.accept_reserved_instances_exchange_quote(ReservedInstanceIds=[ri], TargetConfigurations=[
        {"OfferingId": bigger["ReservedInstancesOfferingId"], "InstanceCount": 1}])
    assert exchange["ExchangeId"].startswith("riex-")
    after = ec2.describe_reserved_instances(Filters=[{"Name": "state", "Values": ["active"]}])["ReservedInstances"]
    new = [r for r in after if r["InstanceType"] == "m5.xlarge"]
    assert len(new) == 1 and new[0]["OfferingClass"] == "convertible" and new[0]["End"] == end
    assert ec2.describe_reserved_instances(ReservedInstancesIds=[ri])["ReservedInstances"][0]["State"] == "retired"
