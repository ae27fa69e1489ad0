"""Route 53 traffic policy instances, IP-based routing (CIDR collections), geolocation
names, the InvalidChangeBatch error body and large change batches — the API through
boto3 and the AWS CLI, answers through dnspython against Nimbus's DNS server."""

from __future__ import annotations

import json
import socket
import uuid
import xml.etree.ElementTree as ET

import dns.rcode
import pytest
from botocore.exceptions import ClientError

from test_route53_dns import a, addresses, advance_and_probe, ask, change, new_zone, wait_for

GEO_ENV = dict(NIMBUS_DNS_GEO_MAP="203.0.113.0/24=DE,198.51.100.0/24=US-WA",
               NIMBUS_DNS_LATENCY_MAP="203.0.113.0/24=eu-central-1,198.51.100.0/24=us-west-2,192.0.2.0/24=eu-central-1")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def policy_doc(rules, endpoints, start="root", rtype="A"):
    return json.dumps({"AWSPolicyFormatVersion": "2015-10-01", "RecordType": rtype, "StartRule": start,
                       "Endpoints": endpoints, "Rules": rules})


def value(v):
    return {"Type": "value", "Value": v}


def tree(hc_down, bias=0):
    """geo → DE: failover (primary health-checked), US-WA: weighted, default: geoproximity."""
    endpoints = {"primary": value("192.0.2.10"), "secondary": value("192.0.2.11"), "w1": value("192.0.2.21"),
                 "w0": value("192.0.2.20"), "dublin": value("192.0.2.31"), "virginia": value("192.0.2.32")}
    rules = {
        "root": {"RuleType": "geo", "Locations": [
            {"Country": "DE", "RuleReference": "fo"},
            {"Country": "US", "Subdivision": "WA", "RuleReference": "split"},
            {"IsDefault": True, "RuleReference": "prox"}]},
        "fo": {"RuleType": "failover", "Primary": {"EndpointReference": "primary", "HealthCheck": hc_down},
               "Secondary": {"EndpointReference": "secondary"}},
        "split": {"RuleType": "weighted", "Items": [{"EndpointReference": "w1", "Weight": "1"}, {"EndpointReference": "w0", "Weight": "0"}]},
        "prox": {"RuleType": "geoproximity", "GeoproximityLocations": [
            {"EndpointReference": "dublin", "Region": "aws:route53:eu-west-1", "Bias": "0"},
            {"EndpointReference": "virginia", "Latitude": "38.9", "Longitude": "-77.4", "Bias": str(bias)}]},
    }
    return policy_doc(rules, endpoints)


def test_traffic_policy_instances_answer_every_rule(fresh_nimbus):
    server = fresh_nimbus(**GEO_ENV)
    r53 = server.client("route53")
    zone_id = new_zone(r53, "flow.test")
    hc_down = r53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
        "IPAddress": "127.0.0.1", "Port": closed_port(), "Type": "TCP", "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
    policy = r53.create_traffic_policy(Name="flow", Document=tree(hc_down))["TrafficPolicy"]
    assert policy["Version"] == 1 and policy["Type"] == "A"
    created = r53.create_traffic_policy_instance(HostedZoneId=zone_id, Name="www.flow.test", TTL=30,
                                                 TrafficPolicyId=policy["Id"], TrafficPolicyVersion=1)["TrafficPolicyInstance"]
    instance_id = created["Id"]
    assert created["State"] in ("Creating", "Applied") and created["TrafficPolicyType"] == "A"
    assert wait_for(lambda: r53.get_traffic_policy_instance(Id=instance_id)["TrafficPolicyInstance"]["State"] == "Applied")

    # geo → weighted (weight 0 gets nothing), geo default → geoproximity (nearest to the client's region)
    assert {addresses(ask(server, "www.flow.test", subnet="198.51.100.0"))[0] for _ in range(20)} == {"192.0.2.21"}
    assert addresses(ask(server, "www.flow.test", subnet="192.0.2.0")) == ["192.0.2.31"]  # eu-central-1 → Dublin
    assert addresses(ask(server, "www.flow.test")) == ["192.0.2.32"]  # default region us-east-1 → Virginia
    reply = ask(server, "www.flow.test")
    assert reply.answer[0].ttl == 30
    # geo DE → failover: primary until its health check fails, then secondary
    assert addresses(ask(server, "www.flow.test", subnet="203.0.113.0")) == ["192.0.2.10"]
    advance_and_probe(server, r53, [hc_down], 30)
    assert wait_for(lambda: addresses(ask(server, "www.flow.test", subnet="203.0.113.0")) == ["192.0.2.11"])

    # a new version with a +99 bias on Virginia expands its region over Europe
    v2 = r53.create_traffic_policy_version(Id=policy["Id"], Document=tree(hc_down, bias=99))["TrafficPolicy"]
    updated = r53.update_traffic_policy_instance(Id=instance_id, TTL=60, TrafficPolicyId=policy["Id"], TrafficPolicyVersion=v2["Version"])
    assert updated["TrafficPolicyInstance"]["TrafficPolicyVersion"] == 2
    assert wait_for(lambda: addresses(ask(server, "www.flow.test", subnet="192.0.2.0")) == ["192.0.2.32"])
    assert ask(server, "www.flow.test").answer[0].ttl == 60

    # the control plane: the instance's record, listings, counts
    rrsets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    mine = [r for r in rrsets if r["Name"] == "www.flow.test."]
    assert mine == [{"Name": "www.flow.test.", "Type": "A", "TTL": 60, "TrafficPolicyInstanceId": instance_id}]
    by_zone = r53.list_traffic_policy_instances_by_hosted_zone(HostedZoneId=zone_id)["TrafficPolicyInstances"]
    assert [i["Id"] for i in by_zone] == [instance_id]
    assert r53.list_traffic_policy_instances_by_policy(TrafficPolicyId=policy["Id"], TrafficPolicyVersion=2)["TrafficPolicyInstances"][0]["Id"] == instance_id
    assert r53.list_traffic_policy_instances_by_policy(TrafficPolicyId=policy["Id"], TrafficPolicyVersion=1)["TrafficPolicyInstances"] == []
    assert r53.get_traffic_policy_instance_count()["TrafficPolicyInstanceCount"] == 1

    # a multivalue rule under a latency rule, as a second instance (AWS CLI)
    mv = policy_doc({"root": {"RuleType": "latency", "Regions": [
        {"Region": "eu-central-1", "RuleReference": "mv"}, {"Region": "us-east-1", "EndpointReference": "us"}]},
        "mv": {"RuleType": "multivalue", "Items": [{"EndpointReference": "m1"}, {"EndpointReference": "m2", "HealthCheck": hc_down},
                                                   {"EndpointReference": "m3"}]}},
        {"us": value("192.0.2.50"), "m1": value("192.0.2.51"), "m2": value("192.0.2.52"), "m3": value("192.0.2.53")})
    out = json.loads(server.aws("route53", "create-traffic-policy", "--name", "mv", "--document", mv).stdout)
    mv_id = out["TrafficPolicy"]["Id"]
    server.aws("route53", "create-traffic-policy-instance", "--hosted-zone-id", zone_id, "--name", "api.flow.test",
               "--ttl", "10", "--traffic-policy-id", mv_id, "--traffic-policy-version", "1")
    assert wait_for(lambda: addresses(ask(server, "api.flow.test", subnet="203.0.113.0")) == ["192.0.2.51", "192.0.2.53"])
    assert addresses(ask(server, "api.flow.test")) == ["192.0.2.50"]

    # bad input: nothing changes
    with pytest.raises(ClientError) as err:
        r53.create_traffic_policy_instance(HostedZoneId=zone_id, Name="www.flow.test", TTL=30, TrafficPolicyId=policy["Id"], TrafficPolicyVersion=1)
    assert err.value.response["Error"]["Code"] == "TrafficPolicyInstanceAlreadyExists"
    with pytest.raises(ClientError) as err:
        r53.create_traffic_policy_instance(HostedZoneId=zone_id, Name="www.other.test", TTL=30, TrafficPolicyId=policy["Id"], TrafficPolicyVersion=1)
    assert err.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(ClientError) as err:
        r53.create_traffic_policy_instance(HostedZoneId=zone_id, Name="x.flow.test", TTL=30, TrafficPolicyId=policy["Id"], TrafficPolicyVersion=9)
    assert err.value.response["Error"]["Code"] == "NoSuchTrafficPolicy"
    txt = r53.create_traffic_policy(Name="txt", Document=json.dumps({"AWSPolicyFormatVersion": "2015-10-01", "RecordType": "TXT",
                                                                      "StartEndpoint": "t", "Endpoints": {"t": value('"hi"')}}))["TrafficPolicy"]
    with pytest.raises(ClientError) as err:
        r53.update_traffic_policy_instance(Id=instance_id, TTL=60, TrafficPolicyId=txt["Id"], TrafficPolicyVersion=1)
    assert err.value.response["Error"]["Code"] == "ConflictingTypes"
    with pytest.raises(ClientError) as err:  # records of an instance change only through the instance
        change(r53, zone_id, {"Name": "www.flow.test", "Type": "A", "TTL": 60, "TrafficPolicyInstanceId": instance_id}, action="DELETE")
    assert err.value.response["Error"]["Code"] == "InvalidChangeBatch" and "traffic policy instance" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        r53.delete_traffic_policy(Id=policy["Id"], Version=2)
    assert err.value.response["Error"]["Code"] == "TrafficPolicyInUse"
    with pytest.raises(ClientError) as err:
        r53.get_traffic_policy_instance(Id="nope")
    assert err.value.response["Error"]["Code"] == "NoSuchTrafficPolicyInstance"
    assert addresses(ask(server, "www.flow.test", subnet="192.0.2.0")) == ["192.0.2.32"]

    # survives a restart, then deletion removes the record and the answers
    server.stop()
    server = fresh_nimbus(data_dir=server.data_dir, **GEO_ENV)
    r53 = server.client("route53")
    assert addresses(ask(server, "www.flow.test", subnet="198.51.100.0")) == ["192.0.2.21"]
    r53.delete_traffic_policy_instance(Id=instance_id)
    assert wait_for(lambda: ask(server, "www.flow.test").rcode() == dns.rcode.NXDOMAIN)
    assert all(r["Name"] != "www.flow.test." for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"])
    r53.delete_traffic_policy(Id=policy["Id"], Version=2)


@pytest.mark.parametrize("document, problem", [
    ("{not json", "not valid JSON"),
    (json.dumps({"AWSPolicyFormatVersion": "2012-10-17", "RecordType": "A", "StartEndpoint": "e", "Endpoints": {"e": value("192.0.2.1")}}), "AWSPolicyFormatVersion"),
    (json.dumps({"AWSPolicyFormatVersion": "2015-10-01", "RecordType": "A", "StartRule": "missing", "Endpoints": {}, "Rules": {}}), "StartRule: The rule missing is not defined"),
    (policy_doc({"root": {"RuleType": "weighted", "Items": [{"EndpointReference": "nope", "Weight": "1"}]}}, {}), "root.Items[0]: The endpoint nope is not defined"),
    (policy_doc({"root": {"RuleType": "geoproximity", "GeoproximityLocations": [{"EndpointReference": "e", "Region": "aws:route53:us-east-1", "Bias": "120"}]}},
                {"e": value("192.0.2.1")}), "Bias must be an integer between -99 and 99"),
    (policy_doc({"root": {"RuleType": "geoproximity", "GeoproximityLocations": [{"EndpointReference": "e", "Latitude": "95", "Longitude": "0"}]}},
                {"e": value("192.0.2.1")}), "Latitude must be between -90 and 90"),
    (policy_doc({"root": {"RuleType": "failover", "Primary": {"EndpointReference": "e"}}}, {"e": value("192.0.2.1")}), "requires both Primary and Secondary"),
    (policy_doc({"root": {"RuleType": "weighted", "Items": [{"RuleReference": "loop", "Weight": "1"}]},
                 "loop": {"RuleType": "weighted", "Items": [{"RuleReference": "root", "Weight": "1"}]}}, {}), "loop"),
    (policy_doc({"root": {"RuleType": "latency", "Regions": [{"EndpointReference": "e", "Region": "mars-east-1"}]}}, {"e": value("192.0.2.1")}), "not a valid AWS Region"),
    (policy_doc({"root": {"RuleType": "geo", "Locations": [{"EndpointReference": "e", "Country": "ZZ"}]}}, {"e": value("192.0.2.1")}), "not a valid country code"),
    (policy_doc({"root": {"RuleType": "multivalue", "Items": [{"EndpointReference": "e", "HealthCheck": "no-such-check"}]}}, {"e": value("192.0.2.1")}), "health check no-such-check does not exist"),
    (policy_doc({"root": {"RuleType": "roundrobin", "Items": []}}, {}), "RuleType 'roundrobin'"),
    (policy_doc({"root": {"RuleType": "weighted", "Items": [{"EndpointReference": "e", "Weight": "1"}]}}, {"e": value("not-an-ip")}), "is not a valid A value"),
])
def test_invalid_traffic_policy_documents(nimbus, document, problem):
    r53 = nimbus.client("route53")
    before = r53.list_traffic_policies()["TrafficPolicySummaries"]
    with pytest.raises(ClientError) as err:
        r53.create_traffic_policy(Name=f"bad-{uuid.uuid4().hex[:8]}", Document=document)
    assert err.value.response["Error"]["Code"] == "InvalidTrafficPolicyDocument"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert problem in err.value.response["Error"]["Message"]
    assert r53.list_traffic_policies()["TrafficPolicySummaries"] == before


def test_cidr_collections_and_ip_based_routing(nimbus):
    r53 = nimbus.client("route53")
    name = f"offices-{uuid.uuid4().hex[:6]}"
    created = r53.create_cidr_collection(Name=name, CallerReference=str(uuid.uuid4()))["Collection"]
    cid = created["Id"]
    assert created["Version"] == 1 and created["Arn"] == f"arn:aws:route53:::cidrcollection/{cid}"
    with pytest.raises(ClientError) as err:
        r53.create_cidr_collection(Name=name, CallerReference=str(uuid.uuid4()))
    assert err.value.response["Error"]["Code"] == "CidrCollectionAlreadyExistsException"
    change_id = r53.change_cidr_collection(Id=cid, CollectionVersion=1, Changes=[
        {"LocationName": "europe", "Action": "PUT", "CidrList": ["203.0.113.0/24", "2001:db8::/48"]},
        {"LocationName": "local", "Action": "PUT", "CidrList": ["127.0.0.0/24"]},
        {"LocationName": "wide", "Action": "PUT", "CidrList": ["203.0.0.0/16"]}])["Id"]
    assert r53.get_change(Id=change_id)["ChangeInfo"]["Id"].endswith(change_id)
    for bad, code in [
        (dict(CollectionVersion=1, Changes=[{"LocationName": "x", "Action": "PUT", "CidrList": ["10.0.0.0/8"]}]), "CidrCollectionVersionMismatchException"),
        (dict(Changes=[{"LocationName": "x", "Action": "PUT", "CidrList": ["10.0.0.1/8"]}]), "InvalidInput"),
        (dict(Changes=[{"LocationName": "x", "Action": "PUT", "CidrList": ["10.0.0.0/30"]}]), "InvalidInput"),
        (dict(Changes=[{"LocationName": "bad name!", "Action": "PUT", "CidrList": ["10.0.0.0/8"]}]), "InvalidInput"),
    ]:
        with pytest.raises(ClientError) as err:
            r53.change_cidr_collection(Id=cid, **bad)
        assert err.value.response["Error"]["Code"] == code, bad
    assert [c["Version"] for c in r53.list_cidr_collections()["CidrCollections"] if c["Id"] == cid] == [2]
    assert [l["LocationName"] for l in r53.list_cidr_locations(CollectionId=cid)["CidrLocations"]] == ["europe", "local", "wide"]
    blocks = r53.list_cidr_blocks(CollectionId=cid, LocationName="europe")["CidrBlocks"]
    assert blocks == [{"CidrBlock": "203.0.113.0/24", "LocationName": "europe"}, {"CidrBlock": "2001:db8::/48", "LocationName": "europe"}]
    page = r53.list_cidr_blocks(CollectionId=cid, MaxResults="2")
    assert len(page["CidrBlocks"]) == 2 and r53.list_cidr_blocks(CollectionId=cid, NextToken=page["NextToken"])["CidrBlocks"][0]["LocationName"] == "local"
    with pytest.raises(ClientError) as err:
        r53.list_cidr_blocks(CollectionId=cid, LocationName="mars")
    assert err.value.response["Error"]["Code"] == "NoSuchCidrLocationException"
    with pytest.raises(ClientError) as err:
        r53.list_cidr_locations(CollectionId=str(uuid.uuid4()))
    assert err.value.response["Error"]["Code"] == "NoSuchCidrCollectionException"

    zone_id = new_zone(r53, "cidr.test")

    def rec(ip, loc):
        return a("ip.cidr.test", ip, SetIdentifier=loc.strip("*") or "default", CidrRoutingConfig={"CollectionId": cid, "LocationName": loc})

    change(r53, zone_id, rec("192.0.2.1", "europe"), rec("192.0.2.2", "local"), rec("192.0.2.3", "wide"), rec("192.0.2.9", "*"))
    assert addresses(ask(nimbus, "ip.cidr.test", subnet="203.0.113.0")) == ["192.0.2.1"]  # longest match wins over /16
    assert addresses(ask(nimbus, "ip.cidr.test", subnet="203.0.7.0")) == ["192.0.2.3"]
    assert addresses(ask(nimbus, "ip.cidr.test")) == ["192.0.2.2"]  # the packet's source, 127.0.0.1
    assert addresses(ask(nimbus, "ip.cidr.test", subnet="198.18.0.0")) == ["192.0.2.9"]  # default location
    answer = r53.test_dns_answer(HostedZoneId=zone_id, RecordName="ip.cidr.test", RecordType="A", EDNS0ClientSubnetIP="203.0.113.9")
    assert answer["RecordData"] == ["192.0.2.1"]

    for rrsets, text in [([rec("192.0.2.4", "mars")], "references the location mars"),
                         ([a("ip2.cidr.test", "192.0.2.4", SetIdentifier="x", CidrRoutingConfig={"CollectionId": str(uuid.uuid4()), "LocationName": "*"})], "does not exist"),
                         ([a("ip.cidr.test", "192.0.2.5", SetIdentifier="again", CidrRoutingConfig={"CollectionId": cid, "LocationName": "europe"})], "CIDR location exists")]:
        with pytest.raises(ClientError) as err:
            change(r53, zone_id, *rrsets)
        assert err.value.response["Error"]["Code"] == "InvalidChangeBatch" and text in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:  # the last block of a location records use
        r53.change_cidr_collection(Id=cid, Changes=[{"LocationName": "local", "Action": "DELETE_IF_EXISTS", "CidrList": ["127.0.0.0/24"]}])
    assert err.value.response["Error"]["Code"] == "CidrBlockInUseException"
    with pytest.raises(ClientError) as err:
        r53.delete_cidr_collection(Id=cid)
    assert err.value.response["Error"]["Code"] == "CidrCollectionInUseException"

    # once no record uses "wide", its block can move to "europe": the answer follows
    change(r53, zone_id, rec("192.0.2.3", "wide"), action="DELETE")
    r53.change_cidr_collection(Id=cid, Changes=[{"LocationName": "wide", "Action": "DELETE_IF_EXISTS", "CidrList": ["203.0.0.0/16"]},
                                                {"LocationName": "europe", "Action": "PUT", "CidrList": ["203.0.0.0/16"]}])
    assert wait_for(lambda: addresses(ask(nimbus, "ip.cidr.test", subnet="203.0.7.0")) == ["192.0.2.1"])
    assert "wide" not in [l["LocationName"] for l in r53.list_cidr_locations(CollectionId=cid)["CidrLocations"]]
    change(r53, zone_id, rec("192.0.2.1", "europe"), rec("192.0.2.2", "local"), rec("192.0.2.9", "*"), action="DELETE")
    r53.delete_cidr_collection(Id=cid)
    assert cid not in [c["Id"] for c in r53.list_cidr_collections()["CidrCollections"]]


def test_geo_locations(nimbus):
    r53 = nimbus.client("route53")
    assert r53.get_geo_location(ContinentCode="EU")["GeoLocationDetails"] == {"ContinentCode": "EU", "ContinentName": "Europe"}
    assert r53.get_geo_location(CountryCode="DE")["GeoLocationDetails"] == {"CountryCode": "DE", "CountryName": "Germany"}
    assert r53.get_geo_location(CountryCode="*")["GeoLocationDetails"]["CountryName"] == "Default"
    wa = r53.get_geo_location(CountryCode="US", SubdivisionCode="WA")["GeoLocationDetails"]
    assert wa["SubdivisionName"] == "Washington" and wa["CountryName"] == "United States"
    for bad in [dict(CountryCode="ZZ"), dict(ContinentCode="XX"), dict(CountryCode="DE", SubdivisionCode="BY")]:
        with pytest.raises(ClientError) as err:
            r53.get_geo_location(**bad)
        assert err.value.response["Error"]["Code"] == "NoSuchGeoLocation", bad
    with pytest.raises(ClientError) as err:
        r53.get_geo_location(ContinentCode="EU", CountryCode="DE")
    assert err.value.response["Error"]["Code"] == "InvalidInput"
    first = r53.list_geo_locations(MaxItems="8")
    assert [d.get("ContinentCode") or d.get("CountryCode") for d in first["GeoLocationDetailsList"]] == ["AF", "AN", "AS", "EU", "NA", "OC", "SA", "*"]
    assert first["IsTruncated"] and first["NextCountryCode"] == "AD"
    everything, kwargs = [], {}
    while True:
        page = r53.list_geo_locations(MaxItems="100", **kwargs)
        everything += page["GeoLocationDetailsList"]
        if not page["IsTruncated"]:
            break
        kwargs = {k: page[n] for k, n in (("StartContinentCode", "NextContinentCode"), ("StartCountryCode", "NextCountryCode"),
                                           ("StartSubdivisionCode", "NextSubdivisionCode")) if n in page}
    assert len(everything) == 7 + 1 + 250 + 51
    us = [d for d in everything if d.get("CountryCode") == "US"]
    assert "SubdivisionCode" not in us[0] and us[1]["SubdivisionCode"] == "AK"


def test_invalid_change_batch_body_lists_every_message(nimbus):
    r53 = nimbus.client("route53")
    zone_id = new_zone(r53, "body.test")
    change(r53, zone_id, a("dup.body.test", "192.0.2.1"))
    bodies = []
    r53.meta.events.register("after-call.route53.ChangeResourceRecordSets", lambda http_response, **kw: bodies.append(http_response.content))
    with pytest.raises(ClientError) as err:
        change(r53, zone_id, a("dup.body.test", "192.0.2.1"), a("x.elsewhere.test", "192.0.2.2"))
    error = err.value.response["Error"]
    assert error["Code"] == "InvalidChangeBatch" and err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    root = ET.fromstring(bodies[-1])
    ns = {"r": "https://route53.amazonaws.com/doc/2013-04-01/"}
    assert root.tag == "{https://route53.amazonaws.com/doc/2013-04-01/}ErrorResponse"
    assert root.findtext("r:Error/r:Code", namespaces=ns) == "InvalidChangeBatch"
    messages = [m.text for m in root.findall("r:Error/r:messages/r:Message", ns)]
    assert messages == ["Tried to create resource record set [name='dup.body.test.', type='A'] but it already exists",
                        "RRSet with DNS name x.elsewhere.test. is not permitted in zone body.test."]
    assert root.findtext("r:Error/r:Message", namespaces=ns) == "[" + ", ".join(messages) + "]" == error["Message"]
    assert root.findtext("r:RequestId", namespaces=ns) == err.value.response["ResponseMetadata"]["RequestId"]


def test_rest_xml_modeled_error_members_are_serialized_from_the_model():
    import botocore.session
    from botocore.parsers import create_parser

    from nimbus.errors import ServiceError
    from nimbus.protocol.rest import RestXmlProtocol

    model = botocore.session.get_session().get_service_model("route53")
    proto = RestXmlProtocol()
    plain = proto.serialize_error(model, ServiceError("NoSuchHostedZone", "gone"), "rid-1")
    with_fields = proto.serialize_error(model, ServiceError("InvalidChangeBatch", "[a & b, c]", fields={"messages": ["a & b", "c"]}), "rid-2")
    assert b"<messages>" not in plain.body
    assert b"<messages><Message>a &amp; b</Message><Message>c</Message></messages></Error>" in with_fields.body
    parsed = create_parser("rest-xml").parse({"status_code": 400, "headers": {}, "body": with_fields.body},
                                             model.operation_model("ChangeResourceRecordSets").output_shape)
    assert parsed["Error"]["Code"] == "InvalidChangeBatch" and parsed["Error"]["Message"] == "[a & b, c]"
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-2"
    unmodeled = proto.serialize_error(model, ServiceError("Throttling", "slow down", 400, fields={"RetryAfter": 3}), "rid-3")
    assert b"<RetryAfter>3</RetryAfter>" in unmodeled.body


def test_large_change_batch_is_applied_and_listed(nimbus):
    r53 = nimbus.client("route53")
    zone_id = new_zone(r53, "large.test")
    batch = [a(f"r{i}.large.test", f"198.51.{i // 250}.{i % 250 + 1}") for i in range(1000)]
    change(r53, zone_id, *batch)
    assert r53.get_hosted_zone(Id=zone_id)["HostedZone"]["ResourceRecordSetCount"] == 1002
    assert addresses(ask(nimbus, "r999.large.test")) == ["198.51.3.250"]
    # one bad change among 1,000 rejects the whole batch with its message
    batch = [a(f"s{i}.large.test", "192.0.2.1") for i in range(999)] + [a("r5.large.test", "192.0.2.1")]
    with pytest.raises(ClientError) as err:
        change(r53, zone_id, *batch)
    assert "[name='r5.large.test.', type='A'] but it already exists" in err.value.response["Error"]["Message"]
    assert ask(nimbus, "s0.large.test").rcode() == dns.rcode.NXDOMAIN
