"""The simulation clock.

Life cycles, TTLs, cooldowns, health checks and alarms read ``Clock.now()``; tests move
it forward with ``advance()`` (exposed over HTTP as ``POST /_nimbus/clock``) instead of
sleeping.  Request signing and credential expiry use real time (``wall_now``), as the
design requires: a client's clock is real.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Callable


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._listeners: list[Callable[[float], None]] = []

    def time(self) -> float:
        """Simulated seconds since the epoch."""
        return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    @staticmethod
    def wall_now() -> datetime:
        return datetime.now(tz=timezone.utc)

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move simulated time forward and tell listeners (controllers) to catch up."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        for listener in list(self._listeners):
            listener(self.time())
        return self.time()

    def on_advance(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
