"""How each engine is laid out on disk, started, probed and administered.

One driver per engine family.  A driver never touches the record store: the plane
(``EnginesPlane``) reads the node's spec, calls the driver and records what happened.

Administration goes through each engine's own client over a Unix socket in a private
(0700) directory, so the admin path needs no password and no other local user can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import binaries


class EngineError(Exception):
    pass


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


async def run(argv: list[str], *, input: bytes | None = None, env: dict[str, str] | None = None,
              timeout: float = 60.0, check: bool = True) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise EngineError(f"{Path(argv[0]).name} timed out") from None
    if check and proc.returncode != 0:
        raise EngineError(f"{Path(argv[0]).name} failed ({proc.returncode}): {err.decode(errors='replace')[-800:]}")
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def socket_dir(node_dir: Path) -> Path:
    """A short private directory for the node's admin socket (Unix paths max ~107 bytes)."""
    digest = hashlib.sha1(str(node_dir.resolve()).encode()).hexdigest()[:12]
    base = Path(tempfile.gettempdir()) / f"nimbus-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    path = base / digest
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def copy_tree(source: Path, dest: Path) -> None:
    """Copy a directory without blocking the event loop (``cp -a``, reflinks where the
    file system has them)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = ["cp", "-a", str(source), str(dest)]
    if os.uname().sysname == "Linux":
        argv.insert(2, "--reflink=auto")
    rc, _, err = await run(argv, check=False, timeout=600)
    if rc != 0:
        shutil.rmtree(dest, ignore_errors=True)
        await asyncio.to_thread(shutil.copytree, source, dest, symlinks=True)


def sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pg_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def my_ident(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


_REFILLS: dict[Path, asyncio.Task] = {}


class Driver:
    family = ""
    stop_signal = 15

    def __init__(self, node_dir: Path, cache_dir: Path) -> None:
        self.node_dir = node_dir
        self.data = node_dir / "data"
        self.cache_dir = cache_dir
        self.sock = socket_dir(node_dir)
        self.spec: dict[str, Any] = {}
        # Like Nimbus's own store: writes survive kill -9 of the engine (they are in the OS)
        # and survive power loss only with NIMBUS_FSYNC=1.
        self.durable = False

    async def prepare(self, spec: dict[str, Any], source: Path | None, primary: "Driver | None") -> None:
        raise NotImplementedError

    def argv(self, spec: dict[str, Any], tls: tuple[Path, Path, Path] | None) -> list[str]:
        raise NotImplementedError

    async def ready(self, spec: dict[str, Any]) -> bool:
        raise NotImplementedError

    async def setup(self, spec: dict[str, Any], restored: bool) -> None:
        """First start: the master user and the initial database."""

    async def set_password(self, spec: dict[str, Any]) -> None:
        pass

    async def snapshot(self, dest: Path, running: bool) -> None:
        raise EngineError(f"snapshots of {self.family} are not supported")

    async def promote(self, spec: dict[str, Any]) -> None:
        raise EngineError(f"promotion of {self.family} is not supported")

    async def follow(self, spec: dict[str, Any], primary: dict[str, Any] | None) -> None:
        raise EngineError(f"live re-pointing of {self.family} is not supported")

    async def metrics(self, spec: dict[str, Any]) -> dict[str, float]:
        return {}

    async def started(self, spec: dict[str, Any]) -> None:
        """After every start, once ready (e.g. Valkey turns append-only persistence on)."""

    async def apply_params(self, spec: dict[str, Any]) -> None:
        """Apply changed parameters to the running engine without a restart, if it can."""

    def cleanup(self) -> None:
        shutil.rmtree(self.node_dir, ignore_errors=True)
        shutil.rmtree(self.sock, ignore_errors=True)


# --------------------------------------------------------------------------- PostgreSQL


class Postgres(Driver):
    family = "postgres"
    stop_signal = 2  # SIGINT: fast shutdown

    def __init__(self, node_dir: Path, cache_dir: Path) -> None:
        super().__init__(node_dir, cache_dir)
        self.archive = node_dir / "wal-archive"
        self.bases = node_dir / "base-backups"
        self.recovery: dict[str, str] | None = None  # first start of a point-in-time restore

    @property
    def bin(self) -> Path:
        found = binaries.postgres_bin()
        if found is None:
            raise binaries.EngineMissing("postgres", "PostgreSQL")
        return found

    def _wrap(self, argv: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root: run it in a user namespace as uid 1000, where
        # files owned by the real root appear as its own.
        if is_root():
            return ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--", *argv]
        return argv

    async def template(self) -> Path:
        target = self.cache_dir / f"postgres-{hashlib.sha1((str(self.bin) + 'v2').encode()).hexdigest()[:8]}"
        if (target / "PG_VERSION").exists():
            return target
        with _locked(self.cache_dir / "postgres.lock"):
            if (target / "PG_VERSION").exists():
                return target
            tmp = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".pg-"))
            data = tmp / "data"
            await run(self._wrap([str(self.bin / "initdb"), "-D", str(data), "-U", "rdsadmin", "--auth-local=trust",
                                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions", "--no-sync",
                                  "--wal-segsize=1"]))
            data.rename(target)
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    async def prepare(self, spec, source, primary) -> None:
        self.node_dir.mkdir(parents=True, exist_ok=True)
        self.archive.mkdir(parents=True, exist_ok=True)
        pitr = (spec.get("restore") or {}).get("pitr")
        if pitr is not None:
            await self._prepare_pitr(pitr)
            os.chmod(self.data, 0o700)
            return
        if primary is not None:
            if self.data.exists():
                shutil.rmtree(self.data)
            await run([str(self.bin / "pg_basebackup"), "-h", str(primary.sock), "-p", str(spec["primary_port"]),
                       "-U", "rdsadmin", "-D", str(self.data), "-X", "stream", "-R", "-c", "fast",
                       *([] if self.durable else ["--no-sync"])], timeout=300)
        elif source is not None:
            await copy_tree(source, self.data)
            for name in ("standby.signal", "postmaster.pid", "recovery.signal"):
                (self.data / name).unlink(missing_ok=True)
        else:
            # The template, never modified, is this instance's first base backup: WAL is
            # archived from the first start on, so point-in-time restore can replay from it.
            template = await self.template()
            self.bases.mkdir(parents=True, exist_ok=True)
            (self.bases / f"{time.time() - 1:017.6f}.ref").write_text(str(template))
            spare = self.spare_dir()
            pending = _REFILLS.get(spare)
            if pending is not None and not pending.done():
                await asyncio.shield(pending)  # a copy is under way: take it rather than start another
            if spare.exists() and (spare / "PG_VERSION").exists():
                if self.data.exists():
                    shutil.rmtree(self.data)
                spare.rename(self.data)  # instant: the copy was made ahead of time
            else:
                await copy_tree(await self.template(), self.data)
            _REFILLS[spare] = asyncio.get_event_loop().create_task(self.refill_spare())
        os.chmod(self.data, 0o700)

    def spare_dir(self) -> Path:
        return self.node_dir.parent.parent / "spare" / "postgres"

    async def refill_spare(self) -> None:
        """Copy the template ahead of the next CreateDBInstance (one spare per data dir)."""
        spare = self.spare_dir()
        if spare.exists():
            return
        tmp = spare.with_name(f".postgres-{os.getpid()}-{id(self)}")
        try:
            await copy_tree(await self.template(), tmp)
            if not spare.exists():
                tmp.rename(spare)
        except Exception:
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def argv(self, spec, tls) -> list[str]:
        params = spec.get("params") or {}
        # The engine listens only on its private Unix socket; clients reach it through the
        # plane's front (``pgfront``), which adds TLS from the Nimbus CA (the PostgreSQL of
        # the wheel is built without OpenSSL) and enforces rds.force_ssl.  Passwords are
        # checked by PostgreSQL itself (SCRAM); only the admin role is trusted, and only
        # from the 0700 socket directory.
        del params
        # Members of rds_iam are authenticated by the front (IAM tokens), never by password.
        # The master user administers rds_iam (it may grant it) and keeps its password.
        master = (spec.get("master_user") or "rdsadmin").replace('"', "")
        hba = ["local all rdsadmin trust", "local replication rdsadmin trust", f'local all "{master}" scram-sha-256',
               "local all +rds_iam trust", "local all all scram-sha-256",
               "local replication all scram-sha-256"]
        (self.node_dir / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        argv = [str(self.bin / "postgres"), "-D", str(self.data), "-c", "listen_addresses=",
                "-p", str(spec["port"]), "-c", f"unix_socket_directories={self.sock}",
                "-c", f"hba_file={self.node_dir / 'pg_hba.conf'}",
                "-c", f"max_connections={int((spec.get('params') or {}).get('max_connections') or 100)}",
                "-c", "shared_buffers=16MB", "-c", "wal_level=replica", "-c", "max_wal_senders=20",
                "-c", "hot_standby=on", "-c", "wal_keep_size=64MB", "-c", "password_encryption=scram-sha-256", "-c", "dynamic_shared_memory_type=posix",
                "-c", "log_min_messages=warning", "-c", f"fsync={'on' if self.durable else 'off'}",
                # Commits reach the OS before they are acknowledged, so they survive kill -9.
                "-c", "synchronous_commit=on", "-c", "full_page_writes=on",
                # Every completed WAL segment is archived: with the base backups this is what
                # point-in-time restore replays.
                "-c", "archive_mode=on", "-c", f"archive_command=test ! -f {self.archive}/%f && cp %p {self.archive}/%f"]
        if self.recovery is not None:
            argv += ["-c", f"restore_command={self.recovery['restore_command']}",
                     "-c", f"recovery_target_time={self.recovery['target']}", "-c", "recovery_target_action=promote",
                     "-c", "recovery_target_inclusive=true"]
        return self._wrap(argv)

    async def ready(self, spec) -> bool:
        rc, _, _ = await run([str(self.bin / "pg_isready"), "-h", str(self.sock), "-p", str(spec["port"]), "-q"], check=False)
        return rc == 0

    async def psql(self, spec, *sql: str, db: str = "postgres") -> str:
        commands = [arg for statement in sql for arg in ("-c", statement)]
        _, out, _ = await run([str(self.bin / "psql"), "-h", str(self.sock), "-p", str(spec["port"]), "-U", "rdsadmin",
                               "-d", db, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", *commands])
        return out.strip()

    async def setup(self, spec, restored) -> None:
        if restored or spec.get("replica_of"):
            return
        user = spec["master_user"]
        statements = ["DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='rds_superuser') THEN "
                              "CREATE ROLE rds_superuser NOLOGIN; CREATE ROLE rds_iam NOLOGIN; END IF; END$$; "
                              "GRANT pg_monitor, pg_signal_backend, pg_read_all_settings TO rds_superuser; "
                              f"CREATE ROLE {pg_ident(user)} LOGIN CREATEDB CREATEROLE PASSWORD {pg_literal(spec['master_password'])} "
                              "IN ROLE rds_superuser",
                      f"GRANT rds_iam TO {pg_ident(user)} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE"]
        if spec.get("db_name") and spec["db_name"] != "postgres":
            statements.append(f"CREATE DATABASE {pg_ident(spec['db_name'])} OWNER {pg_ident(user)}")
        await self.psql(spec, *statements)

    async def set_password(self, spec) -> None:
        await self.psql(spec, f"ALTER ROLE {pg_ident(spec['master_user'])} PASSWORD {pg_literal(spec['master_password'])}")

    async def snapshot(self, dest: Path, running: bool) -> None:
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if running:
            await run([str(self.bin / "pg_basebackup"), "-h", str(self.sock), "-p", str(self.spec["port"]), "-U", "rdsadmin",
                       "-D", str(dest), "-X", "stream", "-c", "fast", *([] if self.durable else ["--no-sync"])], timeout=600)
        else:
            await copy_tree(self.data, dest)

    async def promote(self, spec) -> None:
        await self.psql(spec, "SELECT pg_promote(true, 30)")

    async def base_backup(self, spec, wall: float) -> None:
        """A base backup for point-in-time restore, named by the wall time it started."""
        self.bases.mkdir(parents=True, exist_ok=True)
        dest = self.bases / f"{wall:017.6f}"
        tmp = self.bases / f".{wall:017.6f}"
        await run([str(self.bin / "pg_basebackup"), "-h", str(self.sock), "-p", str(spec["port"]), "-U", "rdsadmin",
                   "-D", str(tmp), "-X", "stream", "-c", "fast", *([] if self.durable else ["--no-sync"])], timeout=600)
        tmp.rename(dest)

    async def switch_wal(self, spec) -> None:
        """Close the current WAL segment and wait (bounded) until it is archived."""
        name = await self.psql(spec, "SELECT pg_walfile_name(pg_switch_wal())")
        for _ in range(200):
            if (self.archive / name).exists():
                return
            await asyncio.sleep(0.025)

    async def _prepare_pitr(self, pitr: dict[str, Any]) -> None:
        source = Path(pitr["source_dir"])
        bases = sorted((p for p in (source / "base-backups").glob("[0-9]*") if float(p.name.removesuffix(".ref")) <= pitr["wall"]),
                       key=lambda p: float(p.name.removesuffix(".ref")))
        if not bases:
            raise EngineError("no base backup precedes the restore time")
        base = Path(bases[-1].read_text().strip()) if bases[-1].name.endswith(".ref") else bases[-1]
        if not base.exists():
            raise EngineError(f"the base backup {base} is missing (was the engine cache cleared?)")
        await copy_tree(base, self.data)
        for name in ("standby.signal", "postmaster.pid"):
            (self.data / name).unlink(missing_ok=True)
        # WAL still in the source's pg_wal (not yet archived) is copied aside as a fallback.
        spill = self.node_dir / "wal-source"
        if spill.exists():
            shutil.rmtree(spill)
        spill.mkdir(parents=True)
        for segment in (source / "data" / "pg_wal").glob("0*"):
            if segment.is_file():
                shutil.copy2(segment, spill / segment.name)
        (self.data / "recovery.signal").write_text("")
        import datetime as _dt

        target = _dt.datetime.fromtimestamp(pitr["wall"], tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        archive = source / "wal-archive"
        self.recovery = {"target": target,
                         "restore_command": f"cp {archive}/%f %p 2>/dev/null || cp {spill}/%f %p"}

    async def recovered(self, spec) -> bool:
        return (await self.psql(spec, "SELECT pg_is_in_recovery()")) == "f"

    async def metrics(self, spec) -> dict[str, float]:
        out = await self.psql(spec, "SELECT count(*) FROM pg_stat_activity WHERE backend_type='client backend'")
        values = {"DatabaseConnections": float(out or 0)}
        if spec.get("replica_of"):  # seconds behind the primary; 0 when all received WAL is replayed
            lag = await self.psql(spec, "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                                        "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END")
            values["ReplicaLag"] = max(0.0, float(lag or 0))
        return values



# --------------------------------------------------------------------------- MariaDB


class MariaDB(Driver):
    family = "mariadb"

    @property
    def bins(self) -> dict[str, Path]:
        found = binaries.mariadb_bins()
        if found is None:
            raise binaries.EngineMissing("mariadb", "MariaDB (mariadbd)")
        return found

    COMMON = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=16M"]

    async def template(self) -> Path:
        target = self.cache_dir / "mariadb"
        if (target / "mysql").exists():
            return target
        with _locked(self.cache_dir / "mariadb.lock"):
            if (target / "mysql").exists():
                return target
            tmp = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".my-"))
            data = tmp / "data"
            argv = [str(self.bins["install"]), "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                    "--skip-test-db", *self.COMMON]
            if is_root():
                argv.append("--user=root")
            await run(argv, timeout=120)
            data.rename(target)
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    async def prepare(self, spec, source, primary) -> None:
        self.node_dir.mkdir(parents=True, exist_ok=True)
        if source is not None and (source / "data").exists():
            await copy_tree(source / "data", self.data)
        else:
            await copy_tree(await self.template(), self.data)
        for name in self.data.glob("*.pid"):
            name.unlink(missing_ok=True)
        pitr = (spec.get("restore") or {}).get("pitr")
        if pitr is not None:
            await self._prepare_pitr(pitr)
        elif primary is not None:
            await self._prepare_replica(primary)

    # Read replicas: binlog replication from a consistent dump of the primary.

    def _dump_argv(self, *extra: str) -> list[str]:
        return [str(self.bins["dump"]), "--no-defaults", "-S", str(self.sock / "mysqld.sock"), "-u", "root",
                "--all-databases", "--single-transaction", "--routines", "--events", "--triggers", *extra]

    async def replication_user(self) -> tuple[str, str]:
        """The primary's replication account (one per primary, password kept in its node dir)."""
        secret = self.node_dir / "replication-password"
        if not secret.exists():
            secret.write_text(hashlib.sha256(os.urandom(32)).hexdigest()[:32])
            os.chmod(secret, 0o600)
        password = secret.read_text().strip()
        await self.sql(f"CREATE USER IF NOT EXISTS 'rdsrepl'@'%' IDENTIFIED BY {sql_literal(password)}; "
                       f"ALTER USER 'rdsrepl'@'%' IDENTIFIED BY {sql_literal(password)}; "
                       "GRANT REPLICATION SLAVE ON *.* TO 'rdsrepl'@'%'")
        return "rdsrepl", password

    async def _prepare_replica(self, primary: "MariaDB") -> None:
        import json
        import re

        user, password = await primary.replication_user()
        _, out, _ = await run(primary._dump_argv("--master-data=2"), timeout=600)
        found = re.search(r"CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)", out)
        if not found:
            raise EngineError("the primary's dump carries no binlog position (is binary logging on?)")
        (self.node_dir / "restore.sql").write_text(out)
        pspec = primary.spec
        (self.node_dir / "replication.json").write_text(json.dumps({
            "host": pspec["address"], "port": pspec["port"], "user": user, "password": password,
            "file": found.group(1), "pos": int(found.group(2)), "ssl": bool((pspec.get("params") or {}).get("force_ssl"))}))

    async def _start_replication(self) -> None:
        import json

        info = json.loads((self.node_dir / "replication.json").read_text())
        await self._no_read_only_bypass(self.spec["master_user"])
        await self.sql(f"CHANGE MASTER TO MASTER_HOST={sql_literal(info['host'])}, MASTER_PORT={int(info['port'])}, "
                       f"MASTER_USER={sql_literal(info['user'])}, MASTER_PASSWORD={sql_literal(info['password'])}, "
                       f"MASTER_LOG_FILE={sql_literal(info['file'])}, MASTER_LOG_POS={int(info['pos'])}, "
                       f"MASTER_SSL={1 if info.get('ssl') else 0}, MASTER_CONNECT_RETRY=1; START SLAVE")
        (self.node_dir / "replication.json").unlink()

    async def promote(self, spec) -> None:
        await self.catch_up()
        await self.sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0")

    async def catch_up(self, timeout: int = 10) -> None:
        """Apply every binlog event already received from the primary (bounded wait)."""
        import re

        try:
            _, status, _ = await run(self._client("-E", "-e", "SHOW SLAVE STATUS"))
            file = re.search(r"\bMaster_Log_File:\s*(\S+)", status)
            pos = re.search(r"\bRead_Master_Log_Pos:\s*(\d+)", status)
            if file and pos:
                await self.sql(f"SELECT MASTER_POS_WAIT({sql_literal(file.group(1))}, {int(pos.group(1))}, {timeout})")
        except EngineError:
            pass

    # Point-in-time restore: the binary log replayed up to the restore time.

    async def switch_wal(self, spec) -> None:
        """Close the current binary log, so everything up to now is in closed files."""
        await self.sql("FLUSH BINARY LOGS")

    async def _prepare_pitr(self, pitr: dict[str, Any]) -> None:
        import datetime as _dt

        binlog = binaries._which("mariadb-binlog", "/usr/bin", "/usr/local/bin") or binaries._which("mysqlbinlog", "/usr/bin")
        if binlog is None:
            raise EngineError("point-in-time restore of MariaDB needs mariadb-binlog (apt-get install mariadb-client)")
        index = Path(pitr["source_dir"]) / "data" / "mysql-bin.index"
        if not index.exists():
            raise EngineError("the source instance has no binary log to replay")
        files = [Path(pitr["source_dir"]) / "data" / Path(line.strip()).name
                 for line in index.read_text().splitlines() if line.strip()]
        # Binary log events carry whole seconds: the restore replays every event before the
        # second holding the restore time (never one after it).
        stop = _dt.datetime.fromtimestamp(int(pitr["wall"]), tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        _, out, _ = await run([str(binlog), "--no-defaults", f"--stop-datetime={stop}", *map(str, files)],
                              env=dict(os.environ, TZ="UTC"), timeout=600)
        (self.node_dir / "restore.sql").write_text(out)

    def argv(self, spec, tls) -> list[str]:
        params = spec.get("params") or {}
        # A Multi-AZ standby listens on its private socket only (the endpoint is the primary's).
        listen = ["--skip-networking"] if spec.get("standby") else [f"--bind-address={spec['address']}", f"--port={spec['port']}"]
        argv = [str(self.bins["server"]), "--no-defaults", f"--datadir={self.data}", *listen, f"--socket={self.sock / 'mysqld.sock'}", f"--pid-file={self.node_dir / 'mysqld.pid'}",
                *self.COMMON, "--skip-name-resolve", f"--max-connections={int(params.get('max_connections') or 151)}",
                "--log-bin=mysql-bin", f"--server-id={int(spec.get('server_id') or 1)}", "--binlog-format=ROW",
                "--log-warnings=1", f"--innodb-flush-log-at-trx-commit={1 if self.durable else 2}",
                f"--sync-binlog={1 if self.durable else 0}"]
        if tls is not None:
            cert, key, ca = tls
            argv += [f"--ssl-cert={cert}", f"--ssl-key={key}", f"--ssl-ca={ca}"]
        if params.get("force_ssl"):
            argv.append("--require-secure-transport=ON")
        if spec.get("replica_of"):  # a read replica, as on RDS (read_only=1)
            argv.append("--read-only")
        if is_root():
            argv.append("--user=root")
        return argv

    def _client(self, *extra: str) -> list[str]:
        return [str(self.bins["client"]), "--no-defaults", "-S", str(self.sock / "mysqld.sock"), "-u", "root", *extra]

    async def ready(self, spec) -> bool:
        if not (self.sock / "mysqld.sock").exists():
            return False
        rc, _, _ = await run(self._client("-e", "SELECT 1"), check=False)
        return rc == 0

    async def sql(self, sql: str) -> str:
        _, out, _ = await run(self._client("-N", "-B", "-e", sql))
        return out.strip()

    async def setup(self, spec, restored) -> None:
        if restored:
            dump = self.node_dir / "restore.sql"
            if dump.exists():
                await run(self._client(), input=dump.read_bytes(), timeout=600)
                dump.unlink()
                await self.sql("FLUSH PRIVILEGES")
            if (self.node_dir / "replication.json").exists():
                await self._start_replication()
            return
        user, password = spec["master_user"], spec["master_password"]
        statements = [
            "DELETE FROM mysql.global_priv WHERE User='root' AND Host<>'localhost'", "FLUSH PRIVILEGES",
            f"CREATE USER {sql_literal(user)}@'%' IDENTIFIED BY {sql_literal(password)}",
            f"GRANT ALL PRIVILEGES ON *.* TO {sql_literal(user)}@'%' WITH GRANT OPTION",
        ]
        if spec.get("db_name"):
            statements.append(f"CREATE DATABASE IF NOT EXISTS {my_ident(spec['db_name'])}")
        await self.sql("; ".join(statements))
        await self._no_read_only_bypass(user)

    async def _no_read_only_bypass(self, user: str) -> None:
        """As on RDS, the master user cannot write past ``read_only`` (a replica's)."""
        try:
            await self.sql(f"REVOKE READ_ONLY ADMIN ON *.* FROM {sql_literal(user)}@'%'")
        except EngineError:
            pass  # a MariaDB without the READ_ONLY ADMIN privilege (before 10.5)

    async def set_password(self, spec) -> None:
        await self.sql(f"ALTER USER {sql_literal(spec['master_user'])}@'%' IDENTIFIED BY {sql_literal(spec['master_password'])}")

    async def snapshot(self, dest: Path, running: bool) -> None:
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        if running:
            _, out, _ = await run(self._dump_argv(), timeout=600)
            (dest / "dump.sql").write_text(out)
        else:
            await copy_tree(self.data, dest / "data")

    async def metrics(self, spec) -> dict[str, float]:
        import re

        out = await self.sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        values = {"DatabaseConnections": float(out.split()[-1]) if out else 0.0}
        if spec.get("replica_of"):  # Seconds_Behind_Master of the binlog replication
            _, status, _ = await run(self._client("-E", "-e", "SHOW SLAVE STATUS"))
            found = re.search(r"Seconds_Behind_Master:\s*(\d+)", status)
            if found:
                values["ReplicaLag"] = float(found.group(1))
        return values


# --------------------------------------------------------------------------- Valkey


async def resp(address: str, port: int, *args: str, password: str | None = None, user: str | None = None,
               timeout: float = 2.0) -> Any:
    """One Redis-protocol command (after AUTH when a password is set)."""

    def encode(parts: tuple[str, ...]) -> bytes:
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            data = part.encode()
            out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
        return b"".join(out)

    async def read(reader: asyncio.StreamReader) -> Any:
        line = (await reader.readline()).rstrip(b"\r\n")
        if not line:
            raise EngineError("connection closed")
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            raise EngineError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = await reader.readexactly(n + 2)
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return [await read(reader) for _ in range(max(n, 0))]
        raise EngineError(f"unexpected reply {line!r}")

    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    try:
        if password:
            writer.write(encode(("AUTH", user, password) if user else ("AUTH", password)))
            await writer.drain()
            await asyncio.wait_for(read(reader), timeout)
        writer.write(encode(args))
        await writer.drain()
        return await asyncio.wait_for(read(reader), timeout)
    finally:
        writer.close()


def info_fields(text: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in str(text).splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            values[key] = value.strip()
    return values


ADMIN_USER = "nimbus-admin"  # Nimbus's own user (administration, replication); clients never get its password


class Valkey(Driver):
    family = "valkey"

    @property
    def manifest(self) -> Path:
        return self.data / "appendonlydir" / "appendonly.aof.manifest"

    @staticmethod
    def creds(spec: dict[str, Any]) -> dict[str, str | None]:
        """How Nimbus authenticates to the node: its admin user when the node has ACLs,
        else the legacy AUTH token (or nothing)."""
        if spec.get("admin_password"):
            return {"user": ADMIN_USER, "password": spec["admin_password"]}
        return {"user": None, "password": spec.get("auth_token")}

    def acl_lines(self, spec: dict[str, Any]) -> list[str]:
        """The node's users (an ACL file): the provider's lines (the default user, RBAC
        users), passwords stored as SHA-256 hashes, plus Nimbus's admin user."""
        lines = list(spec.get("acl") or ["user default on nopass ~* &* +@all"])
        lines.append(f"user {ADMIN_USER} on #{hashlib.sha256(spec['admin_password'].encode()).hexdigest()} ~* &* +@all")
        return lines

    async def prepare(self, spec, source, primary) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        if source is not None and (source / "dump.rdb").exists():
            shutil.copy2(source / "dump.rdb", self.data / "dump.rdb")

    def argv(self, spec, tls) -> list[str]:
        server = binaries.valkey_server()
        if server is None:
            raise binaries.EngineMissing("valkey", "Valkey (valkey-server)")
        params = dict(spec.get("params") or {})
        params.setdefault("maxmemory-policy", "volatile-lru")
        # Append-only persistence makes acknowledged writes survive kill -9 (Valkey writes
        # the AOF before it replies; everysec fsyncs each second, so power loss costs at
        # most a second; NIMBUS_FSYNC=1 fsyncs every write).  A node starts with AOF on
        # only once its AOF exists: Valkey with AOF on ignores an RDB, so a node restored
        # from a snapshot (or from before AOF) starts from its dump.rdb, then ``started``
        # turns AOF on, which rewrites the loaded data into the AOF.
        aof = "yes" if self.manifest.exists() else "no"
        argv = [str(server), "--bind", spec["address"], "--port", str(spec["port"]), "--dir", str(self.data),
                "--dbfilename", "dump.rdb", "--daemonize", "no", "--protected-mode", "no", "--save", "3600 1 300 100 60 10000",
                "--repl-diskless-sync-delay", "0", "--appendonly", aof, "--appenddirname", "appendonlydir",
                "--appendfsync", "always" if self.durable else "everysec"]
        for name, value in sorted(params.items()):
            argv += [f"--{name}", str(value)]
        if spec.get("admin_password"):
            acl = self.node_dir / "users.acl"
            acl.write_text("\n".join(self.acl_lines(spec)) + "\n")
            os.chmod(acl, 0o600)
            argv += ["--aclfile", str(acl), "--masteruser", ADMIN_USER, "--masterauth", spec["admin_password"]]
        elif spec.get("auth_token"):
            argv += ["--requirepass", spec["auth_token"], "--masterauth", spec["auth_token"]]
        primary = spec.get("primary_address")
        if primary and not spec.get("cluster_enabled"):
            argv += ["--replicaof", primary[0], str(primary[1])]
        if spec.get("cluster_enabled"):
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.data / "nodes.conf"),
                     "--cluster-announce-ip", spec["address"], "--cluster-node-timeout", "3000"]
        return argv

    async def ready(self, spec) -> bool:
        try:
            return await resp(spec["address"], spec["port"], "PING", **self.creds(spec)) == "PONG"
        except (OSError, EngineError, asyncio.TimeoutError):
            return False

    async def command(self, *args: str, timeout: float = 5.0) -> Any:
        spec = self.spec
        return await resp(spec["address"], spec["port"], *args, timeout=timeout, **self.creds(spec))

    async def started(self, spec) -> None:
        if self.manifest.exists():
            return
        await self.command("CONFIG", "SET", "appendonly", "yes")
        for _ in range(1200):  # the first rewrite writes what was loaded into the AOF
            values = info_fields(await self.command("INFO", "persistence"))
            if values.get("aof_enabled") == "1" and values.get("aof_rewrite_in_progress") == "0" \
                    and values.get("aof_rewrite_scheduled") == "0" and self.manifest.exists():
                return
            await asyncio.sleep(0.02)
        raise EngineError("append-only persistence did not start")

    async def apply_params(self, spec) -> None:
        if spec.get("admin_password"):
            acl = self.node_dir / "users.acl"
            acl.write_text("\n".join(self.acl_lines(spec)) + "\n")
            await self.command("ACL", "LOAD")
        for name, value in sorted((spec.get("params") or {}).items()):
            try:
                await self.command("CONFIG", "SET", name, str(value))
            except EngineError as exc:  # static parameters apply at the next reboot
                if "immutable" not in str(exc).lower() and "protected" not in str(exc).lower():
                    raise

    async def snapshot(self, dest: Path, running: bool) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        if running:
            await self.command("SAVE", timeout=60)
        if (self.data / "dump.rdb").exists():
            shutil.copy2(self.data / "dump.rdb", dest / "dump.rdb")

    async def promote(self, spec) -> None:
        await resp(spec["address"], spec["port"], "REPLICAOF", "NO", "ONE", **self.creds(spec))

    async def follow(self, spec, primary) -> None:
        if primary is None:
            await self.promote(spec)
        else:
            await resp(spec["address"], spec["port"], "REPLICAOF", primary[0], str(primary[1]), **self.creds(spec))

    async def metrics(self, spec) -> dict[str, float]:
        values = info_fields(await resp(spec["address"], spec["port"], "INFO", **self.creds(spec)))
        out = {"CurrConnections": float(values.get("connected_clients", 0)),
               "CacheHits": float(values.get("keyspace_hits", 0)), "CacheMisses": float(values.get("keyspace_misses", 0)),
               "Evictions": float(values.get("evicted_keys", 0)), "BytesUsedForCache": float(values.get("used_memory", 0))}
        return out


async def slots_cover(cmd, node: tuple, nodes: list[tuple]) -> bool:
    """Whether ``node``'s CLUSTER SLOTS names every node (what cluster clients learn)."""
    named = {(entry[i][0], int(entry[i][1])) for entry in await cmd(node, "CLUSTER", "SLOTS") for i in range(2, len(entry))}
    return set(nodes) <= named


async def form_cluster(shards: list[dict[str, Any]], creds: dict[str, str | None], timeout: float = 60.0) -> None:
    """Make a Valkey cluster of running cluster-enabled nodes: ``shards`` is a list of
    ``{"primary": (address, port), "replicas": [(address, port), ...], "slots": [[lo, hi], ...]}``.
    Idempotent: a cluster already formed (after a restart) is left as it is."""
    nodes = [tuple(s["primary"]) for s in shards] + [tuple(r) for s in shards for r in s["replicas"]]

    async def cmd(node, *args: str) -> Any:
        return await resp(node[0], node[1], *args, timeout=10, **creds)

    info = info_fields(await cmd(nodes[0], "CLUSTER", "INFO"))
    if info.get("cluster_slots_assigned") == "16384" and int(info.get("cluster_known_nodes", 0)) >= len(nodes):
        return
    ids = {node: await cmd(node, "CLUSTER", "MYID") for node in nodes}
    for node in nodes[1:]:
        await cmd(nodes[0], "CLUSTER", "MEET", node[0], str(node[1]))
    for shard in shards:
        primary = tuple(shard["primary"])
        owned = await cmd(primary, "CLUSTER", "SLOTS")
        if not any(entry[2][2] == ids[primary] for entry in owned if len(entry) > 2 and len(entry[2]) > 2):
            args = [str(v) for lo, hi in shard["slots"] for v in (lo, hi)]
            await cmd(primary, "CLUSTER", "ADDSLOTSRANGE", *args)
    deadline = time.monotonic() + timeout
    for shard in shards:
        for replica in shard["replicas"]:
            replica = tuple(replica)
            while True:  # the replica must know its primary before it can follow it
                try:
                    await cmd(replica, "CLUSTER", "REPLICATE", ids[tuple(shard["primary"])])
                    break
                except EngineError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
    replicas = [tuple(r) for s in shards for r in s["replicas"]]
    while True:
        states = [info_fields(await cmd(node, "CLUSTER", "INFO")) for node in nodes]
        links = [info_fields(await cmd(r, "INFO", "replication")).get("master_link_status") for r in replicas]
        if all(s.get("cluster_state") == "ok" and int(s.get("cluster_known_nodes", 0)) >= len(nodes) for s in states) \
                and all(link == "up" for link in links) and all([await slots_cover(cmd, node, nodes) for node in nodes]):
            return  # replicas have their first copy of the data, and every node names every other
        if time.monotonic() > deadline:
            raise EngineError("the Valkey cluster did not converge")
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- Memcached


class Memcached(Driver):
    family = "memcached"

    async def prepare(self, spec, source, primary) -> None:
        self.node_dir.mkdir(parents=True, exist_ok=True)

    def argv(self, spec, tls) -> list[str]:
        binary = binaries.memcached_bin()
        if binary is None:
            raise binaries.EngineMissing("memcached", "memcached")
        params = spec.get("params") or {}
        argv = [str(binary), "-l", spec["address"], "-p", str(spec["port"]), "-U", "0",
                "-m", str(int(params.get("memory_mb") or 64)),
                "-c", str(int(params.get("max_simultaneous_connections") or params.get("max_connections") or 1024))]
        # Parameter-group values with a memcached flag (static: they apply at start/reboot).
        for name, flag in (("max_item_size", "-I"), ("chunk_size", "-n"), ("chunk_size_growth_factor", "-f")):
            if params.get(name):
                argv += [flag, str(params[name])]
        if is_root():
            argv += ["-u", "root"]
        return argv

    async def ready(self, spec) -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(spec["address"], spec["port"]), 1)
        except (OSError, asyncio.TimeoutError):
            return False
        try:
            writer.write(b"version\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 1)
            return line.startswith(b"VERSION")
        except (OSError, asyncio.TimeoutError):
            return False
        finally:
            writer.close()

    async def metrics(self, spec) -> dict[str, float]:
        reader, writer = await asyncio.open_connection(spec["address"], spec["port"])
        try:
            writer.write(b"stats\r\n")
            await writer.drain()
            stats: dict[str, str] = {}
            while True:
                line = (await asyncio.wait_for(reader.readline(), 2)).decode().strip()
                if not line or line == "END":
                    break
                parts = line.split()
                if len(parts) == 3:
                    stats[parts[1]] = parts[2]
        finally:
            writer.close()
        return {"CurrConnections": float(stats.get("curr_connections", 0)), "GetHits": float(stats.get("get_hits", 0)),
                "GetMisses": float(stats.get("get_misses", 0)), "Evictions": float(stats.get("evictions", 0))}


DRIVERS: dict[str, type[Driver]] = {"postgres": Postgres, "mariadb": MariaDB, "valkey": Valkey, "memcached": Memcached}
