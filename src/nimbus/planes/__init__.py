"""Data planes and controllers: the parts of Nimbus that run beside the API.

A *plane* serves traffic that is not the AWS API (DNS queries, load-balanced HTTP,
database connections ...).  It is started with the server, stopped with it, and learns
of control-plane changes through the store's change feed — it never reaches into a
provider's objects.  A *controller* reconciles state on the simulation clock (instance
life cycles, health checks, lifecycle rules ...).

Both are registered in ``PLANES``/``CONTROLLERS`` as ``"module:Class"`` strings and
built lazily with the runtime: ``Class(runtime)``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..gateway.runtime import Runtime

log = logging.getLogger("nimbus.planes")

# module:Class of every data plane, started in this order.
PLANES: list[str] = [
    "nimbus.planes.dns:DnsPlane",
    "nimbus.planes.engines:EnginesPlane",
]

# module:Class of every controller; ``tick(now)`` runs every ``interval`` simulated seconds
# and immediately whenever the clock is advanced.
CONTROLLERS: list[str] = [
    "nimbus.planes.healthchecks:HealthCheckController",
    "nimbus.planes.engines:EnginesController",
    "nimbus.services.rds.storage:StorageController",
    "nimbus.services.s3.lifecycle:S3Controller",
    "nimbus.services.ec2.spot:SpotController",
    "nimbus.services.ec2.spot:InstanceSweeper",
]


class Plane(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """What /_nimbus/health says of this plane (e.g. {"dns": "127.0.0.1:10053"})."""
        ...


class Controller(Protocol):
    interval: float  # simulated seconds between ticks

    def tick(self, now: float) -> None:
        """Bring state up to ``now`` — however far the clock jumped since the last tick."""
        ...


def _load(target: str, runtime: "Runtime") -> Any:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(runtime)


class Supervisor:
    """Starts planes, drives controllers on the clock, stops everything at shutdown."""

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.planes: list[Any] = []
        self.controllers: list[Any] = []
        self._task: asyncio.Task | None = None
        self._last: dict[int, float] = {}
        self._wake = asyncio.Event()

    async def start(self) -> None:
        for target in PLANES:
            plane = _load(target, self.runtime)
            await plane.start()
            self.planes.append(plane)
        self.runtime.clock.on_advance(lambda now: self._wake.set())
        self._task = asyncio.create_task(self._drive())

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for plane in self.planes:
            info.update(plane.describe())
        return info

    def run_due(self) -> None:
        """Run every controller whose interval has passed on the simulation clock."""
        now = self.runtime.clock.time()
        for controller in self.controllers:
            last = self._last.get(id(controller))
            if last is None or now - last >= controller.interval:
                self._last[id(controller)] = now
                try:
                    controller.tick(now)
                except Exception:
                    log.exception("controller %s failed", type(controller).__name__)

    async def _drive(self) -> None:
        # Controllers import their services' modules: build them once serving has begun,
        # so they never hold up start-up (their first tick is due now anyway).
        for target in CONTROLLERS:
            await asyncio.sleep(0)  # let waiting requests through between imports
            self.controllers.append(_load(target, self.runtime))
        while True:
            self.run_due()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for plane in reversed(self.planes):
            try:
                await plane.stop()
            except Exception:
                log.exception("plane %s failed to stop", type(plane).__name__)
