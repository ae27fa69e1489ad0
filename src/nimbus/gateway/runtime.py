"""Everything a running Nimbus holds: settings, clock, state, bytes, accounts, providers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..accounts import Accounts
from ..blobs import BlobStore
from ..clock import Clock
from ..config import Config
from ..state import Store

log = logging.getLogger("nimbus")
CLOCK_KIND = "nimbus:clock"


@dataclass
class Runtime:
    config: Config
    store: Store
    blobs: BlobStore
    accounts: Accounts
    clock: Clock = field(default_factory=Clock)
    started: float = field(default_factory=time.time)
    providers: dict[str, Any] = field(default_factory=dict)
    ca: Any = None  # nimbus.pki.LocalCA once HTTPS is on
    supervisor: Any = None  # nimbus.planes.Supervisor while serving

    @classmethod
    def open(cls, config: Config) -> "Runtime":
        data = config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        store = Store(data / "state.db", fsync=config.fsync)
        blobs = BlobStore(data / "blobs", fsync=config.fsync)
        accounts = Accounts(store)
        accounts.ensure_root(config.account_id, config.access_key_id, config.secret_access_key)
        saved = store.read.get(CLOCK_KIND, "offset")
        clock = Clock(offset=float(saved) if saved else 0.0)

        def remember(now: float) -> None:  # simulated time never runs backwards across restarts
            with store.transaction() as txn:
                txn.put(CLOCK_KIND, "offset", clock.offset)

        clock.on_advance(remember)
        return cls(config=config, store=store, blobs=blobs, accounts=accounts, clock=clock)

    def provider(self, service: str) -> Any | None:
        """The provider of ``service``, created on first use."""
        provider = self.providers.get(service)
        if provider is None:
            from ..services import provider_class

            cls = provider_class(service)
            if cls is None:
                return None
            provider = self.providers[service] = cls(self)
        return provider

    def close(self) -> None:
        for provider in self.providers.values():
            closer = getattr(provider, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception:  # shutdown must go on
                    log.exception("error closing provider %s", provider)
        self.store.close()
