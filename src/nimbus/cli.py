"""The ``nimbus`` command: start, status, reset, ca-cert, accounts, settings."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .config import Config, settings_table


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        https_port=getattr(args, "https_port", None),
        data_dir=getattr(args, "data_dir", None),
        ephemeral=True if getattr(args, "ephemeral", False) else None,
    )


def cmd_start(args: argparse.Namespace) -> int:
    from .server import run

    return run(_config(args))


def _get(url: str, timeout: float = 2.0) -> dict:
    import urllib.request  # not on `nimbus start`'s path

    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    base = f"http://{config.host}:{config.port}"
    try:
        health = _get(f"{base}/_nimbus/health")
        status = _get(f"{base}/_nimbus/status")
    except OSError:  # urllib's URLError is an OSError
        print(f"Nimbus is not running on {base}")
        return 1
    print(f"Nimbus {health['version']} is up on {base} (uptime {health['uptime']:.0f} s), data in {status['data_dir']}")
    print(f"accounts: {status['accounts']}")
    for service, state in health["services"].items():
        counts = status["resources"].get(service, {})
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no resources"
        print(f"  {service:<16} {state:<16} {detail}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    config = _config(args)
    data_dir = config.data_dir
    if not data_dir.exists():
        print(f"Nothing to reset: {data_dir} does not exist")
        return 0
    try:
        _get(f"http://{config.host}:{config.port}/_nimbus/health", timeout=0.5)
        print("Nimbus is running; stop it before resetting its state.", file=sys.stderr)
        return 1
    except OSError:  # urllib's URLError is an OSError
        pass
    if not args.yes:
        answer = input(f"Delete all Nimbus state in {data_dir.resolve()}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    keep_ca = data_dir / "ca"
    for child in data_dir.iterdir():
        if child == keep_ca and not args.ca:
            continue  # users may already trust this CA
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    print(f"State in {data_dir} deleted" + (" (local CA kept)" if keep_ca.exists() else ""))
    return 0


def cmd_ca_cert(args: argparse.Namespace) -> int:
    from .pki import LocalCA

    config = _config(args)
    ca = LocalCA.load_or_create(config.data_dir / "ca")
    print(ca.cert_path.resolve())
    return 0


def _runtime_store(config: Config):
    from .accounts import Accounts
    from .state import Store

    store = Store(config.data_dir / "state.db")
    accounts = Accounts(store)
    accounts.ensure_root(config.account_id, config.access_key_id, config.secret_access_key)
    return store, accounts


def cmd_accounts(args: argparse.Namespace) -> int:
    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store, accounts = _runtime_store(config)
    try:
        if args.action == "create":
            account_id, key, secret = accounts.create_account(args.name or "account")
            print(json.dumps({"AccountId": account_id, "AccessKeyId": key, "SecretAccessKey": secret}, indent=2))
        else:
            for account in accounts.list_accounts():
                keys = ", ".join(accounts.root_keys(account["id"]))
                print(f"{account['id']}  {account.get('name', '')}  root keys: {keys}")
    finally:
        store.close()
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(settings_table())
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from .features import feature_table

    print(feature_table())
    return 0


def cmd_dig(args: argparse.Namespace) -> int:
    """Ask the running Nimbus's DNS server (found through /_nimbus/health), dig-style."""
    import socket

    from dnslib import EDNS0, EDNSOption, DNSRecord

    config = _config(args)
    server = args.server
    if server is None:
        try:
            server = _get(f"http://{config.host}:{config.port}/_nimbus/health").get("dns")
        except OSError:  # urllib's URLError is an OSError
            print(f"Nimbus is not running on http://{config.host}:{config.port}", file=sys.stderr)
            return 1
        if not server:
            print("Nimbus runs without a DNS server", file=sys.stderr)
            return 1
    host, _, port = server.rpartition(":")
    query = DNSRecord.question(args.name, args.type.upper())
    if args.subnet:
        import ipaddress

        net = ipaddress.ip_network(args.subnet, strict=False)
        family = 1 if net.version == 4 else 2
        data = family.to_bytes(2, "big") + bytes([net.prefixlen, 0]) + net.network_address.packed[: (net.prefixlen + 7) // 8]
        query.add_ar(EDNS0(udp_len=4096, opts=[EDNSOption(8, data)]))
    try:
        reply = DNSRecord.parse(query.send(host, int(port), tcp=args.tcp, timeout=3))
    except (socket.timeout, OSError) as exc:
        print(f"no answer from {server}: {exc}", file=sys.stderr)
        return 1
    print(f";; SERVER: {server}")
    print(reply)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nimbus", description="An AWS-compatible cloud on one machine.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="listen address (NIMBUS_HOST)")
        p.add_argument("--port", type=int, help="HTTP port (NIMBUS_PORT)")
        p.add_argument("--https-port", type=int, dest="https_port", help="HTTPS port, 0 for none (NIMBUS_HTTPS_PORT)")
        p.add_argument("--data-dir", type=Path, dest="data_dir", help="state directory (NIMBUS_DATA_DIR)")

    start = sub.add_parser("start", help="serve the cloud")
    common(start)
    start.add_argument("--ephemeral", action="store_true", help="keep state in a temporary directory")
    start.set_defaults(func=cmd_start)

    status = sub.add_parser("status", help="is it up, which services, how many resources")
    common(status)
    status.set_defaults(func=cmd_status)

    reset = sub.add_parser("reset", help="delete all state")
    common(reset)
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.add_argument("--ca", action="store_true", help="also delete the local CA")
    reset.set_defaults(func=cmd_reset)

    ca = sub.add_parser("ca-cert", help="print the path of the local CA certificate")
    common(ca)
    ca.set_defaults(func=cmd_ca_cert)

    accounts = sub.add_parser("accounts", help="create or list accounts")
    common(accounts)
    accounts.add_argument("action", choices=["create", "list"])
    accounts.add_argument("--name")
    accounts.set_defaults(func=cmd_accounts)

    settings = sub.add_parser("settings", help="print every setting with its variable and default")
    settings.set_defaults(func=cmd_settings)

    features = sub.add_parser("features", help="print the feature table: implemented operations per service")
    features.set_defaults(func=cmd_features)

    dig = sub.add_parser("dig", help="ask Nimbus's DNS server: nimbus dig NAME [TYPE]")
    common(dig)
    dig.add_argument("name")
    dig.add_argument("type", nargs="?", default="A")
    dig.add_argument("--tcp", action="store_true", help="ask over TCP")
    dig.add_argument("--subnet", help="EDNS client subnet, e.g. 203.0.113.0/24")
    dig.add_argument("--server", help="host:port of the DNS server (default: from /_nimbus/health)")
    dig.set_defaults(func=cmd_dig)

    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
