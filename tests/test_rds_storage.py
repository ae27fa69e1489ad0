"""RDS storage autoscaling on the simulation clock against the engine's real disk use.

The server counts 512 KiB of real disk as one GiB of allocated storage
(``NIMBUS_RDS_GIB_BYTES``), so a fresh PostgreSQL data directory already fills even a
45 GiB instance past 90 %; the clock is moved, never slept through."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from test_rds import code, create, wait_status


def test_storage_autoscaling_follows_the_rules(fresh_nimbus):
    nimbus = fresh_nimbus(NIMBUS_RDS_GIB_BYTES=str(1 << 19))
    rds = nimbus.client("rds")
    with pytest.raises(ClientError) as exc:
        create(rds, "grow", MaxAllocatedStorage=10)
    assert code(exc) == "InvalidParameterCombination"
    create(rds, "grow", MaxAllocatedStorage=45)
    db = wait_status(rds, "grow")
    assert db["AllocatedStorage"] == 20 and db["MaxAllocatedStorage"] == 45

    def allocated() -> int:
        return rds.describe_db_instances(DBInstanceIdentifier="grow")["DBInstances"][0]["AllocatedStorage"]

    def advance_until_growth(limit: int) -> int:
        """Move the clock a minute at a time until storage grows; the simulated seconds it took."""
        before, elapsed = allocated(), 0
        while allocated() == before:
            assert elapsed < limit, f"no growth within {limit} s"
            nimbus.advance_clock(60)
            elapsed += 60
        return elapsed

    # Free space is low from the start (first reading after 6 hours since creation); it must
    # stay low for 5 minutes, then storage grows by 10 GiB.
    nimbus.advance_clock(6 * 3600)
    assert allocated() == 20
    assert advance_until_growth(900) >= 300
    assert allocated() == 30
    events = rds.describe_events(SourceIdentifier="grow", SourceType="db-instance", Duration=1440)["Events"]
    assert any("autoscaling" in e["Message"] and "20 GiB to 30 GiB" in e["Message"] for e in events)
    # Not again within 6 hours of that change; then at once (free space stayed low).
    for _ in range(10):
        nimbus.advance_clock(1800)
    assert allocated() == 30
    nimbus.advance_clock(3 * 3600)
    assert allocated() == 40
    # A manual change counts as a change too; then growth stops at MaxAllocatedStorage.
    rds.modify_db_instance(DBInstanceIdentifier="grow", AllocatedStorage=44, ApplyImmediately=True)
    nimbus.advance_clock(3 * 3600)
    assert allocated() == 44
    nimbus.advance_clock(3 * 3600)
    assert allocated() == 45
    nimbus.advance_clock(7 * 3600)
    for _ in range(10):
        nimbus.advance_clock(60)
    assert allocated() == 45
    with pytest.raises(ClientError) as exc:
        rds.modify_db_instance(DBInstanceIdentifier="grow", MaxAllocatedStorage=30)
    assert code(exc) == "InvalidParameterCombination"
    rds.delete_db_instance(DBInstanceIdentifier="grow", SkipFinalSnapshot=True)
