"""Loopback addresses for engine endpoints.

Every DB instance, cache node and stable endpoint (a replication group's primary or
reader endpoint, a Memcached configuration endpoint) gets its own ``127.x.y.z`` and
listens on AWS's port there (5432, 3306, 6379, 11211: all above 1024, so no privilege is
needed).  Linux routes all of 127.0.0.0/8 to the loopback interface, so the address works
for any client on the machine with no set-up.  Addresses are picked at random in
127.64.0.0/10 and checked free by binding, so several Nimbus servers on one machine
(tests run many) do not collide.
"""

from __future__ import annotations

import random
import socket

ADDRESS_KIND = "engines:address"
BASE_FIRST_OCTET = (64, 127)


def bindable(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def allocate(txn, port: int, owner: str) -> str:
    """Reserve a free loopback address for ``owner`` (recorded so it is not reused)."""
    rng = random.SystemRandom()
    for _ in range(200):
        address = f"127.{rng.randint(*BASE_FIRST_OCTET)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        if txn.exists(ADDRESS_KIND, address):
            continue
        if not bindable(address, port):
            continue
        txn.put(ADDRESS_KIND, address, {"owner": owner, "port": port})
        return address
    raise RuntimeError("no free loopback address")


def release(txn, address: str | None) -> None:
    if address:
        txn.delete(ADDRESS_KIND, address)
