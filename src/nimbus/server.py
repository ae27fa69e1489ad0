"""Running Nimbus: open the runtime, serve HTTP and HTTPS, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from .config import Config
from .gateway.app import build_app
from .gateway.runtime import Runtime
from .planes import Supervisor

log = logging.getLogger("nimbus")


async def serve(config: Config, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM when running as the main program)."""
    started = time.perf_counter()
    runtime = Runtime.open(config)
    app, _ = build_app(runtime)
    # Bodies reach the gateway exactly as signed: SigV4 covers the compressed bytes.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5, auto_decompress=False)
    await runner.setup()
    sites = [web.TCPSite(runner, config.host, config.port, backlog=1024, reuse_address=True)]
    if config.https_port:
        from .pki import LocalCA

        runtime.ca = LocalCA.load_or_create(config.data_dir / "ca")
        ssl_context = runtime.ca.server_ssl_context([config.hostname, f"*.s3.{config.hostname}"])
        sites.append(web.TCPSite(runner, config.host, config.https_port, ssl_context=ssl_context, backlog=1024, reuse_address=True))
    stop = stop or asyncio.Event()
    supervisor = Supervisor(runtime)
    runtime.supervisor = supervisor
    try:
        for site in sites:
            await site.start()
        await supervisor.start()
        loop = asyncio.get_running_loop()
        if ready is None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
        elapsed = time.perf_counter() - started
        https = f" https://{config.hostname}:{config.https_port}" if config.https_port else ""
        print(
            f"Nimbus ready on http://{config.hostname}:{config.port}{https} · data {config.data_dir} · "
            f"credentials {config.access_key_id}/{config.secret_access_key} (account {config.account_id}) · "
            f"{elapsed * 1000:.0f} ms",
            flush=True,
        )
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await supervisor.stop()
        await runner.cleanup()
        runtime.close()


def run(config: Config) -> int:
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    temp_dir: str | None = None
    if config.ephemeral:
        temp_dir = tempfile.mkdtemp(prefix="nimbus-")
        config.data_dir = Path(temp_dir)
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(f"nimbus: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0
