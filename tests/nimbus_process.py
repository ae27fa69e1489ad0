"""Start and stop real Nimbus servers for the tests (never a mock of Nimbus)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

ROOT = Path(__file__).resolve().parents[1]


def aws_cli() -> str:
    """The AWS CLI installed beside this Python (the test venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("aws")
    return str(beside) if beside.exists() else "aws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NimbusServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)  # UDP and TCP (NIMBUS_DNS_PORT)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def https_endpoint(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def ca_cert(self) -> str:
        return str(self.data_dir / "ca" / "ca.pem")

    def start(self, timeout: float = 20.0) -> "NimbusServer":
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        env["NIMBUS_DNS_PORT"] = str(self.dns_port)
        env.update(self.env)
        self.dns_port = int(env["NIMBUS_DNS_PORT"])
        self.log_path = self.data_dir.parent / f"nimbus-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nimbus", "start", "--port", str(self.port),
             "--https-port", str(self.https_port), "--data-dir", str(self.data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nimbus exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/_nimbus/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nimbus did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """kill -9: no chance to flush or clean up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.endpoint}/_nimbus/health", timeout=2) as r:
            return json.loads(r.read())

    def now(self):
        """The server's simulation-clock time (tests share a server whose clock others move)."""
        from datetime import datetime

        with urllib.request.urlopen(f"{self.endpoint}/_nimbus/clock", timeout=5) as r:
            return datetime.fromisoformat(json.loads(r.read())["now"])

    def advance_clock(self, seconds: float) -> dict:
        req = urllib.request.Request(
            f"{self.endpoint}/_nimbus/clock", data=json.dumps({"seconds": seconds}).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def client(self, service: str, region: str = "us-east-1", *, key: str = "test", secret: str = "test",
               https: bool = False, **config: object):
        # Client-side validation is off: Nimbus must refuse bad input itself, whatever the
        # botocore version checks.
        config.setdefault("parameter_validation", False)
        boto_config = BotoConfig(retries={"max_attempts": 1}, **config)  # type: ignore[arg-type]
        return boto3.client(
            service,
            endpoint_url=self.https_endpoint if https else self.endpoint,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=boto_config,
            verify=self.ca_cert if https else None,
        )

    def cli_env(self, region: str = "us-east-1") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=region,
            AWS_ENDPOINT_URL=self.endpoint, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        return env

    def aws(self, *args: str, region: str = "us-east-1", check: bool = True) -> subprocess.CompletedProcess:
        """Run the AWS CLI against this server."""
        return subprocess.run(
            [aws_cli(), "--endpoint-url", self.endpoint, *args], env=self.cli_env(region),
            capture_output=True, text=True, check=check, timeout=120,
        )
