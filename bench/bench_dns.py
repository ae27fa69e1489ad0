"""DNS plane benchmark: queries/s (plain A and weighted), change visibility, memory per record.

    python bench/bench_dns.py [--seconds 5] [--records 20000] [--no-append]

Starts a real Nimbus, creates the records through the Route 53 API, then loads the DNS
server with ``dnsperf`` (Debian package ``dnsperf``) when installed, else with a Python
load generator (several processes, many queries in flight).  Appends the results to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

from nimbus_process import NimbusServer  # noqa: E402


def _query(name: str, qid: int) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


def _worker(port: int, name: str, seconds: float, window: int, out: "multiprocessing.Queue") -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(0.5)
    packets = [_query(name, i) for i in range(65536)]
    sent = received = 0
    deadline = time.perf_counter() + seconds
    for _ in range(window):
        sock.send(packets[sent & 0xFFFF])
        sent += 1
    while time.perf_counter() < deadline:
        try:
            sock.recv(4096)
        except socket.timeout:
            for _ in range(window):  # lost datagrams: refill the window
                sock.send(packets[sent & 0xFFFF])
                sent += 1
            continue
        received += 1
        sock.send(packets[sent & 0xFFFF])
        sent += 1
    out.put(received)


def python_load(port: int, name: str, seconds: float, procs: int = 2, window: int = 32) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_worker, args=(port, name, seconds, window, queue)) for _ in range(procs)]
    for w in workers:
        w.start()
    total = sum(queue.get() for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


def dnsperf_load(port: int, name: str, seconds: float) -> float | None:
    if shutil.which("dnsperf") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write(f"{name} A\n")
        path = fh.name
    try:
        result = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", path, "-l", str(seconds), "-c", "4", "-Q", "100000", "-q", "200"],
                                capture_output=True, text=True, timeout=seconds + 30)
    finally:
        os.unlink(path)
    match = re.search(r"Queries per second:\s+([\d.]+)", result.stdout)
    return float(match.group(1)) if match else None


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nimbus-bench-dns-"))
    server = NimbusServer(tmp / "data", env={"NIMBUS_LOG_LEVEL": "warning"}).start()
    try:
        port = int(server.health()["dns"].rsplit(":", 1)[1])
        r53 = server.client("route53")
        zone = r53.create_hosted_zone(Name="bench.test", CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"].split("/")[-1]

        def a(name, value, **extra):
            return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}], **extra}}

        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            a("plain.bench.test", "192.0.2.1"),
            a("weighted.bench.test", "192.0.2.70", SetIdentifier="a", Weight=70),
            a("weighted.bench.test", "192.0.2.30", SetIdentifier="b", Weight=30),
        ]})
        tool = "dnsperf" if shutil.which("dnsperf") else "python load generator"
        results: dict[str, float] = {}
        for label, name in (("plain A", "plain.bench.test."), ("weighted", "weighted.bench.test.")):
            qps = dnsperf_load(port, name, args.seconds)
            if qps is None:
                qps = python_load(port, name, args.seconds)
            results[label] = qps
            print(f"{label:<10} {qps:>10,.0f} q/s ({tool})")

        # a 1,000-record batch: time from INSYNC to the last record answering
        import dns.message
        import dns.query

        rss_before = rss_kib(server.process.pid)
        batch = [a(f"r{i}.batch.bench.test", f"198.51.{i // 250}.{i % 250 + 1}") for i in range(1000)]
        started = time.perf_counter()
        change = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": batch})["ChangeInfo"]
        api_done = time.perf_counter()
        while r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] != "INSYNC":
            time.sleep(0.001)
        insync = time.perf_counter()
        while True:
            reply = dns.query.udp(dns.message.make_query("r999.batch.bench.test", "A"), "127.0.0.1", port=port, timeout=2)
            if reply.answer:
                break
        visible = time.perf_counter()
        print(f"1,000-record batch: API {1000 * (api_done - started):.0f} ms, INSYNC after {1000 * (insync - api_done):.1f} ms, "
              f"answered {1000 * (visible - insync):.1f} ms after INSYNC")

        # memory per record: many more records, RSS growth of the server
        total = args.records
        batch_ms = [1000 * (api_done - started)]
        for start in range(1000, total, 1000):
            chunk = [a(f"m{i}.mem.bench.test", f"203.0.113.{i % 250 + 1}") for i in range(start, min(start + 1000, total))]
            t0 = time.perf_counter()
            r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": chunk})
            if len(chunk) == 1000:
                batch_ms.append(1000 * (time.perf_counter() - t0))
        batch_ms.sort()
        batch_median = batch_ms[len(batch_ms) // 2]
        print(f"1,000-change ChangeResourceRecordSets (API round trip): median {batch_median:.0f} ms of {len(batch_ms)} "
              f"(min {batch_ms[0]:.0f}, max {batch_ms[-1]:.0f})")
        time.sleep(0.5)
        rss_after = rss_kib(server.process.pid)
        per_record = (rss_after - rss_before) * 1024 / total
        print(f"memory: {rss_after - rss_before:,} KiB RSS growth for {total:,} records = {per_record:,.0f} B/record")
        # queries/s once the zone holds all those records
        big = dnsperf_load(port, "plain.bench.test.", args.seconds) or python_load(port, "plain.bench.test.", args.seconds)
        print(f"plain A with {total + 3:,} records in the zone: {big:,.0f} q/s")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    if not args.no_append:
        lines = [
            f"\n## DNS plane ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {tool})\n",
            "| measure | result | target |", "|---|---|---|",
            f"| plain A record | {results['plain A']:,.0f} q/s | ≥ 10,000 q/s |",
            f"| weighted record (70/30) | {results['weighted']:,.0f} q/s | ≥ 10,000 q/s |",
            f"| plain A, zone of {total + 3:,} records | {big:,.0f} q/s | — |",
            f"| 1,000-record change batch answered after INSYNC | {1000 * (visible - insync):.1f} ms (INSYNC {1000 * (insync - api_done):.1f} ms after the API returned) | ≤ 50 ms |",
            f"| memory per record (server RSS growth / records) | {per_record:,.0f} B | ≤ 2,048 B |",
            f"| 1,000-change ChangeResourceRecordSets, API round trip (median of {len(batch_ms)}, zone growing to {total:,}) | {batch_median:.0f} ms | — |",
        ]
        with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
