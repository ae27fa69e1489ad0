"""Route 53 end to end: the API through boto3 and the AWS CLI, answers through dnspython
against Nimbus's own DNS server, health checks probing real local web servers."""

from __future__ import annotations

import collections
import http.server
import json
import socket
import threading
import time
import uuid

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from botocore.exceptions import ClientError


def dns_port(server) -> int:
    return int(server.health()["dns"].rsplit(":", 1)[1])


def ask(server, name, rtype="A", *, tcp=False, subnet=None, source=None):
    query = dns.message.make_query(name, rtype)
    if subnet is not None:
        query.use_edns(0, options=[dns.edns.ECSOption(subnet, 24)])
    fn = dns.query.tcp if tcp else dns.query.udp
    kwargs = {"source": source} if source else {}
    return fn(query, "127.0.0.1", port=dns_port(server), timeout=3, **kwargs)


def addresses(response) -> list[str]:
    return sorted(item.address for rrset in response.answer for item in rrset if hasattr(item, "address"))


def new_zone(r53, name, **kw):
    zone = r53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()), **kw)
    return zone["HostedZone"]["Id"].split("/")[-1]


def change(r53, zone_id, *rrsets, action="CREATE"):
    return r53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": r} for r in rrsets]}
    )


def a(name, *values, ttl=60, **extra):
    return {"Name": name, "Type": "A", "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values], **extra}


def wait_for(predicate, timeout=8.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


class WebServer:
    """A tiny local web server the health checks probe; stop() and start() it again."""

    def __init__(self, body=b"all good"):
        self.body = body
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.httpd = None

    def start(self):
        body = self.body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status = 200 if self.path != "/broken" else 500
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def health_check(r53, port, **config):
    cfg = {"IPAddress": "127.0.0.1", "Port": port, "Type": "HTTP", "ResourcePath": "/", "RequestInterval": 10, "FailureThreshold": 3}
    cfg.update(config)
    return r53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig=cfg)["HealthCheck"]["Id"]


def probed_since(r53, hc_id, t):
    obs = r53.get_health_check_status(HealthCheckId=hc_id)["HealthCheckObservations"]
    return obs and all(o["StatusReport"]["CheckedTime"].timestamp() >= t - 0.001 for o in obs) and obs


def advance_and_probe(server, r53, hc_ids, seconds):
    now = server.advance_clock(seconds)["now"]
    from datetime import datetime

    t = datetime.fromisoformat(now).timestamp()
    # probes run for real once the clock moved; wait for them to report (no interval is slept)
    for hc in hc_ids:
        wait_for(lambda: probed_since(r53, hc, t - 10))
    time.sleep(0.05)


# -- control plane ---------------------------------------------------------------------


def test_zone_records_and_wire_answers(nimbus):
    r53 = nimbus.client("route53")
    zone_id = new_zone(r53, "basics.test")
    info = change(r53, zone_id, a("www.basics.test", "192.0.2.1", "192.0.2.2"),
                  {"Name": "*.wild.basics.test", "Type": "TXT", "TTL": 30, "ResourceRecords": [{"Value": '"hello world"'}]},
                  {"Name": "alias.basics.test", "Type": "CNAME", "TTL": 30, "ResourceRecords": [{"Value": "www.basics.test"}]},
                  {"Name": "mail.basics.test", "Type": "MX", "TTL": 30, "ResourceRecords": [{"Value": "10 mx.basics.test"}]})["ChangeInfo"]
    assert info["Status"] == "PENDING"
    assert wait_for(lambda: r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC")

    r = ask(nimbus, "www.basics.test")
    assert r.flags & dns.flags.AA and addresses(r) == ["192.0.2.1", "192.0.2.2"]
    assert addresses(ask(nimbus, "www.basics.test", tcp=True)) == ["192.0.2.1", "192.0.2.2"]
    # CNAME chain inside the zone
    r = ask(nimbus, "alias.basics.test")
    assert [rr.rdtype for rr in r.answer] == [5, 1] and addresses(r) == ["192.0.2.1", "192.0.2.2"]
    # wildcard expansion with the query's name as owner
    r = ask(nimbus, "anything.wild.basics.test", "TXT")
    assert r.answer[0].name.to_text() == "anything.wild.basics.test." and b"hello world" in r.answer[0][0].strings
    # NXDOMAIN vs NODATA, SOA in authority
    r = ask(nimbus, "missing.basics.test")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == 6
    r = ask(nimbus, "www.basics.test", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority[0].rdtype == 6
    r = ask(nimbus, "wild.basics.test")  # empty non-terminal
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    # not authoritative → REFUSED
    assert ask(nimbus, "example.invalid").rcode() == dns.rcode.REFUSED
    # Nimbus's own EC2 names
    assert addresses(ask(nimbus, "ip-10-0-1-5.ec2.internal")) == ["10.0.1.5"]

    # listing order: reversed names, then types; wildcard escaped
    names = [(r["Name"], r["Type"]) for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]]
    assert names == [("basics.test.", "NS"), ("basics.test.", "SOA"), ("alias.basics.test.", "CNAME"),
                     ("mail.basics.test.", "MX"), ("\\052.wild.basics.test.", "TXT"), ("www.basics.test.", "A")]
    page = r53.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="2")
    assert page["IsTruncated"] and page["NextRecordName"] == "alias.basics.test." and page["NextRecordType"] == "CNAME"
    rest = r53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=page["NextRecordName"], StartRecordType="CNAME")
    assert [r["Name"] for r in rest["ResourceRecordSets"]][0] == "alias.basics.test."

    # upsert and delete show up on the wire
    change(r53, zone_id, a("www.basics.test", "192.0.2.9"), action="UPSERT")
    assert addresses(wait_for(lambda: (x := ask(nimbus, "www.basics.test")) and addresses(x) == ["192.0.2.9"] and x)) == ["192.0.2.9"]
    change(r53, zone_id, a("www.basics.test", "192.0.2.9"), action="DELETE")
    assert wait_for(lambda: ask(nimbus, "www.basics.test").rcode() == dns.rcode.NXDOMAIN)


def test_invalid_change_batches_change_nothing(nimbus):
    r53 = nimbus.client("route53")
    zone_id = new_zone(r53, "bad.test")
    change(r53, zone_id, a("www.bad.test", "192.0.2.1"))
    before = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    cases = [
        ([{"Name": "bad.test", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "x.org"}]}], "is not permitted at apex in zone bad.test."),
        ([{"Name": "www.bad.test", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "x.org"}]}], "conflicts with other records with the same DNS name"),
        ([a("www.bad.test", "192.0.2.1")], "Tried to create resource record set [name='www.bad.test.', type='A'] but it already exists"),
        ([a("new.bad.test", "1.2.3")], "ARRDATAIllegalIPv4Address"),
        ([a("x.other.test", "192.0.2.1")], "is not permitted in zone bad.test."),
        ([a("ok.bad.test", "192.0.2.5"), a("www.bad.test", "192.0.2.1")], "already exists"),  # atomic: ok.bad.test not created
        ([{"Name": "m.bad.test", "Type": "MX", "TTL": 60, "ResourceRecords": [{"Value": "mail.example.com"}]}], "MXRRDATAIllegalFormat"),
    ]
    for rrsets, message in cases:
        with pytest.raises(ClientError) as err:
            change(r53, zone_id, *rrsets)
        assert err.value.response["Error"]["Code"] == "InvalidChangeBatch", message
        assert message in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        change(r53, zone_id, a("www.bad.test", "192.0.2.7"), action="DELETE")
    assert "but the values provided do not match the current values" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        change(r53, zone_id, a("gone.bad.test", "192.0.2.7"), action="DELETE")
    assert "but it was not found" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:  # TTL required except for aliases
        change(r53, zone_id, {"Name": "nottl.bad.test", "Type": "A", "ResourceRecords": [{"Value": "192.0.2.1"}]})
    assert err.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(ClientError) as err:  # duplicate set identifier in one batch
        change(r53, zone_id, a("w.bad.test", "192.0.2.1", SetIdentifier="one", Weight=1), a("w.bad.test", "192.0.2.2", SetIdentifier="one", Weight=2))
    assert err.value.response["Error"]["Code"] == "InvalidChangeBatch"
    assert r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"] == before
    assert ask(nimbus, "ok.bad.test").rcode() == dns.rcode.NXDOMAIN
    with pytest.raises(ClientError) as err:
        r53.get_hosted_zone(Id="ZNOSUCHZONE")
    assert err.value.response["Error"]["Code"] == "NoSuchHostedZone"
    with pytest.raises(ClientError) as err:
        r53.delete_hosted_zone(Id=zone_id)
    assert err.value.response["Error"]["Code"] == "HostedZoneNotEmpty"


def test_aws_cli_and_tags(nimbus):
    out = json.loads(nimbus.aws("route53", "create-hosted-zone", "--name", "cli.test", "--caller-reference", str(uuid.uuid4())).stdout)
    zone_id = out["HostedZone"]["Id"].split("/")[-1]
    batch = json.dumps({"Changes": [{"Action": "CREATE", "ResourceRecordSet": a("app.cli.test", "192.0.2.44")}]})
    nimbus.aws("route53", "change-resource-record-sets", "--hosted-zone-id", zone_id, "--change-batch", batch)
    assert addresses(ask(nimbus, "app.cli.test")) == ["192.0.2.44"]
    nimbus.aws("route53", "change-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", zone_id, "--add-tags", "Key=team,Value=dns")
    tags = json.loads(nimbus.aws("route53", "list-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", zone_id).stdout)
    assert tags["ResourceTagSet"]["Tags"] == [{"Key": "team", "Value": "dns"}]
    answer = nimbus.client("route53").test_dns_answer(HostedZoneId=zone_id, RecordName="app.cli.test", RecordType="A")
    assert answer["RecordData"] == ["192.0.2.44"] and answer["ResponseCode"] == "NOERROR"


# -- routing policies ------------------------------------------------------------------


def test_weighted_70_30(nimbus):
    r53 = nimbus.client("route53")
    zone_id = new_zone(r53, "weighted.test")
    change(r53, zone_id, a("w.weighted.test", "192.0.2.70", SetIdentifier="seventy", Weight=70),
           a("w.weighted.test", "192.0.2.30", SetIdentifier="thirty", Weight=30),
           a("z.weighted.test", "192.0.2.1", SetIdentifier="zero", Weight=0),
           a("z.weighted.test", "192.0.2.2", SetIdentifier="one", Weight=1))
    counts = collections.Counter(addresses(ask(nimbus, "w.weighted.test"))[0] for _ in range(1000))
    assert 640 <= counts["192.0.2.70"] <= 760 and counts["192.0.2.70"] + counts["192.0.2.30"] == 1000
    # weight 0 gets no traffic while another has weight
    assert {addresses(ask(nimbus, "z.weighted.test"))[0] for _ in range(50)} == {"192.0.2.2"}


def test_failover_follows_a_real_web_server(nimbus):
    r53 = nimbus.client("route53")
    web = WebServer().start()
    hc = health_check(r53, web.port)
    zone_id = new_zone(r53, "failover.test")
    change(r53, zone_id, a("app.failover.test", "192.0.2.10", SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=hc),
           a("app.failover.test", "192.0.2.20", SetIdentifier="secondary", Failover="SECONDARY"))
    advance_and_probe(nimbus, r53, [hc], 10)
    status = r53.get_health_check_status(HealthCheckId=hc)["HealthCheckObservations"]
    assert len(status) == 8 and all(o["StatusReport"]["Status"].startswith("Success: HTTP Status Code 200") for o in status)
    assert addresses(ask(nimbus, "app.failover.test")) == ["192.0.2.10"]
    web.stop()
    advance_and_probe(nimbus, r53, [hc], 20)  # 2 failures of a threshold of 3: still primary
    assert addresses(ask(nimbus, "app.failover.test")) == ["192.0.2.10"]
    advance_and_probe(nimbus, r53, [hc], 10)  # third failure → unhealthy → secondary
    assert wait_for(lambda: addresses(ask(nimbus, "app.failover.test")) == ["192.0.2.20"])
    reason = r53.get_health_check_last_failure_reason(HealthCheckId=hc)["HealthCheckObservations"]
    assert reason and "Failure" in reason[0]["StatusReport"]["Status"]
    web.start()
    advance_and_probe(nimbus, r53, [hc], 30)
    assert wait_for(lambda: addresses(ask(nimbus, "app.failover.test")) == ["192.0.2.10"])
    web.stop()


def test_multivalue_drops_unhealthy_and_string_match(nimbus):
    r53 = nimbus.client("route53")
    good, bad = WebServer(b"status: ready").start(), WebServer().start()
    hc_good = health_check(r53, good.port, Type="HTTP_STR_MATCH", SearchString="ready", FailureThreshold=1)
    hc_bad = health_check(r53, bad.port, FailureThreshold=1)
    hc_str = health_check(r53, good.port, Type="HTTP_STR_MATCH", SearchString="absent", FailureThreshold=1)
    zone_id = new_zone(r53, "multi.test")
    change(r53, zone_id, a("m.multi.test", "192.0.2.1", SetIdentifier="a", MultiValueAnswer=True, HealthCheckId=hc_good),
           a("m.multi.test", "192.0.2.2", SetIdentifier="b", MultiValueAnswer=True, HealthCheckId=hc_bad),
           a("m.multi.test", "192.0.2.3", SetIdentifier="c", MultiValueAnswer=True))
    bad.stop()
    advance_and_probe(nimbus, r53, [hc_good, hc_bad, hc_str], 10)
    assert wait_for(lambda: addresses(ask(nimbus, "m.multi.test")) == ["192.0.2.1", "192.0.2.3"])
    text = r53.get_health_check_status(HealthCheckId=hc_str)["HealthCheckObservations"][0]["StatusReport"]["Status"]
    assert "was not found" in text
    # calculated: 1 of 2 children healthy, threshold 2 → unhealthy; NOT via threshold 0/inverted
    calc = r53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": [hc_good, hc_bad], "HealthThreshold": 2})["HealthCheck"]["Id"]
    advance_and_probe(nimbus, r53, [calc], 10)
    assert "1 of 2" in r53.get_health_check_status(HealthCheckId=calc)["HealthCheckObservations"][0]["StatusReport"]["Status"]
    good.stop()
    # metrics reached CloudWatch
    cw = nimbus.client("cloudwatch")
    metrics = cw.list_metrics(Namespace="AWS/Route53", MetricName="HealthCheckStatus",
                              Dimensions=[{"Name": "HealthCheckId", "Value": hc_bad}])["Metrics"]
    assert metrics


def test_health_check_input_rules(nimbus):
    r53 = nimbus.client("route53")
    for bad in [{"IPAddress": "10.1.2.3", "Port": 80, "Type": "HTTP"}, {"IPAddress": "192.168.1.1", "Port": 80, "Type": "HTTP"},
                {"IPAddress": "224.0.0.1", "Port": 80, "Type": "TCP"}, {"IPAddress": "127.0.0.1", "Port": 80, "Type": "HTTP", "RequestInterval": 15},
                {"IPAddress": "127.0.0.1", "Type": "HTTP_STR_MATCH"}, {"IPAddress": "127.0.0.1", "Type": "TCP"}]:
        with pytest.raises(ClientError) as err:
            r53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig=bad)
        assert err.value.response["Error"]["Code"] == "InvalidInput", bad
    hc = r53.create_health_check(CallerReference="same-ref", HealthCheckConfig={"IPAddress": "127.0.0.1", "Port": 80, "Type": "TCP"})
    again = r53.create_health_check(CallerReference="same-ref", HealthCheckConfig={"IPAddress": "127.0.0.1", "Port": 80, "Type": "TCP"})
    assert hc["HealthCheck"]["Id"] == again["HealthCheck"]["Id"]
    with pytest.raises(ClientError) as err:
        r53.create_health_check(CallerReference="same-ref", HealthCheckConfig={"IPAddress": "127.0.0.1", "Port": 81, "Type": "TCP"})
    assert err.value.response["Error"]["Code"] == "HealthCheckAlreadyExists"
    with pytest.raises(ClientError) as err:
        r53.get_health_check(HealthCheckId="nope")
    assert err.value.response["Error"]["Code"] == "NoSuchHealthCheck"


def test_geo_private_latency_alias_and_restart(fresh_nimbus, tmp_path):
    env = dict(NIMBUS_DNS_GEO_MAP="203.0.113.0/24=DE,198.51.100.0/24=US-WA",
               NIMBUS_DNS_VPC_MAP="127.0.0.2/32=vpc-0a1b2c3d",
               NIMBUS_DNS_LATENCY_MAP="203.0.113.0/24=eu-central-1,198.51.100.0/24=us-west-2")
    server = fresh_nimbus(**env)
    r53 = server.client("route53")
    zone_id = new_zone(r53, "geo.test")
    change(r53, zone_id,
           a("g.geo.test", "192.0.2.1", SetIdentifier="europe", GeoLocation={"ContinentCode": "EU"}),
           a("g.geo.test", "192.0.2.2", SetIdentifier="washington", GeoLocation={"CountryCode": "US", "SubdivisionCode": "WA"}),
           a("g.geo.test", "192.0.2.9", SetIdentifier="default", GeoLocation={"CountryCode": "*"}),
           a("l.geo.test", "192.0.2.31", SetIdentifier="fra", Region="eu-central-1"),
           a("l.geo.test", "192.0.2.32", SetIdentifier="ore", Region="us-west-2"),
           a("p.geo.test", "192.0.2.41", SetIdentifier="near", GeoProximityLocation={"AWSRegion": "eu-west-1", "Bias": 0}),
           a("p.geo.test", "192.0.2.42", SetIdentifier="far", GeoProximityLocation={"AWSRegion": "us-east-1", "Bias": 0}),
           {"Name": "geo.test", "Type": "A", "AliasTarget": {"HostedZoneId": zone_id, "DNSName": "l.geo.test", "EvaluateTargetHealth": True}})
    assert addresses(ask(server, "g.geo.test", subnet="203.0.113.0")) == ["192.0.2.1"]
    assert addresses(ask(server, "g.geo.test", subnet="198.51.100.0")) == ["192.0.2.2"]
    assert addresses(ask(server, "g.geo.test")) == ["192.0.2.9"]
    assert addresses(ask(server, "l.geo.test", subnet="203.0.113.0")) == ["192.0.2.31"]
    assert addresses(ask(server, "l.geo.test", subnet="198.51.100.0")) == ["192.0.2.32"]
    assert addresses(ask(server, "p.geo.test", subnet="203.0.113.0")) == ["192.0.2.41"]
    assert addresses(ask(server, "p.geo.test", subnet="198.51.100.0")) == ["192.0.2.42"]
    # a bias of 90 shrinks the 6,500 km to us-east-1 below the 1,100 km to eu-west-1
    change(r53, zone_id, a("p.geo.test", "192.0.2.42", SetIdentifier="far", GeoProximityLocation={"AWSRegion": "us-east-1", "Bias": 90}), action="UPSERT")
    assert wait_for(lambda: addresses(ask(server, "p.geo.test", subnet="203.0.113.0")) == ["192.0.2.42"])
    apex = ask(server, "geo.test", subnet="203.0.113.0")
    assert addresses(apex) == ["192.0.2.31"] and apex.answer[0].name.to_text() == "geo.test."

    # private zone: answers only to its VPC, and wins over the public zone there
    private = r53.create_hosted_zone(Name="geo.test", CallerReference=str(uuid.uuid4()),
                                     VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-0a1b2c3d"},
                                     HostedZoneConfig={"PrivateZone": True, "Comment": "inside"})
    private_id = private["HostedZone"]["Id"].split("/")[-1]
    assert private["HostedZone"]["Config"]["PrivateZone"] is True
    change(r53, private_id, a("db.geo.test", "10.0.0.5"))
    assert addresses(ask(server, "db.geo.test", source="127.0.0.2")) == ["10.0.0.5"]
    assert ask(server, "db.geo.test").rcode() == dns.rcode.NXDOMAIN  # public zone from outside the VPC
    assert ask(server, "g.geo.test", source="127.0.0.2").rcode() == dns.rcode.NXDOMAIN  # private zone shadows public

    # S3 website alias
    s3 = server.client("s3")
    s3.create_bucket(Bucket="www.geo.test")
    change(r53, zone_id, {"Name": "www.geo.test", "Type": "A", "AliasTarget": {
        "HostedZoneId": "Z3AQBSTGFYJSTF", "DNSName": "s3-website-us-east-1.amazonaws.com", "EvaluateTargetHealth": False}})
    assert addresses(ask(server, "www.geo.test")) == ["127.0.0.1"]

    # restart keeps everything
    server.stop()
    again = fresh_nimbus(data_dir=server.data_dir, **env)
    assert addresses(ask(again, "g.geo.test", subnet="203.0.113.0")) == ["192.0.2.1"]
    assert addresses(ask(again, "db.geo.test", source="127.0.0.2")) == ["10.0.0.5"]
    assert addresses(ask(again, "www.geo.test")) == ["127.0.0.1"]
    zones = again.client("route53").list_hosted_zones()["HostedZones"]
    assert sorted(z["Config"]["PrivateZone"] for z in zones) == [False, True]


def test_propagation_on_the_clock(fresh_nimbus):
    server = fresh_nimbus(NIMBUS_ROUTE53_PROPAGATION="60")
    r53 = server.client("route53")
    zone_id = new_zone(r53, "clock.test")
    info = change(r53, zone_id, a("x.clock.test", "192.0.2.1"))["ChangeInfo"]
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
    server.advance_clock(61)
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"


def test_fuzz_random_bytes_udp_and_tcp(nimbus):
    import random
    import struct

    rng = random.Random(6)
    port = dns_port(nimbus)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(1.0)
        for i in range(400):
            size = rng.choice([0, 1, 11, 12, 13, 40, 512, 1500, 9000])
            payload = bytes(rng.getrandbits(8) for _ in range(size))
            if i % 3 == 0 and size >= 12:  # plausible header, garbage body
                payload = struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, rng.randint(0, 3)) + payload[12:]
            udp.sendto(payload, ("127.0.0.1", port))
            if len(payload) >= 12 and not payload[2] & 0x80:  # a query: it gets an answer (FORMERR at worst)
                reply, _ = udp.recvfrom(65535)
                assert reply[:2] == payload[:2] and reply[2] & 0x80
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as tcp:
            blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            tcp.sendall(struct.pack("!H", len(blob)) + blob)
            tcp.settimeout(0.5)
            try:
                tcp.recv(65535)
            except (socket.timeout, ConnectionResetError):
                pass
    # still serving
    assert ask(nimbus, "ip-10-9-8-7.ec2.internal").answer
    assert ask(nimbus, "ip-10-9-8-7.ec2.internal", tcp=True).answer


def test_truncation_and_tcp_fallback(nimbus):
    r53 = nimbus.client("route53")
    zone_id = new_zone(r53, "big.test")
    change(r53, zone_id, {"Name": "t.big.test", "Type": "TXT", "TTL": 60,
                          "ResourceRecords": [{"Value": '"' + ("x%02d" % i) * 60 + '"'} for i in range(10)]})
    query = dns.message.make_query("t.big.test", "TXT")
    query.flags &= ~dns.flags.RD
    response = dns.query.udp(query, "127.0.0.1", port=dns_port(nimbus), timeout=3, ignore_trailing=True)
    assert response.flags & dns.flags.TC and not response.answer
    assert len(ask(nimbus, "t.big.test", "TXT", tcp=True).answer[0]) == 10


def test_route53domains_local_registrar(nimbus):
    domains = nimbus.client("route53domains")
    assert domains.check_domain_availability(DomainName="nimbus-fun.com")["Availability"] == "AVAILABLE"
    contact = {"FirstName": "A", "LastName": "B", "ContactType": "PERSON", "Email": "a@b.c", "CountryCode": "US",
               "AddressLine1": "1 Road", "City": "X", "PhoneNumber": "+1.5555555555", "ZipCode": "12345"}
    domains.register_domain(DomainName="nimbus-fun.com", DurationInYears=1, AdminContact=contact, RegistrantContact=contact, TechContact=contact)
    assert domains.check_domain_availability(DomainName="nimbus-fun.com")["Availability"] == "UNAVAILABLE"
    assert [d["DomainName"] for d in domains.list_domains()["Domains"]] == ["nimbus-fun.com"]
    domains.disable_domain_transfer_lock(DomainName="nimbus-fun.com")
    assert domains.get_domain_detail(DomainName="nimbus-fun.com")["StatusList"] == []
    # the domain's hosted zone exists and is served
    assert ask(nimbus, "nimbus-fun.com", "SOA").answer
