#!/usr/bin/env python3
"""What the IAM policy engine costs: requests/s with enforcement on vs off.

    python bench/bench_iam.py [--duration 5] [--concurrency 16]

For each setting (NIMBUS_ENFORCE_IAM=1 and =0) a fresh Nimbus is started and measured
with a raw HTTP load generator in a separate process replaying one pre-signed request:

- STS GetCallerIdentity as root;
- S3 HeadObject as root (bucket owner);
- S3 HeadObject as an IAM user holding 10 managed policies of 20 statements each
  (conditions, wildcards, a policy variable; the one statement that allows the read is
  the last statement of the last policy, so every candidate is looked at).

Prints a table and the overhead of enforcement (goal: ≤ 15 %).  Every request is also
written to the audit log in both settings, so the difference is the engine alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(enforce: bool) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="nimbus-bench-iam-")
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "src"), NIMBUS_ENFORCE_IAM="1" if enforce else "0", NIMBUS_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "nimbus", "start", "--port", str(port), "--https-port", "0", "--data-dir", data],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_nimbus/health", timeout=1)
            return proc, port, data
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nimbus did not start")


def signed(method: str, url: str, service: str, key: str, secret: str, body: bytes = b"", headers: dict | None = None) -> dict:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    if service == "s3":
        req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    auth(Credentials(key, secret), service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    return {"method": method, "url": url, "headers": dict(prepared.headers.items()), "body": body.decode()}


def loadgen_main() -> None:
    cfg = json.load(sys.stdin)
    from urllib.parse import urlsplit

    u = urlsplit(cfg["url"])
    body = cfg["body"].encode()
    lines = [f"{cfg['method']} {u.path or '/'}{'?' + u.query if u.query else ''} HTTP/1.1", f"Host: {u.netloc}"]
    lines += [f"{k}: {v}" for k, v in cfg["headers"].items() if k.lower() not in ("host", "content-length")]
    lines += [f"Content-Length: {len(body)}", "", ""]
    raw = "\r\n".join(lines).encode() + body
    head_only = cfg["method"] == "HEAD"
    counts = {"ok": 0, "bad": 0, "status": {}}

    async def worker(t_measure: float, t_end: float) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while loop.time() < t_end:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                low = head.lower()
                i = low.find(b"\r\ncontent-length:")
                if i >= 0 and not head_only:
                    j = low.index(b"\r\n", i + 2)
                    await reader.readexactly(int(low[i + 17 : j]))
                if loop.time() >= t_measure:
                    if status == 200:
                        counts["ok"] += 1
                    else:
                        counts["bad"] += 1
                        counts["status"][status] = counts["status"].get(status, 0) + 1
        finally:
            writer.close()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        t_measure = loop.time() + cfg["warmup"]
        t_end = t_measure + cfg["duration"]
        await asyncio.gather(*(worker(t_measure, t_end) for _ in range(cfg["concurrency"])))

    asyncio.run(run())
    counts["rps"] = counts["ok"] / cfg["duration"]
    json.dump(counts, sys.stdout)


def measure(request: dict, duration: float, concurrency: int) -> float:
    cfg = dict(request, duration=duration, warmup=1.0, concurrency=concurrency)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--_loadgen"], input=json.dumps(cfg).encode(),
                         capture_output=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode()[-800:])
    result = json.loads(out.stdout)
    if result["bad"]:
        raise RuntimeError(f"non-200 answers: {result['status']}")
    return result["rps"]


def many_policies(user_name: str) -> list[str]:
    docs = []
    for p in range(10):
        statements = []
        for s in range(20):
            statements.append({
                "Sid": f"P{p}S{s}",
                "Effect": "Allow",
                "Action": [f"ec2:Describe{s}*", f"rds:Describe{p}{s}*", "iam:Get*" if s % 5 == 0 else f"sqs:Get{s}"],
                "Resource": [f"arn:aws:ec2:*:*:instance/i-{p}{s}*", f"arn:aws:s3:::other-{p}-{s}/${{aws:username}}/*"],
                **({"Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-west-2"]}}} if s % 3 == 0 else {}),
            })
        docs.append(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    # the one statement that allows the benchmarked read: last statement of the last policy
    last = json.loads(docs[-1])
    last["Statement"][-1] = {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                             "Resource": ["arn:aws:s3:::bench-bucket", "arn:aws:s3:::bench-bucket/*"],
                             "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:username": user_name}}}
    docs[-1] = json.dumps(last)
    return docs


def scenario(enforce: bool, duration: float, concurrency: int) -> dict[str, float]:
    import boto3

    proc, port, data = start(enforce)
    url = f"http://127.0.0.1:{port}"
    try:
        def client(service, key="test", secret="test"):
            return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)

        s3 = client("s3")
        s3.create_bucket(Bucket="bench-bucket")
        s3.put_object(Bucket="bench-bucket", Key="k", Body=b"x" * 100)
        iam = client("iam")
        iam.create_user(UserName="heavy")
        for i, doc in enumerate(many_policies("heavy")):
            arn = iam.create_policy(PolicyName=f"bench-{i}", PolicyDocument=doc)["Policy"]["Arn"]
            iam.attach_user_policy(UserName="heavy", PolicyArn=arn)
        key = iam.create_access_key(UserName="heavy")["AccessKey"]
        client("s3", key["AccessKeyId"], key["SecretAccessKey"]).head_object(Bucket="bench-bucket", Key="k")
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        requests = {
            "STS GetCallerIdentity (root)": signed("POST", url + "/", "sts", "test", "test", body,
                                                   {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}),
            "S3 HeadObject (root)": signed("HEAD", url + "/bench-bucket/k", "s3", "test", "test"),
            "S3 HeadObject (user, 10 policies x 20 statements)": signed("HEAD", url + "/bench-bucket/k", "s3", key["AccessKeyId"], key["SecretAccessKey"]),
        }
        return {name: measure(req, duration, concurrency) for name, req in requests.items()}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        import shutil

        shutil.rmtree(data, ignore_errors=True)


def main() -> int:
    if "--_loadgen" in sys.argv:
        loadgen_main()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternate off/on this many times; the best of each is kept")
    args = parser.parse_args()
    best: dict[bool, dict[str, float]] = {True: {}, False: {}}
    for _ in range(args.rounds):
        for enforce in (False, True):
            for name, rps in scenario(enforce, args.duration, args.concurrency).items():
                best[enforce][name] = max(rps, best[enforce].get(name, 0.0))
    print(f"| request | enforcement off (req/s) | enforcement on (req/s) | overhead |")
    print("|---|---|---|---|")
    for name in best[True]:
        off, on = best[False][name], best[True][name]
        print(f"| {name} | {off:,.0f} | {on:,.0f} | {(off - on) / off * 100:+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
