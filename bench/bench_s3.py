#!/usr/bin/env python3
"""S3 side-by-side benchmark: Nimbus vs moto_server, in one run.

    python bench/bench_s3.py [--quick] [--output bench/RESULTS.md]

Reuses bench_core's process management.  Small-object rates use pre-signed requests
replayed by a raw asyncio load generator in a separate process (boto3 itself cannot
push thousands of requests per second); big objects are streamed with http.client over
pre-signed URLs; listings and the multipart complete step use boto3.  Ratios > 1 mean
Nimbus is better.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_core as core  # noqa: E402

MiB = 1 << 20


def client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      max_pool_connections=32, read_timeout=300))


def presign(s3, method: str, bucket: str, key: str, **params) -> tuple[str, dict]:
    op = {"PUT": "put_object", "GET": "get_object"}[method]
    url = s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key, **params}, ExpiresIn=3600)
    headers = {}
    if params.get("ServerSideEncryption"):
        headers["x-amz-server-side-encryption"] = params["ServerSideEncryption"]
    return url, headers


# --------------------------------------------------------------------------- raw load generator (child)

def loadgen_main() -> None:
    cfg = json.load(sys.stdin)
    requests_ = [(m, u, h, bytes.fromhex(b) if isinstance(b, str) else b"") for m, u, h, b in cfg["requests"]]
    body = b"x" * cfg["body_size"]
    conc, duration, warmup, once = cfg["concurrency"], cfg["duration"], cfg["warmup"], cfg.get("once", False)
    res = {"ok": 0, "errors": 0, "statuses": {}}

    def raw(method, url, headers):
        u = urlsplit(url)
        lines = [f"{method} {u.path}?{u.query} HTTP/1.1", f"Host: {u.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if method == "PUT":
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body if method == "PUT" else b""), u.hostname, u.port

    prepared = [raw(m, u, h) for m, u, h, _ in requests_]

    async def worker(index: int, t_measure: float, t_end: float):
        loop = asyncio.get_running_loop()
        host, port = prepared[0][1], prepared[0][2]
        reader = writer = None
        n = index
        try:
            while True:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                if once:
                    if n >= len(prepared):
                        return
                elif loop.time() >= t_end:
                    return
                data = prepared[n % len(prepared)][0]
                n += conc
                writer.write(data)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                low = head.lower()
                i = low.find(b"\r\ncontent-length:")
                if i >= 0:
                    j = low.index(b"\r\n", i + 2)
                    await reader.readexactly(int(low[i + 17:j]))
                elif b"transfer-encoding: chunked" in low:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        if size == 0:
                            await reader.readuntil(b"\r\n")
                            break
                        await reader.readexactly(size + 2)
                else:
                    await reader.read()
                    low += b"connection: close"
                if b"connection: close" in low or head.startswith(b"HTTP/1.0"):
                    writer.close()
                    writer = None
                if once or loop.time() >= t_measure:
                    if status == 200:
                        res["ok"] += 1
                    else:
                        res["errors"] += 1
                        res["statuses"][str(status)] = res["statuses"].get(str(status), 0) + 1
        finally:
            if writer is not None:
                writer.close()

    async def run():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        t_measure, t_end = t0 + warmup, t0 + warmup + duration
        w0 = time.perf_counter()
        await asyncio.gather(*(worker(i, t_measure, t_end) for i in range(conc)))
        res["wall"] = time.perf_counter() - w0 - (0 if once else warmup)

    asyncio.run(run())
    json.dump(res, sys.stdout)


def run_loadgen(requests_: list, body_size: int, concurrency: int, duration: float, warmup: float, once: bool = False) -> dict:
    cfg = {"requests": [(m, u, h, "") for m, u, h in requests_], "body_size": body_size, "concurrency": concurrency,
           "duration": duration, "warmup": warmup, "once": once}
    p = core.spawn([sys.executable, os.path.abspath(__file__), "--_loadgen"], stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(json.dumps(cfg).encode(), timeout=duration + warmup + 300)
    finally:
        core.stop_process(p, grace=1.0)
    if p.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-800:]}")
    res = json.loads(out)
    res["rps"] = res["ok"] / res["wall"] if res["wall"] > 0 else 0.0
    return res


# --------------------------------------------------------------------------- big objects

def stream_put(url: str, headers: dict, size: int) -> float:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    chunk = os.urandom(MiB)
    t0 = time.perf_counter()
    conn.putrequest("PUT", f"{u.path}?{u.query}", skip_accept_encoding=True)
    conn.putheader("Content-Length", str(size))
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    sent = 0
    while sent < size:
        conn.send(chunk[: min(MiB, size - sent)])
        sent += MiB
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"PUT answered {resp.status}")
    return elapsed


def stream_get(url: str) -> tuple[float, int]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.perf_counter()
    conn.request("GET", f"{u.path}?{u.query}")
    resp = conn.getresponse()
    total = 0
    while True:
        data = resp.read(4 * MiB)
        if not data:
            break
        total += len(data)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed, total


def list_all_raw(s3, bucket: str, prefix: str) -> int:
    """Every page of ListObjectsV2 over one keep-alive connection (pre-signed; the client
    only finds the continuation token, so boto3's XML parsing is not what is measured)."""
    import re

    conn = None
    count, token = 0, None
    while True:
        params = {"Bucket": bucket, "Prefix": prefix}
        if token:
            params["ContinuationToken"] = token
        u = urlsplit(s3.generate_presigned_url("list_objects_v2", Params=params, ExpiresIn=600))
        if conn is None:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("GET", f"{u.path}?{u.query}")
        body = conn.getresponse().read()
        count += body.count(b"<Key>")
        match = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
        if not match:
            conn.close()
            return count
        import html

        token = html.unescape(match.group(1).decode())


# --------------------------------------------------------------------------- phases

def measure(server: core.Server, P: dict, log, sse_phases: bool) -> dict:
    s3 = client(server.url)
    out: dict = {}
    bucket = "bench-bucket"
    s3.create_bucket(Bucket=bucket)
    sampler = core.RssSampler(server.pid)
    sampler.start()
    try:
        for label, extra in [("", {})] + ([("sse ", {"ServerSideEncryption": "AES256"})] if sse_phases else []):
            # 4 KiB PUT / GET, pre-signed and replayed (distinct keys per connection)
            puts = [("PUT", *presign(s3, "PUT", bucket, f"small/{i}", **extra)) for i in range(P["small_conc"])]
            res = run_loadgen(puts, 4096, P["small_conc"], P["small_duration"], P["warmup"])
            out[f"{label}put4k"] = res["rps"]
            log(f"  {server.name} {label}4 KiB PUT {res['rps']:.0f}/s errors {res['errors']} {res['statuses']}")
            gets = [("GET", *presign(s3, "GET", bucket, f"small/{i}")) for i in range(P["small_conc"])]
            res = run_loadgen([(m, u, {}) for m, u, _ in gets], 0, P["small_conc"], P["small_duration"], P["warmup"])
            out[f"{label}get4k"] = res["rps"]
            log(f"  {server.name} {label}4 KiB GET {res['rps']:.0f}/s errors {res['errors']} {res['statuses']}")
            # big object
            size = P["big_mib"] * MiB
            put_times, get_times = [], []
            for rep in range(P["big_reps"]):
                url, headers = presign(s3, "PUT", bucket, f"big/{rep}", **extra)
                put_times.append(stream_put(url, headers, size))
                url, _ = presign(s3, "GET", bucket, f"big/{rep}")
                elapsed, got = stream_get(url)
                assert got == size, (got, size)
                get_times.append(elapsed)
                s3.delete_object(Bucket=bucket, Key=f"big/{rep}")
            out[f"{label}put_big"] = size / MiB / min(put_times)
            out[f"{label}get_big"] = size / MiB / min(get_times)
            log(f"  {server.name} {label}{P['big_mib']} MiB PUT {out[f'{label}put_big']:.0f} MiB/s GET {out[f'{label}get_big']:.0f} MiB/s")

        # list 10,000 keys (all pages)
        n = P["list_keys"]
        puts = [("PUT", *presign(s3, "PUT", bucket, f"list/{i:06d}")) for i in range(n)]
        res = run_loadgen(puts, 16, 16, 0, 0, once=True)
        if res["ok"] != n:
            log(f"  {server.name} populate: {res['ok']} of {n} ({res['statuses']})")
        times = []
        for _ in range(P["list_reps"]):
            t0 = time.perf_counter()
            count = list_all_raw(s3, bucket, "list/")
            times.append(time.perf_counter() - t0)
            assert count == n, count
        out["list"] = min(times)
        log(f"  {server.name} list {n} keys {out['list']:.3f} s")

        # multipart: 4 parts of 64 MiB, time the complete step only
        upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")
        parts = []
        for number in range(1, P["mpu_parts"] + 1):
            url = s3.generate_presigned_url("upload_part", Params={"Bucket": bucket, "Key": "mpu", "UploadId": upload["UploadId"],
                                                                   "PartNumber": number}, ExpiresIn=3600)
            stream_put(url, {}, 64 * MiB)
        for part in s3.list_parts(Bucket=bucket, Key="mpu", UploadId=upload["UploadId"])["Parts"]:
            parts.append({"PartNumber": part["PartNumber"], "ETag": part["ETag"]})
        t0 = time.perf_counter()
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
        out["mpu_complete"] = time.perf_counter() - t0
        log(f"  {server.name} complete {P['mpu_parts'] * 64} MiB multipart {out['mpu_complete']:.3f} s")
    finally:
        out["peak_rss"] = sampler.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output")
    ap.add_argument("--_loadgen", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._loadgen:
        loadgen_main()
        return 0
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    import atexit

    atexit.register(core._cleanup)
    q = args.quick
    P = {"small_conc": 16, "small_duration": 1.0 if q else 3.0, "warmup": 0.3 if q else 0.5, "big_mib": 64,
         "big_reps": 1 if q else 3, "list_keys": 2000 if q else 10000, "list_reps": 1 if q else 3, "mpu_parts": 4}
    nimbus_env = {"PYTHONPATH": os.path.join(core.REPO, "src")}
    servers = {
        "nimbus": core.Server("nimbus", "{python} -m nimbus start --host {host} --port {port} --https-port {https_port} --data-dir {data_dir}",
                              "/_nimbus/health", True, nimbus_env),
        "moto": core.Server("moto", "{python} -m moto.server -H {host} -p {port}", "/moto-api/", False),
    }
    t_all = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_all:6.1f}s] {msg}", file=sys.stderr, flush=True)

    results = {}
    load_before = os.getloadavg()
    for name, server in servers.items():
        server.start(60)
        log(f"{name} up on {server.url}")
        try:
            results[name] = measure(server, P, log, sse_phases=name == "nimbus")
        finally:
            server.stop()
    n, m = results["nimbus"], results["moto"]
    rows = [
        ("S3 PUT 4 KiB objects/s (16 conn, pre-signed)", n["put4k"], m["put4k"], n["put4k"] / m["put4k"], "≥ 10× moto", n["put4k"] >= 10 * m["put4k"]),
        ("S3 GET 4 KiB objects/s (16 conn, pre-signed)", n["get4k"], m["get4k"], n["get4k"] / m["get4k"], "≥ 10× moto", n["get4k"] >= 10 * m["get4k"]),
        ("S3 PUT 64 MiB MiB/s", n["put_big"], m["put_big"], n["put_big"] / m["put_big"], "≥ 5× moto", n["put_big"] >= 5 * m["put_big"]),
        ("S3 GET 64 MiB MiB/s", n["get_big"], m["get_big"], n["get_big"] / m["get_big"], "≥ 2.5× moto", n["get_big"] >= 2.5 * m["get_big"]),
        (f"list {P['list_keys']:,} keys, all pages (s)", n["list"], m["list"], m["list"] / n["list"], "≥ 15× faster", m["list"] >= 15 * n["list"]),
        ("complete 256 MiB multipart (s)", n["mpu_complete"], m["mpu_complete"], m["mpu_complete"] / n["mpu_complete"], "nimbus ≤ 0.2 s", n["mpu_complete"] <= 0.2),
        ("peak RSS during the S3 run (MiB, tree)", n["peak_rss"], m["peak_rss"], m["peak_rss"] / n["peak_rss"], "nimbus ≤ 150 MiB", n["peak_rss"] <= 150),
    ]
    sse_rows = [
        ("SSE-S3 PUT 4 KiB objects/s", n["sse put4k"], n["put4k"]),
        ("SSE-S3 GET 4 KiB objects/s", n["sse get4k"], n["get4k"]),
        ("SSE-S3 PUT 64 MiB MiB/s", n["sse put_big"], n["put_big"]),
        ("SSE-S3 GET 64 MiB MiB/s", n["sse get_big"], n["get_big"]),
    ]
    lines = ["# Nimbus vs moto — S3 benchmark", "",
             f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; mode: {'quick' if q else 'full'}; nproc {os.cpu_count()}; "
             f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}",
             "- `python bench/bench_s3.py` — small objects: pre-signed SigV4 requests replayed by a raw asyncio load generator "
             "(separate process); 64 MiB: http.client streaming over pre-signed URLs (best of reps); listing: pre-signed "
             "ListObjectsV2 pages over one connection (best of reps); multipart complete: boto3.",
             "", "| metric | nimbus | moto | ratio (>1 = Nimbus better) | target | met |", "|---|---:|---:|---:|---|:-:|"]
    for label, nv, mv, r, target, ok in rows:
        lines.append(f"| {label} | {nv:,.3f} | {mv:,.3f} | {r:.2f}× | {target} | {'yes' if ok else 'NO'} |"
                     if nv < 10 else f"| {label} | {nv:,.0f} | {mv:,.0f} | {r:.2f}× | {target} | {'yes' if ok else 'NO'} |")
    lines += ["", "SSE-S3 cost (Nimbus, same run; target: ≤ 30 % throughput cost):", "",
              "| metric | with SSE-S3 | without | cost | met |", "|---|---:|---:|---:|:-:|"]
    for label, with_sse, without in sse_rows:
        cost = 1 - with_sse / without
        lines.append(f"| {label} | {with_sse:,.0f} | {without:,.0f} | {cost * 100:.0f} % | {'yes' if cost <= 0.30 else 'NO'} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
