"""The Route 53 health-check controller: real probes on the simulation clock.

``tick(now)`` finds checks whose request interval has elapsed (however far the clock
jumped: each elapsed interval counts as one observation of what the endpoint answers
now, up to the failure threshold) and probes them from every checker location
concurrently, in a task, so the API never waits on a probe.  Results go to
``route53:healthcheck-state`` (observations), ``route53:health`` (only when a verdict
flips — the DNS plane listens to that) and CloudWatch (``AWS/Route53``
``HealthCheckStatus`` / ``HealthCheckPercentageHealthy``, dimension ``HealthCheckId``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ...services.cloudwatch import metrics as CW
from ...services.route53 import healthchecks as H
from ...services.route53 import records as R

log = logging.getLogger("nimbus.healthchecks")

ALARM_KIND = "cloudwatch:alarm"
METRIC_REGION = "us-east-1"


class HealthCheckController:
    interval = 1.0

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._task: asyncio.Task | None = None
        self._again = False

    def tick(self, now: float) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run(now))

    async def _run(self, now: float) -> None:
        try:
            await self.run_once(now)
        except Exception:
            log.exception("health checks failed")
        if self._again:
            self._again = False
            self._task = asyncio.get_running_loop().create_task(self._run(self.runtime.clock.time()))

    async def run_once(self, now: float) -> None:
        store = self.runtime.store
        checks: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for account in store.read.scopes(R.HEALTHCHECK_KIND):
            for hc_id, doc in store.read.scan(R.HEALTHCHECK_KIND, account):
                state = store.read.get(R.HEALTHSTATE_KIND, hc_id, account) or {}
                checks.append((account, doc, state))
        endpoint = [(a, d, s) for a, d, s in checks if d["HealthCheckConfig"]["Type"] in H.ENDPOINT_TYPES]
        results = await asyncio.gather(*(self._probe_endpoint(now, d, s) for a, d, s in endpoint))
        updates: dict[tuple[str, str], dict[str, Any]] = {}
        for (account, doc, _), state in zip(endpoint, results):
            if state is not None:
                updates[(account, doc["Id"])] = state
        # derived checks see the fresh verdicts of their children
        verdicts = {(a, d["Id"]): (updates.get((a, d["Id"])) or s).get("healthy", True) for a, d, s in checks}
        for account, doc, state in checks:
            kind = doc["HealthCheckConfig"]["Type"]
            if kind in H.ENDPOINT_TYPES:
                continue
            if state.get("checked", 0) + 10 > now and state:
                continue
            new = self._derived(now, account, doc, state, verdicts)
            verdicts[(account, doc["Id"])] = new["healthy"]
            updates[(account, doc["Id"])] = new
        if not updates:
            return
        with store.transaction() as txn:
            for (account, hc_id), state in updates.items():
                if not txn.exists(R.HEALTHCHECK_KIND, hc_id, account):
                    continue  # deleted while probing
                txn.put(R.HEALTHSTATE_KIND, hc_id, state, account)
                old = txn.get(R.HEALTH_KIND, hc_id, account)
                if old is None or old.get("healthy") != state["healthy"]:
                    txn.put(R.HEALTH_KIND, hc_id, {"healthy": state["healthy"], "since": now}, account)
                self._metrics(txn, account, hc_id, state, now)

    # -- endpoint checks ---------------------------------------------------------------

    async def _probe_endpoint(self, now: float, doc: dict[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
        config = doc["HealthCheckConfig"]
        interval = config.get("RequestInterval", 30)
        threshold = config.get("FailureThreshold", 3)
        last = state.get("checked")
        if last is None:
            due = 1
            base = now
        else:
            due = int((now - last) // interval)
            base = last + due * interval
        if due <= 0:
            return None
        locations = H.checkers(config)
        if config.get("Disabled"):
            outcomes = [(True, "Success: The health check is disabled; Route 53 considers it healthy.")] * len(locations)
        else:
            resolver = self._resolver()
            outcomes = await asyncio.gather(*(H.probe(config, resolver) for _ in locations))
        checkers = dict(state.get("checkers") or {})
        observations, failures = [], list(state.get("failures") or [])
        for (region, ip), (ok, text) in zip(locations, outcomes):
            c = dict(checkers.get(region) or {"healthy": True, "streak": 0})
            for _ in range(min(due, threshold)):
                if ok == c["healthy"]:
                    c["streak"] = 0
                else:
                    c["streak"] += 1
                    if c["streak"] >= threshold:
                        c["healthy"], c["streak"] = ok, 0
            checkers[region] = c
            obs = {"Region": region, "IPAddress": ip, "Status": text, "CheckedTime": base}
            observations.append(obs)
            if not ok:
                failures = [f for f in failures if f["Region"] != region] + [obs]
        healthy_count = sum(1 for c in checkers.values() if c["healthy"])
        fraction = healthy_count / max(1, len(locations))
        healthy = fraction > H.HEALTHY_FRACTION
        if config.get("Inverted") and not config.get("Disabled"):
            healthy = not healthy
        return {"checked": base, "checkers": checkers, "observations": observations, "failures": failures[-len(locations):],
                "healthy": healthy, "percent": 100.0 * fraction}

    def _resolver(self) -> Any:
        from ..dns import current
        from ..dns import wire

        plane = current(self.runtime)
        if plane is None:
            return None

        def resolve(name: str) -> str | None:
            query = wire.Query(0, 0, R.normalize_name(name), 1, 1, b"")
            answer = plane.resolver.answer(plane.snapshot, query, "127.0.0.1")
            for owner, rtype, ttl, rdata in answer.records or []:
                if rtype == 1:
                    return ".".join(str(b) for b in rdata)
            return None

        return resolve

    # -- calculated and CloudWatch alarm checks ----------------------------------------

    def _derived(self, now: float, account: str, doc: dict[str, Any], state: dict[str, Any], verdicts: dict) -> dict[str, Any]:
        config = doc["HealthCheckConfig"]
        kind = config["Type"]
        if config.get("Disabled"):
            healthy, text = True, "Success: The health check is disabled; Route 53 considers it healthy."
        elif kind == "CALCULATED":
            children = config.get("ChildHealthChecks") or []
            good = sum(1 for child in children if verdicts.get((account, child), True))
            healthy = good >= config.get("HealthThreshold", 0)
            text = f"{'Success' if healthy else 'Failure'}: {good} of {len(children)} child health checks are healthy (threshold {config.get('HealthThreshold', 0)})."
        elif kind == "CLOUDWATCH_METRIC":
            alarm = config["AlarmIdentifier"]
            alarm_state = self.alarm_state(account, alarm["Region"], alarm["Name"])
            if alarm_state == "OK":
                healthy, text = True, f"Success: The CloudWatch alarm {alarm['Name']} is in the OK state."
            elif alarm_state == "ALARM":
                healthy, text = False, f"Failure: The CloudWatch alarm {alarm['Name']} is in the ALARM state."
            else:
                mode = config.get("InsufficientDataHealthStatus", "LastKnownStatus")
                healthy = {"Healthy": True, "Unhealthy": False}.get(mode, state.get("healthy", True))
                text = f"{'Success' if healthy else 'Failure'}: The CloudWatch alarm {alarm['Name']} has insufficient data ({mode})."
        else:  # RECOVERY_CONTROL: on unless switched off
            healthy, text = True, "Success: The routing control is on."
        if config.get("Inverted") and not config.get("Disabled"):
            healthy = not healthy
        obs = {"Region": "us-east-1", "IPAddress": "", "Status": text, "CheckedTime": now}
        failures = list(state.get("failures") or [])
        if not healthy:
            failures = [obs]
        return {"checked": now, "observations": [obs], "failures": failures, "healthy": healthy, "percent": 100.0 if healthy else 0.0}

    def alarm_state(self, account: str, region: str, name: str) -> str | None:
        """OK / ALARM / INSUFFICIENT_DATA of a CloudWatch alarm (``cloudwatch:alarm``
        records keyed by name in ``<account>/<region>``); None when there is none."""
        doc = self.runtime.store.read.get(ALARM_KIND, name, f"{account}/{region}")
        if not isinstance(doc, dict):
            return None
        if doc.get("StateValue"):
            return doc["StateValue"]
        state = doc.get("State")
        return state.get("Value") if isinstance(state, dict) else None

    # -- CloudWatch metrics ------------------------------------------------------------

    def _metrics(self, txn: Any, account: str, hc_id: str, state: dict[str, Any], now: float) -> None:
        dims = [{"Name": "HealthCheckId", "Value": hc_id}]
        CW.publish(txn, f"{account}/{METRIC_REGION}", "AWS/Route53", [
            ("HealthCheckStatus", dims, 1.0 if state["healthy"] else 0.0, "None"),
            ("HealthCheckPercentageHealthy", dims, float(state.get("percent", 0.0)), "Percent"),
        ], now)
