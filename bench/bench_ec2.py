#!/usr/bin/env python3
"""EC2 control-plane benchmark: Nimbus vs moto_server, side by side in one run.

    python bench/bench_ec2.py [--quick] [--output bench/RESULTS.md]

Reuses bench_core's process management (fresh ports and data directories, process-group
cleanup, PR_SET_PDEATHSIG).  Each request is signed once with botocore's SigV4 and sent
with ``http.client``; the time is from sending the request to reading the whole body, so
the numbers are the server's (plus loopback transfer), not boto3's XML parsing.

Measured, for both servers:

* RunInstances of 100 instances in one call (median of 5 calls);
* DescribeInstances with 200 instances, no MaxResults (median of 10 calls);
* every page of DescribeInstances with MaxResults=1000 over 10,000 instances (2,000 with
  --quick), with the number of pages and the largest page (moto ignores MaxResults);
* bytes per instance record: the mean JSON size of Nimbus's ``ec2:instance`` records in its
  store, and the growth of each server's RSS per instance between 200 and 10,000.

With ``--output`` the markdown table is appended to that file.
"""
from __future__ import annotations

import argparse
import atexit
import http.client
import os
import re
import signal
import sqlite3
import statistics
import sys
import time
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_core as core  # noqa: E402

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

CREDS = Credentials("test", "test")
_TOKEN = re.compile(rb"<nextToken>([^<]+)</nextToken>")
_INSTANCE = re.compile(rb"<instanceId>")


class Ec2:
    """Signed EC2 query requests over one keep-alive connection (reopened when closed)."""

    def __init__(self, server: core.Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection(core.HOST, server.port, timeout=300)

    def call(self, action: str, **params: object) -> tuple[float, bytes]:
        body = urlencode({"Action": action, "Version": "2016-11-15", **{k: str(v) for k, v in params.items()}})
        request = AWSRequest(method="POST", url=self.server.url + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(CREDS, "ec2", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
        t0 = time.perf_counter()
        try:
            self.conn.request("POST", "/", body=body.encode(), headers=headers)
            response = self.conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(core.HOST, self.server.port, timeout=300)
            self.conn.request("POST", "/", body=body.encode(), headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - t0
        if response.will_close:
            self.conn.close()
        if response.status != 200:
            raise RuntimeError(f"{self.server.name} {action}: HTTP {response.status}: {data[:300]!r}")
        return elapsed, data


def image_for(name: str, server: core.Server) -> str:
    if name == "nimbus":
        ssm = core.boto_client("ssm", server.url)
        return ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    ec2 = core.boto_client("ec2", server.url)
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    return next(i["ImageId"] for i in images if i.get("Architecture", "x86_64") == "x86_64")


def measure(name: str, server: core.Server, total: int, log) -> dict:
    api = Ec2(server)
    image = image_for(name, server)
    out: dict = {}
    launched = 0
    runs = []
    for _ in range(2):  # 200 instances, 100 per call
        t, _ = api.call("RunInstances", ImageId=image, MinCount=100, MaxCount=100, InstanceType="t3.micro")
        runs.append(t)
        launched += 100
    describe = []
    for _ in range(10):
        t, body = api.call("DescribeInstances")
        describe.append(t)
    out["describe200"] = statistics.median(describe)
    out["describe200_count"] = len(_INSTANCE.findall(body))
    rss200 = core.tree_rss_mib(server.pid)
    log(f"{name}: describe 200 = {out['describe200'] * 1000:.1f} ms")
    for _ in range(3):
        t, _ = api.call("RunInstances", ImageId=image, MinCount=100, MaxCount=100, InstanceType="t3.micro")
        runs.append(t)
        launched += 100
    out["run100"] = statistics.median(runs)
    out["run100_samples"] = runs
    log(f"{name}: run 100 = {out['run100'] * 1000:.1f} ms; filling to {total}")
    zones = "abcdef"  # a default /20 subnet holds 4,091 instances: spread them over the zones' default subnets
    fill = 0
    while launched < total:
        n = min(1000, total - launched)
        api.call("RunInstances", ImageId=image, MinCount=n, MaxCount=n, InstanceType="t3.micro",
                 **{"Placement.AvailabilityZone": f"us-east-1{zones[fill % len(zones)]}"})
        launched += n
        fill += 1
    seen, pages, biggest, token = 0, 0, 0, None
    t_all = 0.0
    while True:
        params = {"MaxResults": 1000, **({"NextToken": token} if token else {})}
        t, body = api.call("DescribeInstances", **params)
        t_all += t
        count = len(_INSTANCE.findall(body))
        seen += count
        biggest = max(biggest, count)
        pages += 1
        match = _TOKEN.search(body)
        token = match.group(1).decode() if match else None
        if not token or pages > total:
            break
    out.update(all_pages=t_all, pages=pages, biggest_page=biggest, seen=seen)
    out["rss_per_instance_kib"] = max(0.0, (core.tree_rss_mib(server.pid) - rss200) * 1024 / (total - 200))
    log(f"{name}: {seen} instances in {pages} pages, {t_all:.2f} s")
    if name == "nimbus":
        db = sqlite3.connect(os.path.join(server.data_dir, "state.db"))
        out["record_bytes"] = db.execute("SELECT avg(length(doc)) FROM records WHERE kind='ec2:instance'").fetchone()[0]
        db.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 instances instead of 10,000")
    ap.add_argument("--total", type=int, default=None, help="instances for the all-pages phase")
    ap.add_argument("--output", help="append the markdown report to this file")
    ap.add_argument("--skip-moto", action="store_true")
    args = ap.parse_args()
    total = args.total or (2000 if args.quick else 10000)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    atexit.register(core._cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, core._on_signal)
    nimbus_env = {"PYTHONPATH": os.path.join(core.REPO, "src") + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    servers = {
        "nimbus": core.Server("nimbus", "{python} -m nimbus start --host {host} --port {port} --https-port {https_port} --data-dir {data_dir}",
                              "/_nimbus/health", True, nimbus_env),
        "moto": core.Server("moto", "{python} -m moto.server -H {host} -p {port}", "/moto-api/", False),
    }
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    results: dict[str, dict] = {}
    errors: dict[str, str] = {}
    load_before = os.getloadavg()[0]
    for name, server in servers.items():
        if name == "moto" and args.skip_moto:
            continue
        try:
            server.start(60)
            results[name] = measure(name, server, total, log)
        except Exception as exc:  # noqa: BLE001 — report, keep measuring the other
            errors[name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} failed: {errors[name]}")
        finally:
            server.stop()
    load_after = os.getloadavg()[0]
    info = core.machine_info()
    n, m = results.get("nimbus", {}), results.get("moto", {})

    def row(metric, key, target, scale=1.0, digits=None, lower_better=True, goal=None):
        nv = n.get(key) * scale if n.get(key) is not None else None
        mv = m.get(key) * scale if m.get(key) is not None else None
        r = core.ratio(nv, mv, not lower_better)
        met = "" if goal is None or nv is None else ("yes" if goal(nv) else "NO")
        return f"| {metric} | {core.fmt(nv, digits)} | {core.fmt(mv, digits)} | {core.fmt(r, 2) + '×' if r else 'n/a'} | {target} | {met} |"

    lines = [
        "",
        "# Nimbus vs moto — EC2 control plane",
        "",
        f"- machine: {info['cpu']}, nproc {info['nproc']}, Linux {info['kernel']}; python {info['python']}; moto {info['moto']}, "
        f"botocore {info['botocore']}; nimbus rev {info['nimbus_rev']}; date {info['date']}; {total:,} instances",
        "",
        "| metric | nimbus | moto | ratio (>1 = Nimbus better) | target | met |",
        "|---|---:|---:|---:|---|:-:|",
        row("DescribeInstances, 200 instances (ms, median of 10)", "describe200", "≤ 20 ms", 1000, goal=lambda v: v <= 20),
        row(f"DescribeInstances, all pages of {total:,} at MaxResults=1000 (s)", "all_pages", "≤ 1 s (10,000)", goal=lambda v: v <= 1.0),
        row("RunInstances, 100 instances in one call (s, median of 5)", "run100", "≤ 0.2 s", goal=lambda v: v <= 0.2),
        f"| pages / largest page (MaxResults=1000) | {n.get('pages', 'n/a')} / {n.get('biggest_page', 'n/a')} | {m.get('pages', 'n/a')} / {m.get('biggest_page', 'n/a')} | | honoured | {'yes' if n and n.get('biggest_page', 1001) <= 1000 and n.get('seen') == total else ('NO' if n else '')} |",
        f"| instance record, JSON bytes in the store | {core.fmt(n.get('record_bytes'), 0)} | n/a | | ≤ 5 KiB | {'yes' if n.get('record_bytes') and n['record_bytes'] <= 5120 else ('NO' if n else '')} |",
        row("server RSS growth per instance (KiB)", "rss_per_instance_kib", "", digits=2),
        "",
        "Notes:",
        "",
        f"- RunInstances samples (s): nimbus {', '.join(f'{x:.3f}' for x in n.get('run100_samples', []))}; moto {', '.join(f'{x:.3f}' for x in m.get('run100_samples', []))}",
        f"- instances returned: nimbus {n.get('seen', 'n/a')}, moto {m.get('seen', 'n/a')} (moto ignores MaxResults and answers everything in one page)",
        f"- load average (1 min) {load_before:.2f} before, {load_after:.2f} after" + (" — **the machine was busy: numbers are noisy**" if load_before > info['nproc'] * 0.5 else ""),
    ]
    for name, err in errors.items():
        lines.append(f"- {name} failed: {err}")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        with open(args.output, "a") as f:
            f.write(report)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
