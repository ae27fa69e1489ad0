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
        return {"DatabaseConnections": float(out or 0)}



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

    def argv(self, spec, tls) -> list[str]:
        params = spec.get("params") or {}
        argv = [str(self.bins["server"]), "--no-defaults", f"--datadir={self.data}", f"--bind-address={spec['address']}",
                f"--port={spec['port']}", f"--socket={self.sock / 'mysqld.sock'}", f"--pid-file={self.node_dir / 'mysqld.pid'}",
                *self.COMMON, "--skip-name-resolve", f"--max-connections={int(params.get('max_connections') or 151)}",
                "--log-bin=mysql-bin", f"--server-id={int(spec.get('server_id') or 1)}", "--binlog-format=ROW",
                "--log-warnings=1", f"--innodb-flush-log-at-trx-commit={1 if self.durable else 2}",
                f"--sync-binlog={1 if self.durable else 0}"]
        if tls is not None:
            cert, key, ca = tls
            argv += [f"--ssl-cert={cert}", f"--ssl-key={key}", f"--ssl-ca={ca}"]
        if params.get("force_ssl"):
            argv.append("--require-secure-transport=ON")
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

    async def set_password(self, spec) -> None:
        await self.sql(f"ALTER USER {sql_literal(spec['master_user'])}@'%' IDENTIFIED BY {sql_literal(spec['master_password'])}")

    async def snapshot(self, dest: Path, running: bool) -> None:
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        if running:
            argv = [str(self.bins["dump"]), "--no-defaults", "-S", str(self.sock / "mysqld.sock"), "-u", "root",
                    "--all-databases", "--single-transaction", "--routines", "--events", "--triggers"]
            _, out, _ = await run(argv, timeout=600)
            (dest / "dump.sql").write_text(out)
        else:
            await copy_tree(self.data, dest / "data")

    async def metrics(self, spec) -> dict[str, float]:
        out = await self.sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        return {"DatabaseConnections": float(out.split()[-1]) if out else 0.0}


# --------------------------------------------------------------------------- Valkey


async def resp(address: str, port: int, *args: str, password: str | None = None, timeout: float = 2.0) -> Any:
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
            writer.write(encode(("AUTH", password)))
            await writer.drain()
            await asyncio.wait_for(read(reader), timeout)
        writer.write(encode(args))
        await writer.drain()
        return await asyncio.wait_for(read(reader), timeout)
    finally:
        writer.close()


class Valkey(Driver):
    family = "valkey"

    async def prepare(self, spec, source, primary) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        if source is not None and (source / "dump.rdb").exists():
            shutil.copy2(source / "dump.rdb", self.data / "dump.rdb")

    def argv(self, spec, tls) -> list[str]:
        server = binaries.valkey_server()
        if server is None:
            raise binaries.EngineMissing("valkey", "Valkey (valkey-server)")
        params = spec.get("params") or {}
        argv = [str(server), "--bind", spec["address"], "--port", str(spec["port"]), "--dir", str(self.data),
                "--dbfilename", "dump.rdb", "--daemonize", "no", "--protected-mode", "no", "--save", "3600 1 300 100 60 10000",
                "--repl-diskless-sync-delay", "0",
                "--maxmemory-policy", str(params.get("maxmemory-policy") or "volatile-lru")]
        if params.get("maxmemory"):
            argv += ["--maxmemory", str(params["maxmemory"])]
        if spec.get("auth_token"):
            argv += ["--requirepass", spec["auth_token"], "--masterauth", spec["auth_token"]]
        primary = spec.get("primary_address")
        if primary:
            argv += ["--replicaof", primary[0], str(primary[1])]
        if spec.get("cluster_enabled"):
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.data / "nodes.conf")]
        return argv

    async def ready(self, spec) -> bool:
        try:
            return await resp(spec["address"], spec["port"], "PING", password=spec.get("auth_token")) == "PONG"
        except (OSError, EngineError, asyncio.TimeoutError):
            return False

    async def snapshot(self, dest: Path, running: bool) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        if running:
            spec = self.spec
            await resp(spec["address"], spec["port"], "SAVE", password=spec.get("auth_token"), timeout=60)
        if (self.data / "dump.rdb").exists():
            shutil.copy2(self.data / "dump.rdb", dest / "dump.rdb")

    async def promote(self, spec) -> None:
        await resp(spec["address"], spec["port"], "REPLICAOF", "NO", "ONE", password=spec.get("auth_token"))

    async def follow(self, spec, primary) -> None:
        if primary is None:
            await self.promote(spec)
        else:
            await resp(spec["address"], spec["port"], "REPLICAOF", primary[0], str(primary[1]), password=spec.get("auth_token"))

    async def metrics(self, spec) -> dict[str, float]:
        info = await resp(spec["address"], spec["port"], "INFO", password=spec.get("auth_token"))
        values: dict[str, str] = {}
        for line in str(info).splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                values[key] = value.strip()
        out = {"CurrConnections": float(values.get("connected_clients", 0)),
               "CacheHits": float(values.get("keyspace_hits", 0)), "CacheMisses": float(values.get("keyspace_misses", 0)),
               "Evictions": float(values.get("evicted_keys", 0)), "BytesUsedForCache": float(values.get("used_memory", 0))}
        return out



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
                "-m", str(int(params.get("memory_mb") or 64)), "-c", str(int(params.get("max_connections") or 1024))]
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
