"""The HTTP application: Nimbus's own endpoints, and every other path to the AWS pipeline.

The pipeline (``gateway.pipeline``: SigV4, the protocol layer, the policy engine, the
providers) pulls in botocore's models and most of Nimbus, a few hundred milliseconds of
imports.  It is imported by the first AWS request, on the event loop's thread, so the
server answers its own endpoints at once.  (Importing it on a background thread instead
races the controllers' imports on the loop: Python breaks such cross-thread import
cycles by failing one side.)
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from typing import Any

from aiohttp import web

from .. import __version__, services
from .runtime import Runtime

PIPELINE = "nimbus.gateway.pipeline"


class Application:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._gateway: Any = None

    # -- the AWS pipeline ----------------------------------------------------------------

    @property
    def gateway(self) -> Any:
        if self._gateway is None:
            self._gateway = importlib.import_module(PIPELINE).Gateway(self.runtime)
        return self._gateway

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await self.gateway.handle(request)

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()

    # -- Nimbus's own endpoints ------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        runtime = self.runtime
        document: dict[str, Any] = {
            "version": __version__,
            "uptime": round(time.time() - runtime.started, 3),
            "services": {
                name: ("running" if _served(name) else "not implemented") for name in services.KNOWN
            },
            "endpoint": runtime.config.endpoint,
            "clock": f"{runtime.config.endpoint}/_nimbus/clock",
        }
        if runtime.config.https_endpoint:
            document["https"] = runtime.config.https_endpoint
        if runtime.ca is not None:
            document["ca_cert"] = str(runtime.ca.cert_path)
        if runtime.supervisor is not None:
            document.update(runtime.supervisor.describe())
        return web.json_response(document)

    async def status(self, request: web.Request) -> web.Response:
        counts = self.runtime.store.read.counts_by_kind()
        per_service: dict[str, dict[str, int]] = {}
        for kind, count in counts.items():
            service, _, resource = kind.partition(":")
            if resource and service != "nimbus":
                per_service.setdefault(service, {})[resource] = count
        return web.json_response(
            {
                "version": __version__,
                "data_dir": str(self.runtime.config.data_dir),
                "accounts": counts.get("account", 0),
                "resources": per_service,
            }
        )

    async def clock(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                payload = await request.json()
                seconds = float(payload["seconds"])
                self.runtime.clock.advance(seconds)
                if self.runtime.supervisor is not None:
                    self.runtime.supervisor.run_due()  # controllers catch up before we answer
            except (ValueError, KeyError, TypeError) as exc:
                return web.json_response({"error": f"POST {{\"seconds\": N}} with N ≥ 0 ({exc})"}, status=400)
        return web.json_response({"now": self.runtime.clock.now().isoformat(), "offset": self.runtime.clock.offset})


def _served(service: str) -> bool:
    """Whether a provider module exists for ``service``, without importing it."""
    target = services.PROVIDERS.get(service)
    if target is None:
        return False
    try:
        return importlib.util.find_spec(target.partition(":")[0]) is not None
    except ModuleNotFoundError:
        return False


def build_app(runtime: Runtime) -> tuple[web.Application, Application]:
    nimbus = Application(runtime)
    app = web.Application(client_max_size=runtime.config.max_request_body)
    app.router.add_get("/_nimbus/health", nimbus.health)
    app.router.add_get("/_nimbus/status", nimbus.status)
    app.router.add_route("*", "/_nimbus/clock", nimbus.clock)
    app.router.add_route("*", "/{tail:.*}", nimbus.handle)

    async def close(app: web.Application) -> None:
        nimbus.close()

    app.on_cleanup.append(close)
    return app, nimbus
