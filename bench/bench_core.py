#!/usr/bin/env python3
"""Core side-by-side benchmark: Nimbus vs moto_server, in one run.

    python bench/bench_core.py [--quick] [--output bench/RESULTS.md]

Starts Nimbus and moto_server as subprocesses on free 127.0.0.1 ports (each with its
own fresh temporary data directory), measures start-up time, idle RSS, STS
GetCallerIdentity requests/s (replayed pre-signed request, aiohttp load generator in a
separate process) and S3 PUT/GET throughput with boto3, then prints a markdown table.
The ratio column is oriented so that > 1 always means "Nimbus is better".

See bench/README.md for what each metric means.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import http.client
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOST = "127.0.0.1"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"

# Every process we spawn is registered here and killed at exit, whatever happens.
_PROCS: list[subprocess.Popen] = []
_TMPDIRS: list[str] = []


# --------------------------------------------------------------------------- /proc

def _read_stat(pid: int):
    """(ppid, session id, utime+stime ticks) from /proc/PID/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    # rest[0] = state (field 3); field N is rest[N-3]
    return int(rest[1]), int(rest[3]), int(rest[11]) + int(rest[12])


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (servers are started in their own session, so
    anything in that session counts too)."""
    parents: dict[int, int] = {}
    members = {pid}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(int(name))
        if st is None:
            continue
        parents[int(name)] = st[0]
        if st[1] == pid:
            members.add(int(name))
    changed = True
    while changed:  # bounded: at most len(parents) passes
        changed = False
        for child, parent in parents.items():
            if parent in members and child not in members:
                members.add(child)
                changed = True
    return sorted(members)


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(pid: int) -> float:
    """Sum of VmRSS over the process tree, MiB (shared pages are counted per process)."""
    return sum(_status_kib(p, "VmRSS") for p in process_tree(pid)) / 1024.0


def tree_cpu_seconds(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        st = _read_stat(p)
        if st:
            total += st[2]
    return total / CLK_TCK


def hwm_mib(pid: int) -> float:
    return _status_kib(pid, "VmHWM") / 1024.0


class RssSampler(threading.Thread):
    """Samples the tree RSS of a pid every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0.0
        self.samples = 0
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            self.peak = max(self.peak, tree_rss_mib(self.pid))
            self.samples += 1
            self._stop_evt.wait(self.interval)

    def stop(self) -> float:
        self._stop_evt.set()
        self.join(5)
        self.peak = max(self.peak, tree_rss_mib(self.pid))
        return self.peak


# --------------------------------------------------------------------------- processes

def _pdeathsig():
    """Child pre-exec: die with SIGKILL if the benchmark process dies (even kill -9)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(cmd, **kw) -> subprocess.Popen:
    p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_pdeathsig, **kw)
    _PROCS.append(p)
    return p


def stop_process(p: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it after `grace` seconds."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # kill stragglers of the group even when the leader has exited
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass
    if p in _PROCS:
        _PROCS.remove(p)


def _cleanup():
    for p in list(_PROCS):
        stop_process(p, grace=2.0)
    for d in list(_TMPDIRS):
        shutil.rmtree(d, ignore_errors=True)
        _TMPDIRS.remove(d)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_status(port: int, method: str, path: str, timeout: float = 1.0) -> int | None:
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        c.close()


class Server:
    """One server kind (nimbus or moto): how to start it and how to tell it is ready."""

    def __init__(self, name: str, cmd_template: str, ready_path: str, need_200: bool,
                 env_extra: dict | None = None):
        self.name = name
        self.cmd_template = cmd_template
        self.ready_path = ready_path
        self.need_200 = need_200
        self.env_extra = env_extra or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.data_dir = ""
        self.log_path = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float) -> float:
        """Spawn on a fresh port and data dir; return seconds until the first good answer."""
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        _TMPDIRS.append(self.data_dir)
        self.log_path = os.path.join(self.data_dir, "server.log")
        cmd = shlex.split(self.cmd_template.format(
            python=shlex.quote(sys.executable), port=self.port, https_port=free_port(),
            data_dir=shlex.quote(self.data_dir), host=HOST))
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AWS_") or k.lower().endswith("_proxy"):
                del env[k]
        env.update({"TMPDIR": self.data_dir, "PYTHONUNBUFFERED": "1",
                    "NO_PROXY": "*", "no_proxy": "*"})
        env.update(self.env_extra)
        log = open(self.log_path, "wb")
        t0 = time.perf_counter()
        try:
            self.proc = spawn(cmd, cwd=self.data_dir, env=env, stdin=subprocess.DEVNULL,
                              stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            status = http_status(self.port, "GET", self.ready_path, timeout=0.5)
            if status is not None and (status == 200 or not self.need_200):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before "
                                   f"answering; log tail:\n{self.log_tail()}")
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f} s "
                           f"(GET {self.ready_path}); log tail:\n{self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    " + ln for ln in lines[-n:])
        except OSError:
            return "    (no log)"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.data_dir in _TMPDIRS:
                _TMPDIRS.remove(self.data_dir)
            self.data_dir = ""


# --------------------------------------------------------------------------- clients

def boto_config(**extra):
    from botocore.config import Config
    return Config(region_name="us-east-1", s3={"addressing_style": "path"},
                  retries={"max_attempts": 1, "mode": "standard"},  # no retries: errors show
                  connect_timeout=5, read_timeout=120, max_pool_connections=32, **extra)


def boto_client(service: str, url: str):
    import boto3
    return boto3.session.Session().client(
        service, endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1", config=boto_config())


def presign_sts(url: str) -> dict:
    """Sign ONE GetCallerIdentity request (SigV4 header auth); returns replayable parts."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url=url + "/", data=STS_BODY.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("test", "test"), "sts", "us-east-1").add_auth(req)
    prepared = req.prepare()
    headers = {k: v for k, v in prepared.headers.items()}
    return {"url": url + "/", "headers": headers, "body": STS_BODY}


# --------------------------------------------------------------------------- load generator

def loadgen_main() -> None:
    """Child-process mode: JSON config on stdin, JSON result on stdout."""
    cfg = json.load(sys.stdin)
    import asyncio
    import aiohttp

    url, headers, body = cfg["url"], cfg["headers"], cfg["body"].encode()
    conc, duration, warmup = cfg["concurrency"], cfg["duration"], cfg["warmup"]
    server_pid = cfg.get("server_pid")
    res = {"ok": 0, "errors": 0, "error_samples": [], "statuses": {}}

    async def worker(t_measure: float, t_end: float):
        loop = asyncio.get_running_loop()
        conn = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout,
                                         skip_auto_headers=("User-Agent",)) as s:
            consecutive_err = 0
            while loop.time() < t_end:
                try:
                    async with s.post(url, data=body, headers=headers) as r:
                        await r.read()
                        good = r.status == 200
                        status = r.status
                except Exception as e:  # noqa: BLE001 - any failure is an error
                    good, status = False, type(e).__name__
                record(t_measure, good, status)
                if good:
                    consecutive_err = 0
                else:
                    consecutive_err += 1
                    if consecutive_err > 50:  # server is dead or refusing: stop hammering
                        await asyncio.sleep(0.05)

    def record(t_measure, good, status):
        if asyncio.get_running_loop().time() < t_measure:
            return
        if good:
            res["ok"] += 1
        else:
            res["errors"] += 1
            res["statuses"][str(status)] = res["statuses"].get(str(status), 0) + 1
            if len(res["error_samples"]) < 3:
                res["error_samples"].append(str(status))

    # raw mode: one asyncio stream per connection, the request bytes written verbatim,
    # the response parsed just enough (status, Content-Length / chunked / close).
    from urllib.parse import urlsplit
    u = urlsplit(url)
    host, port = u.hostname, u.port
    lines = [f"POST {u.path or '/'} HTTP/1.1", f"Host: {u.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    lines += [f"Content-Length: {len(body)}", "", ""]
    raw_req = "\r\n".join(lines).encode() + body

    async def raw_worker(t_measure: float, t_end: float):
        loop = asyncio.get_running_loop()
        consecutive_err = 0
        while loop.time() < t_end:
            writer = None
            try:
                reader, writer = await asyncio.open_connection(host, port)
                while loop.time() < t_end:
                    writer.write(raw_req)
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head[9:12])
                    low = head.lower()
                    close = b"connection: close" in low or head.startswith(b"HTTP/1.0")
                    i = low.find(b"\r\ncontent-length:")
                    if i >= 0:
                        j = low.index(b"\r\n", i + 2)
                        await reader.readexactly(int(low[i + 17:j]))
                    elif b"transfer-encoding: chunked" in low:
                        for _ in range(1 << 20):
                            n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                            if n == 0:
                                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                                    pass
                                break
                            await reader.readexactly(n + 2)
                    else:
                        await reader.read()
                        close = True
                    record(t_measure, status == 200, status)
                    consecutive_err = 0 if status == 200 else consecutive_err + 1
                    if close:
                        break
            except Exception as e:  # noqa: BLE001
                record(t_measure, False, type(e).__name__)
                consecutive_err += 1
                if consecutive_err > 50:
                    await asyncio.sleep(0.05)
            finally:
                if writer is not None:
                    writer.close()

    async def run():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        t_measure = t0 + warmup
        t_end = t_measure + duration
        fn = raw_worker if cfg.get("mode") == "raw" else worker
        tasks = [asyncio.create_task(fn(t_measure, t_end)) for _ in range(conc)]
        await asyncio.sleep(max(0.0, t_measure - loop.time()))
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        srv0 = tree_cpu_seconds(server_pid) if server_pid else 0.0
        w0 = time.perf_counter()
        done, pending = await asyncio.wait(tasks, timeout=duration + 15)
        for t in pending:  # a hung server: cancel, count it, report what we have
            t.cancel()
            res["errors"] += 1
            res["statuses"]["hung"] = res["statuses"].get("hung", 0) + 1
        wall = time.perf_counter() - w0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        srv1 = tree_cpu_seconds(server_pid) if server_pid else 0.0
        res["wall"] = wall
        res["loadgen_cpu"] = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / wall
        res["server_cpu"] = (srv1 - srv0) / wall

    asyncio.run(run())
    json.dump(res, sys.stdout)


def run_loadgen(server: Server, concurrency: int, duration: float, warmup: float,
                mode: str = "aiohttp") -> dict:
    cfg = presign_sts(server.url)  # fresh signature for each run (valid 15 minutes)
    cfg.update(concurrency=concurrency, duration=duration, warmup=warmup,
               server_pid=server.pid, mode=mode)
    p = spawn([sys.executable, os.path.abspath(__file__), "--_loadgen"],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(json.dumps(cfg).encode(), timeout=duration + warmup + 60)
    except subprocess.TimeoutExpired:
        stop_process(p, grace=1.0)
        raise RuntimeError("load generator timed out")
    finally:
        stop_process(p, grace=1.0)
    if p.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-800:]}")
    res = json.loads(out)
    res["rps"] = res["ok"] / res["wall"] if res["wall"] > 0 else 0.0
    return res


# --------------------------------------------------------------------------- S3 phases

def _run_threads(n: int, fn) -> list:
    out = [None] * n
    def wrap(i):
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001
            out[i] = e
    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def _read_body(resp) -> int:
    body = resp["Body"]
    n = 0
    try:
        for _ in range(1 << 20):  # bounded
            chunk = body.read(MiB)
            if not chunk:
                break
            n += len(chunk)
    finally:
        body.close()
    return n


def s3_timed(s3, bucket: str, prefix: str, size: int, threads: int, duration: float,
             payload: bytes) -> dict:
    """PUT for `duration` s over `threads` threads, then GET the same keys for `duration` s."""
    keys: list[list[str]] = [[] for _ in range(threads)]
    errors = {"put": [], "get": []}
    lock = threading.Lock()

    def note(kind, e):
        with lock:
            errors[kind].append(f"{type(e).__name__}: {e}"[:200])

    def putter(tid):
        end = time.perf_counter() + duration
        i = n_err = 0
        while time.perf_counter() < end and n_err < 20 and i < 1_000_000:
            key = f"{prefix}/{tid}/{i}"
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=payload)
                keys[tid].append(key)
            except Exception as e:  # noqa: BLE001
                n_err += 1
                note("put", e)
            i += 1
        return None

    def getter(tid):
        end = time.perf_counter() + duration
        mine = keys[tid]
        n = n_err = j = 0
        while mine and time.perf_counter() < end and n_err < 20 and j < 1_000_000:
            try:
                got = _read_body(s3.get_object(Bucket=bucket, Key=mine[j % len(mine)]))
                if got != size:
                    raise ValueError(f"short body {got} != {size}")
                n += 1
            except Exception as e:  # noqa: BLE001
                n_err += 1
                note("get", e)
            j += 1
        return n

    res = {}
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    _run_threads(threads, putter)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    n_put = sum(len(k) for k in keys)
    # no successful operation = no number (n/a), never a misleading 0
    res["put_ops"] = n_put / wall if n_put else None
    res["put_mibs"] = n_put * size / MiB / wall if n_put else None
    res["put_client_cpu"] = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / wall
    t0 = time.perf_counter()
    got = _run_threads(threads, getter)
    wall = time.perf_counter() - t0
    ru2 = resource.getrusage(resource.RUSAGE_SELF)
    n_get = sum(g for g in got if isinstance(g, int))
    res["get_ops"] = n_get / wall if n_get else None
    res["get_mibs"] = n_get * size / MiB / wall if n_get else None
    res["get_client_cpu"] = (ru2.ru_utime + ru2.ru_stime - ru1.ru_utime - ru1.ru_stime) / wall
    res["put_errors"], res["get_errors"] = len(errors["put"]), len(errors["get"])
    res["error_samples"] = list(dict.fromkeys(errors["put"] + errors["get"]))[:3]
    return res


def s3_big(s3, server: Server, bucket: str, size: int, reps: int, payload: bytes) -> dict:
    """Sequential PUTs (overwriting one key) then GETs of it; RSS sampled throughout."""
    base = tree_rss_mib(server.pid)
    sampler = RssSampler(server.pid)
    sampler.start()
    put_t, get_t, errs = [], [], []
    try:
        for i in range(reps):
            t0 = time.perf_counter()
            try:
                s3.put_object(Bucket=bucket, Key="big", Body=payload)  # overwrite: one object kept
                put_t.append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                errs.append(f"PUT {type(e).__name__}: {e}"[:200])
        for i in range(reps):
            if not put_t:
                break
            t0 = time.perf_counter()
            try:
                got = _read_body(s3.get_object(Bucket=bucket, Key="big"))
                if got != size:
                    raise ValueError(f"short body {got} != {size}")
                get_t.append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                errs.append(f"GET {type(e).__name__}: {e}"[:200])
    finally:
        peak = sampler.stop()
    return {  # throughput of the median operation (robust to one slow outlier)
        "put_mibs": size / MiB / statistics.median(put_t) if put_t else None,
        "get_mibs": size / MiB / statistics.median(get_t) if get_t else None,
        "put_times": put_t, "get_times": get_t,
        # a peak only means something if bytes actually moved
        "peak_rss": peak if (put_t or get_t) else None, "peak_seen": peak,
        "base_rss": base, "hwm": hwm_mib(server.pid),
        "errors": list(dict.fromkeys(errs)), "samples": sampler.samples,
    }


# --------------------------------------------------------------------------- report

def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()

    def ver(mod):
        try:
            from importlib.metadata import version
            return version(mod)
        except Exception:  # noqa: BLE001
            return "?"
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001
        rev = "?"
    return {
        "cpu": cpu, "nproc": nproc, "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "moto": ver("moto"), "boto3": ver("boto3"),
        "botocore": ver("botocore"), "aiohttp": ver("aiohttp"), "nimbus_rev": rev or "?",
    }


def fmt(v, digits=None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if digits is None:
        digits = 3 if abs(v) < 1 else (2 if abs(v) < 10 else (1 if abs(v) < 1000 else 0))
    return f"{v:,.{digits}f}"


def ratio(nim, moto, higher_better: bool):
    if not isinstance(nim, (int, float)) or not isinstance(moto, (int, float)):
        return None
    if higher_better:
        return nim / moto if moto else None
    return moto / nim if nim else None


def render(rows: list[dict], info: dict, notes: list[str], args) -> str:
    out = []
    out.append("# Nimbus vs moto — core benchmark\n")
    out.append(f"- machine: {info['cpu']}, nproc {info['nproc']}, Linux {info['kernel']}")
    out.append(f"- python {info['python']}; moto {info['moto']}, boto3 {info['boto3']}, "
               f"botocore {info['botocore']}, aiohttp {info['aiohttp']}; "
               f"nimbus rev {info['nimbus_rev']}")
    out.append(f"- date: {info['date']}; mode: {'quick' if args.quick else 'full'}")
    out.append(f"- nimbus command: `{args.nimbus_cmd}`")
    out.append(f"- moto command: `{args.moto_cmd}`")
    out.append(f"- STS load generator: {args.loadgen}, one process, keep-alive connections")
    out.append("")
    out.append("Ratio is oriented so that **> 1 means Nimbus is better** "
               "(nimbus/moto for rates, moto/nimbus for times and memory).\n")
    out.append("| metric | nimbus | moto | ratio (>1 = Nimbus better) | target | met |")
    out.append("|---|---:|---:|---:|---|:-:|")
    for r in rows:
        rt = ratio(r["nimbus"], r["moto"], r["higher"])
        met = ""
        if r.get("check") is not None:
            try:
                ok = r["check"](r["nimbus"], rt)
                met = "yes" if ok else "NO"
            except TypeError:
                met = "?"
        out.append(f"| {r['metric']} | {fmt(r['nimbus'])} | {fmt(r['moto'])} | "
                   f"{fmt(rt, 2) + '×' if rt is not None else 'n/a'} | "
                   f"{r.get('target', '')} | {met} |")
    if notes:
        out.append("\nNotes:\n")
        out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short phases (~20 s), for CI smoke")
    ap.add_argument("--output", help="also write the markdown report to this file")
    ap.add_argument("--json", dest="json_out", help="also write raw results as JSON here")
    ap.add_argument("--nimbus-cmd",
                    default="{python} -m nimbus start --host {host} --port {port} "
                            "--https-port {https_port} --data-dir {data_dir}",
                    help="command template for Nimbus ({python} {host} {port} {https_port} "
                         "{data_dir}; {https_port} is a second free port)")
    ap.add_argument("--nimbus-ready-path", default="/_nimbus/health",
                    help="GET path that must answer 200 once Nimbus is ready")
    ap.add_argument("--moto-cmd",
                    default="{python} -m moto.server -H {host} -p {port}",
                    help="command template for moto ({python} {host} {port} {data_dir})")
    ap.add_argument("--moto-ready-path", default="/moto-api/",
                    help="GET path for moto readiness (any HTTP answer counts)")
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument("--loadgen", choices=("aiohttp", "raw"), default="raw",
                    help="STS load generator: aiohttp client sessions (default) or raw "
                         "asyncio streams replaying the request bytes (cheaper per request)")
    ap.add_argument("--big-mib", type=int, default=64, help="size of the big object, MiB")
    ap.add_argument("--_loadgen", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._loadgen:
        loadgen_main()
        return 0

    # everything stays on loopback; never go through a proxy
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS",
              "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

    atexit.register(_cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    q = args.quick
    P = {
        "starts": 1 if q else 3,
        "sts_levels": [1, 8, 32],
        "sts_duration": 0.6 if q else 3.0,
        "sts_warmup": 0.2 if q else 0.5,
        "small_duration": 0.4 if q else 2.0,
        "small_threads": 8,
        "mid_duration": 0.4 if q else 2.0,
        "big_reps": 1 if q else 5,
    }

    nimbus_env = {"PYTHONPATH": os.path.join(REPO, "src") + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    servers = {
        "nimbus": Server("nimbus", args.nimbus_cmd, args.nimbus_ready_path, True, nimbus_env),
        "moto": Server("moto", args.moto_cmd, args.moto_ready_path, False),
    }
    names = ["nimbus", "moto"]
    R: dict[str, dict] = {n: {} for n in names}
    notes: list[str] = []
    failed: dict[str, str] = {}
    info = machine_info()
    load_before = os.getloadavg()
    t_all = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_all:6.1f}s] {msg}", file=sys.stderr, flush=True)

    try:
        # 1. start-up time, median of N fresh starts (alternating servers)
        times = {n: [] for n in names}
        for i in range(P["starts"]):
            for n in names:
                if n in failed:
                    continue
                s = servers[n]
                try:
                    times[n].append(s.start(args.start_timeout))
                    log(f"{n} start #{i + 1}: {times[n][-1]:.3f} s")
                except Exception as e:  # noqa: BLE001
                    failed[n] = str(e)
                    log(f"{n} failed to start: {e}")
                finally:
                    s.stop()
        for n in names:
            if times[n]:
                R[n]["start"] = statistics.median(times[n])
                R[n]["start_all"] = times[n]
        notes.append("start-up samples (s): " + "; ".join(
            f"{n} " + ", ".join(f"{t:.3f}" for t in times[n]) for n in names if times[n]))

        # long-lived servers for the remaining phases
        for n in names:
            if n in failed:
                continue
            try:
                servers[n].start(args.start_timeout)
            except Exception as e:  # noqa: BLE001
                failed[n] = str(e)
                log(f"{n} failed to start: {e}")
        live = [n for n in names if n not in failed]

        # 2. idle RSS after start and one request (a signed STS GetCallerIdentity)
        for n in live:
            s = servers[n]
            try:
                ident = boto_client("sts", s.url).get_caller_identity()
                R[n]["account"] = ident.get("Account")
            except Exception as e:  # noqa: BLE001
                notes.append(f"{n}: first GetCallerIdentity failed: {e}")
            time.sleep(0.5)
            R[n]["idle_rss"] = tree_rss_mib(s.pid)
            R[n]["idle_procs"] = len(process_tree(s.pid))
            log(f"{n} idle RSS {R[n]['idle_rss']:.1f} MiB ({R[n]['idle_procs']} process(es))")

        # 3. STS GetCallerIdentity req/s
        for c in P["sts_levels"]:
            for n in live:
                try:
                    res = run_loadgen(servers[n], c, P["sts_duration"], P["sts_warmup"],
                                      args.loadgen)
                except Exception as e:  # noqa: BLE001
                    notes.append(f"{n}: STS at {c} connections failed: {e}")
                    continue
                R[n][f"sts_{c}"] = res["rps"]
                R[n][f"sts_{c}_detail"] = res
                log(f"{n} STS c={c}: {res['rps']:.0f} req/s, {res['errors']} errors, "
                    f"loadgen cpu {res['loadgen_cpu']:.0%}, server cpu {res['server_cpu']:.0%}")
                if res["errors"]:
                    notes.append(f"{n}: STS at {c} connections: {res['errors']} errors "
                                 f"({res['statuses']}), ok {res['ok']}")
                if res["loadgen_cpu"] >= 0.9:
                    notes.append(f"{n}: STS at {c} connections: the load generator used "
                                 f"{res['loadgen_cpu']:.0%} of a core — it was saturated, "
                                 f"the server may be faster than measured"
                                 + (" (try --loadgen raw)" if args.loadgen == "aiohttp" else ""))
        notes.append("STS CPU use (load generator / server tree, 1.0 = one core): " + "; ".join(
            f"{n} c={c}: {R[n][f'sts_{c}_detail']['loadgen_cpu']:.2f} / "
            f"{R[n][f'sts_{c}_detail']['server_cpu']:.2f}"
            for c in P["sts_levels"] for n in live if f"sts_{c}_detail" in R[n]))

        # 4 + 5. S3 throughput and peak RSS during the big object
        small = os.urandom(4096)
        mid = os.urandom(MiB)
        big_size = args.big_mib * MiB
        big = os.urandom(big_size)
        for n in live:
            s = servers[n]
            s3 = boto_client("s3", s.url)
            bucket = "bench-core"
            try:
                s3.create_bucket(Bucket=bucket)
            except Exception as e:  # noqa: BLE001
                notes.append(f"{n}: CreateBucket failed: {e}")
                continue
            try:
                rb = s3_big(s3, s, bucket, big_size, P["big_reps"], big)
                R[n]["s3_big"] = rb
                log(f"{n} S3 {args.big_mib} MiB: PUT {fmt(rb['put_mibs'])} MiB/s "
                    f"GET {fmt(rb['get_mibs'])} MiB/s, peak RSS {rb['peak_seen']:.0f} MiB "
                    f"(before {rb['base_rss']:.0f}, VmHWM {rb['hwm']:.0f})")
                if rb["errors"]:
                    notes.append(f"{n}: S3 {args.big_mib} MiB errors: {rb['errors'][:3]}")
                r4 = s3_timed(s3, bucket, "small", 4096, P["small_threads"],
                              P["small_duration"], small)
                R[n]["s3_4k"] = r4
                log(f"{n} S3 4 KiB x{P['small_threads']}: PUT {fmt(r4['put_ops'])}/s "
                    f"GET {fmt(r4['get_ops'])}/s (client cpu {r4['put_client_cpu']:.2f}/"
                    f"{r4['get_client_cpu']:.2f})")
                r1 = s3_timed(s3, bucket, "mid", MiB, 1, P["mid_duration"], mid)
                R[n]["s3_1m"] = r1
                log(f"{n} S3 1 MiB: PUT {fmt(r1['put_mibs'])} MiB/s GET {fmt(r1['get_mibs'])} MiB/s")
                for label, rr in (("4 KiB", r4), ("1 MiB", r1)):
                    if rr["put_errors"] or rr["get_errors"]:
                        notes.append(f"{n}: S3 {label}: {rr['put_errors']} PUT / "
                                     f"{rr['get_errors']} GET errors, e.g. {rr['error_samples']}")
            except Exception as e:  # noqa: BLE001
                notes.append(f"{n}: S3 phase failed: {type(e).__name__}: {e}")
                log(traceback.format_exc())
        for n in live:
            d = R[n]
            if "s3_4k" in d:
                notes.append(
                    f"{n}: boto3 client CPU (1.0 = one core) 4 KiB PUT/GET "
                    f"{d['s3_4k']['put_client_cpu']:.2f}/{d['s3_4k']['get_client_cpu']:.2f}, "
                    f"1 MiB {d['s3_1m']['put_client_cpu']:.2f}/{d['s3_1m']['get_client_cpu']:.2f}")
            if "s3_big" in d:
                bt = d["s3_big"]
                if bt["put_times"] or bt["get_times"]:
                    notes.append(f"{n}: {args.big_mib} MiB PUT times (s) "
                                 + ", ".join(f"{t:.2f}" for t in bt["put_times"])
                                 + "; GET times (s) "
                                 + ", ".join(f"{t:.2f}" for t in bt["get_times"]))
                notes.append(f"{n}: RSS before the {args.big_mib} MiB phase "
                             f"{d['s3_big']['base_rss']:.1f} MiB, peak "
                             f"{d['s3_big']['peak_seen']:.1f} MiB "
                             f"({d['s3_big']['samples']} samples), VmHWM {d['s3_big']['hwm']:.1f} MiB")
    finally:
        for s in servers.values():
            s.stop()
        _cleanup()

    for n, why in failed.items():
        first = why.splitlines()[0] if why else "?"
        notes.insert(0, f"**{n} could not be started**: {first}")

    def g(n, *path):
        v = R[n]
        for p in path:
            if not isinstance(v, dict) or p not in v:
                return None
            v = v[p]
        return v

    big = f"{args.big_mib} MiB"
    rows = [
        dict(metric="start-up to first answer (s, median)", higher=False,
             nimbus=g("nimbus", "start"), moto=g("moto", "start"),
             target="nimbus ≤ 0.3 s", check=lambda v, r: v <= 0.3),
        dict(metric="idle RSS after 1 request (MiB, tree)", higher=False,
             nimbus=g("nimbus", "idle_rss"), moto=g("moto", "idle_rss"),
             target="nimbus ≤ 50 MiB", check=lambda v, r: v <= 50),
    ]
    for c in P["sts_levels"]:
        row = dict(metric=f"STS GetCallerIdentity req/s, {c} conn", higher=True,
                   nimbus=g("nimbus", f"sts_{c}"), moto=g("moto", f"sts_{c}"))
        if c == 8:
            row.update(target="≥ 10× moto", check=lambda v, r: r >= 10)
        rows.append(row)
    rows += [
        dict(metric="S3 PUT 4 KiB objects/s (8 threads)", higher=True,
             nimbus=g("nimbus", "s3_4k", "put_ops"), moto=g("moto", "s3_4k", "put_ops")),
        dict(metric="S3 GET 4 KiB objects/s (8 threads)", higher=True,
             nimbus=g("nimbus", "s3_4k", "get_ops"), moto=g("moto", "s3_4k", "get_ops")),
        dict(metric="S3 PUT 4 KiB MiB/s (8 threads)", higher=True,
             nimbus=g("nimbus", "s3_4k", "put_mibs"), moto=g("moto", "s3_4k", "put_mibs")),
        dict(metric="S3 GET 4 KiB MiB/s (8 threads)", higher=True,
             nimbus=g("nimbus", "s3_4k", "get_mibs"), moto=g("moto", "s3_4k", "get_mibs")),
        dict(metric="S3 PUT 1 MiB MiB/s", higher=True,
             nimbus=g("nimbus", "s3_1m", "put_mibs"), moto=g("moto", "s3_1m", "put_mibs")),
        dict(metric="S3 GET 1 MiB MiB/s", higher=True,
             nimbus=g("nimbus", "s3_1m", "get_mibs"), moto=g("moto", "s3_1m", "get_mibs")),
        dict(metric=f"S3 PUT {big} MiB/s", higher=True,
             nimbus=g("nimbus", "s3_big", "put_mibs"), moto=g("moto", "s3_big", "put_mibs"),
             target="≥ 5× moto", check=lambda v, r: r >= 5),
        dict(metric=f"S3 GET {big} MiB/s", higher=True,
             nimbus=g("nimbus", "s3_big", "get_mibs"), moto=g("moto", "s3_big", "get_mibs"),
             target="≥ 2.5× moto", check=lambda v, r: r >= 2.5),
        dict(metric=f"peak RSS while moving {big} (MiB, tree)", higher=False,
             nimbus=g("nimbus", "s3_big", "peak_rss"), moto=g("moto", "s3_big", "peak_rss"),
             target="nimbus ≤ 150 MiB", check=lambda v, r: v <= 150),
    ]
    for r in rows:  # no verdict without numbers
        if r.get("check") and (r["nimbus"] is None or
                               ("×" in r.get("target", "") and r["moto"] is None)):
            r["check"] = None
            r["target"] = r.get("target", "")
    load_after = os.getloadavg()
    busy = max(load_before[0], load_after[0]) > 0.5 * (info["nproc"] or 1)
    notes.append(f"total benchmark time {time.perf_counter() - t_all:.0f} s; load average "
                 f"(1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after"
                 + (" — **the machine was busy with other work: numbers are noisy**"
                    if busy else ""))
    report = render(rows, info, notes, args)
    print(report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(report)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"machine": info, "params": P, "results": R, "failed": failed,
                       "notes": notes}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
