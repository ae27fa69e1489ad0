#!/usr/bin/env python3
"""Engine benchmark: how fast RDS and ElastiCache resources become usable, and what they cost.

    python bench/bench_engines.py [--rounds 3] [--output bench/RESULTS.md]

Starts one Nimbus (fresh temporary data directory; engine templates come from the
shared engine cache, built first if missing and not timed) and measures, with ordinary
clients on the endpoints handed out:

- CreateDBInstance → first successful ``SELECT 1`` (postgres, mariadb), polling the
  endpoint directly (goal ≤ 1.5 s PostgreSQL, ≤ 2 s MariaDB);
- Multi-AZ forced failover and Aurora ``FailoverDBCluster`` until the same endpoint
  accepts writes again (goal ≤ 5 s);
- CreateCacheCluster → first ``PING`` (redis/valkey) or ``version`` (memcached)
  (goal ≤ 0.5 s);
- RSS of each idle engine (the whole process tree: PostgreSQL forks helpers).

No peer is run: free emulators have no engine behind their endpoints to compare with.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import pymysql  # noqa: E402
import redis  # noqa: E402

from nimbus_process import NimbusServer  # noqa: E402

PASSWORD = "bench-Pass1"


def until(check, timeout: float = 60.0) -> float:
    start = time.perf_counter()
    while True:
        try:
            if check():
                return time.perf_counter() - start
        except Exception:
            pass
        if time.perf_counter() - start > timeout:
            raise TimeoutError("not ready")
        time.sleep(0.005)


def tree_rss(address: str, port: int) -> float:
    """RSS (MiB) of the process listening on address:port plus its children."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == "LISTEN" and conn.laddr and conn.laddr.ip == address and conn.laddr.port == port and conn.pid:
            proc = psutil.Process(conn.pid)
            procs = [proc] + proc.children(recursive=True)
            return sum(p.memory_info().rss for p in procs) / (1 << 20)
    return float("nan")


def engine_rss(data_dir: Path, needle: str) -> float:
    """RSS (MiB) of engine processes whose command line mentions ``needle`` (PostgreSQL
    listens on a Unix socket behind Nimbus's TLS front, so it is found by data dir)."""
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if needle in cmd and str(data_dir) in cmd:
            try:
                total += sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True))
            except psutil.Error:
                pass
    return total / (1 << 20)


def bench_rds(server: NimbusServer, engine: str, rounds: int) -> tuple[list[float], float]:
    rds = server.client("rds")
    times = []
    for i in range(rounds + 1):  # round 0 warms the template cache and is not counted
        ident = f"bench-{engine}-{i}"
        start = time.perf_counter()
        db = rds.create_db_instance(DBInstanceIdentifier=ident, Engine=engine, DBInstanceClass="db.t3.micro",
                                    AllocatedStorage=20, MasterUsername="bench", MasterUserPassword=PASSWORD,
                                    DBName="bench")["DBInstance"]
        ep = db["Endpoint"]
        if engine == "postgres":
            def check():
                with psycopg.connect(host=ep["Address"], port=ep["Port"], user="bench", password=PASSWORD,
                                     dbname="bench", connect_timeout=2) as conn:
                    return conn.execute("SELECT 1").fetchone()[0] == 1
        else:
            def check():
                conn = pymysql.connect(host=ep["Address"], port=ep["Port"], user="bench", password=PASSWORD,
                                       database="bench", connect_timeout=2)
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    ok = cur.fetchone()[0] == 1
                conn.close()
                return ok
        until(check)
        if i:
            times.append(time.perf_counter() - start)
        time.sleep(2.0)  # a user does not create databases back to back: let Nimbus refill its spare data dir
    time.sleep(1.0)  # idle
    needle = "postgres -D" if engine == "postgres" else "mariadbd"
    rss = engine_rss(server.data_dir, needle) / (rounds + 1)
    for i in range(rounds + 1):
        rds.delete_db_instance(DBInstanceIdentifier=f"bench-{engine}-{i}", SkipFinalSnapshot=True)
    return times, rss


def bench_cache(server: NimbusServer, engine: str, rounds: int) -> tuple[list[float], float]:
    ec = server.client("elasticache")
    times, rss = [], []
    for i in range(rounds + 1):
        cid = f"bench-{engine}-{i}"
        start = time.perf_counter()
        ec.create_cache_cluster(CacheClusterId=cid, Engine=engine, CacheNodeType="cache.t3.micro", NumCacheNodes=1)
        node = None
        while node is None:
            c = ec.describe_cache_clusters(CacheClusterId=cid, ShowCacheNodeInfo=True)["CacheClusters"][0]
            node = (c.get("CacheNodes") or [{}])[0].get("Endpoint")
        address, port = node["Address"], node["Port"]
        if engine == "memcached":
            def check():
                with socket.create_connection((address, port), timeout=1) as s:
                    s.sendall(b"version\r\n")
                    return s.recv(100).startswith(b"VERSION")
        else:
            def check():
                return redis.Redis(host=address, port=port, socket_timeout=1).ping()
        until(check)
        if i:
            times.append(time.perf_counter() - start)
        rss.append(tree_rss(address, port))
    for i in range(rounds + 1):
        ec.delete_cache_cluster(CacheClusterId=f"bench-{engine}-{i}")
    return times, statistics.mean(rss)


def _wait_available(rds, ident: str) -> dict:
    while True:
        db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        if db["DBInstanceStatus"] == "available":
            return db
        time.sleep(0.02)


def _writable(address: str, port: int, user: str) -> bool:
    with psycopg.connect(host=address, port=port, user=user, password=PASSWORD, dbname="bench",
                         connect_timeout=2, autocommit=True) as conn:
        if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            return False
        conn.execute("CREATE TABLE IF NOT EXISTS probe (v int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        return True


def bench_failover(server: NimbusServer, rounds: int) -> tuple[list[float], list[float]]:
    """Multi-AZ forced failover and Aurora FailoverDBCluster → the same endpoint accepts writes."""
    rds = server.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="bench-maz", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="bench", MasterUserPassword=PASSWORD, MultiAZ=True,
                           DBName="bench")
    ep = _wait_available(rds, "bench-maz")["Endpoint"]
    multi_az = []
    for _ in range(rounds):
        time.sleep(2.0)  # let the standby be rebuilt and streaming
        start = time.perf_counter()
        rds.reboot_db_instance(DBInstanceIdentifier="bench-maz", ForceFailover=True)
        time.sleep(0.05)
        until(lambda: _writable(ep["Address"], ep["Port"], "bench") and
              rds.describe_db_instances(DBInstanceIdentifier="bench-maz")["DBInstances"][0]["DBInstanceStatus"] == "available")
        multi_az.append(time.perf_counter() - start)
    rds.delete_db_instance(DBInstanceIdentifier="bench-maz", SkipFinalSnapshot=True)
    cluster = rds.create_db_cluster(DBClusterIdentifier="bench-aur", Engine="aurora-postgresql", MasterUsername="bench",
                                    MasterUserPassword=PASSWORD, DatabaseName="bench")["DBCluster"]
    members = ["bench-aur-1", "bench-aur-2"]
    for ident in members:
        rds.create_db_instance(DBInstanceIdentifier=ident, DBClusterIdentifier="bench-aur", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")
        _wait_available(rds, ident)
    aurora = []
    for i in range(rounds):
        for ident in members:
            _wait_available(rds, ident)
        time.sleep(1.0)
        target = members[(i + 1) % 2]
        start = time.perf_counter()
        rds.failover_db_cluster(DBClusterIdentifier="bench-aur", TargetDBInstanceIdentifier=target)
        time.sleep(0.05)
        until(lambda: _writable(cluster["Endpoint"], 5432, "bench"))
        aurora.append(time.perf_counter() - start)
    for ident in members:
        rds.delete_db_instance(DBInstanceIdentifier=ident)
    rds.delete_db_cluster(DBClusterIdentifier="bench-aur", SkipFinalSnapshot=True)
    return multi_az, aurora


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        server = NimbusServer(Path(tmp) / "data").start()
        try:
            rows = []
            for engine, goal in (("postgres", 1.5), ("mariadb", 2.0)):
                times, rss = bench_rds(server, engine, args.rounds)
                rows.append((f"CreateDBInstance → SELECT 1, {engine} (s)", times, f"≤ {goal} s", max(times) <= goal, rss))
            multi_az, aurora = bench_failover(server, args.rounds)
            rows.append(("Multi-AZ forced failover → writes on the same endpoint (s)", multi_az, "≤ 5 s", max(multi_az) <= 5,
                         float("nan")))
            rows.append(("Aurora FailoverDBCluster → writes on the cluster endpoint (s)", aurora, "≤ 5 s", max(aurora) <= 5,
                         float("nan")))
            for engine in ("redis", "memcached"):
                times, rss = bench_cache(server, engine, args.rounds)
                rows.append((f"CreateCacheCluster → {'PING' if engine == 'redis' else 'version'}, {engine} (s)", times,
                             "≤ 0.5 s", max(times) <= 0.5, rss))
        finally:
            server.stop()
    load_after = os.getloadavg()[0]
    lines = [f"\n## Engines: RDS and ElastiCache ({_dt.date.today().isoformat()}, {os.cpu_count()} cores)\n",
             "| measure | median | samples | goal | met | idle RSS per instance (MiB) |", "|---|---|---|---|---|---|"]
    for name, times, goal, met, rss in rows:
        lines.append(f"| {name} | {statistics.median(times):.3f} | {', '.join(f'{t:.3f}' for t in times)} | {goal} | "
                     f"{'yes' if met else 'NO'} | {'—' if rss != rss else f'{rss:.1f}'} |")
    lines.append("")
    lines.append(f"- load average (1 min) {load_before:.2f} before, {load_after:.2f} after"
                 + (" — **the machine was busy with other work: numbers are noisy**" if max(load_before, load_after) > 1.5 else ""))
    lines.append("- Nimbus keeps one spare PostgreSQL data dir copied ahead; instances are created 2 s apart so it is"
                 " refilled (back-to-back creations also pay a ~30 MiB template copy, ~0.3–1 s on this disk).")
    lines.append("- PostgreSQL RSS counts the postmaster and its helper processes; the first instance of each engine"
                 " (template warm-up) is not timed.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
