"""Shared fixtures: one real Nimbus per test session, and fresh ones where a test needs them."""

from __future__ import annotations

import pytest

from nimbus_process import NimbusServer


@pytest.fixture(scope="session")
def nimbus(tmp_path_factory: pytest.TempPathFactory):
    server = NimbusServer(tmp_path_factory.mktemp("nimbus") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_nimbus(tmp_path):
    """A server of the test's own (restarts, kill -9, settings)."""
    servers: list[NimbusServer] = []

    def start(data_dir=None, **env: str) -> NimbusServer:
        server = NimbusServer(data_dir or tmp_path / "data", env=env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
