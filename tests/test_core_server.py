"""The server itself: start-up line, health, status, CLI commands, shutdown, persistence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from nimbus_process import ROOT, NimbusServer, free_port


def _nimbus_cli(*args: str, data_dir, port: int | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = [sys.executable, "-m", "nimbus", *args, "--data-dir", str(data_dir)]
    if port:
        command += ["--port", str(port)]
    return subprocess.run(command, env=env, capture_output=True, text=True, input=stdin, timeout=60)


def test_ready_line_health_and_clean_shutdown(tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen(
        [sys.executable, "-m", "nimbus", "start", "--port", str(port), "--https-port", "0", "--ephemeral"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = process.stdout.readline()
        assert f"http://localhost:{port}" in line
        assert "test/test" in line and "000000000000" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_nimbus/health") as r:
            health = json.loads(r.read())
        assert health["version"]
        assert health["uptime"] >= 0
        assert health["services"]["s3"] == "running"
        assert health["services"]["acm"] == "not implemented"
        data_dir = line.split("data ")[1].split(" ")[0]
        assert os.path.isdir(data_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert not os.path.exists(data_dir), "--ephemeral removes its state at shutdown"


def test_status_counts_resources(nimbus):
    s3 = nimbus.client("s3")
    s3.create_bucket(Bucket="status-bucket")
    s3.put_object(Bucket="status-bucket", Key="k", Body=b"1")
    result = _nimbus_cli("status", data_dir=nimbus.data_dir, port=nimbus.port)
    assert result.returncode == 0, result.stderr
    assert "is up" in result.stdout
    s3_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("s3 "))
    assert "bucket" in s3_line and "object" in s3_line


def test_status_when_down(tmp_path):
    result = _nimbus_cli("status", data_dir=tmp_path, port=free_port())
    assert result.returncode == 1
    assert "not running" in result.stdout


def test_reset_asks_then_wipes(tmp_path, fresh_nimbus):
    server = fresh_nimbus(tmp_path / "data")
    server.client("s3").create_bucket(Bucket="to-be-wiped")
    refused = _nimbus_cli("reset", data_dir=server.data_dir, port=server.port, stdin="y\n")
    assert refused.returncode == 1 and "running" in refused.stderr
    server.stop()
    declined = _nimbus_cli("reset", data_dir=server.data_dir, port=server.port, stdin="n\n")
    assert declined.returncode == 1 and "Nothing deleted" in declined.stdout
    wiped = _nimbus_cli("reset", "--yes", data_dir=server.data_dir, port=server.port)
    assert wiped.returncode == 0, wiped.stderr
    again = NimbusServer(server.data_dir, port=server.port, https_port=server.https_port).start()
    try:
        assert again.client("s3").list_buckets()["Buckets"] == []
    finally:
        again.stop()


def test_ca_cert_prints_the_ca_path(nimbus):
    result = _nimbus_cli("ca-cert", data_dir=nimbus.data_dir)
    assert result.returncode == 0
    path = result.stdout.strip()
    assert path.endswith("ca.pem") and os.path.exists(path)
    assert open(path).read().startswith("-----BEGIN CERTIFICATE-----")
    assert nimbus.health()["ca_cert"] == os.path.realpath(path) or os.path.samefile(nimbus.health()["ca_cert"], path)


def test_https_endpoint_with_the_local_ca(nimbus):
    sts = nimbus.client("sts", https=True)
    assert sts.get_caller_identity()["Account"] == "000000000000"
    s3 = nimbus.client("s3", https=True)
    s3.create_bucket(Bucket="tls-bucket")
    # Over HTTPS boto3 streams aws-chunked bodies with a trailing CRC32; Nimbus verifies it.
    s3.put_object(Bucket="tls-bucket", Key="k", Body=b"over tls" * 1000)
    assert s3.get_object(Bucket="tls-bucket", Key="k")["Body"].read() == b"over tls" * 1000


def test_accounts_are_isolated(nimbus):
    result = _nimbus_cli("accounts", "create", "--name", "second", data_dir=nimbus.data_dir)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    other = nimbus.client("sts", key=created["AccessKeyId"], secret=created["SecretAccessKey"])
    identity = other.get_caller_identity()
    assert identity["Account"] == created["AccountId"] != "000000000000"
    assert identity["Arn"] == f"arn:aws:iam::{created['AccountId']}:root"
    s3_other = nimbus.client("s3", key=created["AccessKeyId"], secret=created["SecretAccessKey"])
    nimbus.client("s3").create_bucket(Bucket="owned-by-default")
    assert "owned-by-default" not in [b["Name"] for b in s3_other.list_buckets()["Buckets"]]
    with pytest.raises(Exception) as info:
        s3_other.create_bucket(Bucket="owned-by-default")
    assert "BucketAlreadyExists" in str(info.value)
    listing = _nimbus_cli("accounts", "list", data_dir=nimbus.data_dir)
    assert created["AccountId"] in listing.stdout and "000000000000" in listing.stdout


def test_state_survives_kill_9(tmp_path, fresh_nimbus):
    server = fresh_nimbus(tmp_path / "data")
    s3 = server.client("s3")
    s3.create_bucket(Bucket="durable")
    payload = os.urandom(3 * 1024 * 1024)
    s3.put_object(Bucket="durable", Key="blob.bin", Body=payload)
    kms = server.client("kms")
    key_id = kms.create_key(Description="durable key")["KeyMetadata"]["KeyId"]
    server.kill()
    restarted = fresh_nimbus(tmp_path / "data")
    s3 = restarted.client("s3")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["durable"]
    assert s3.get_object(Bucket="durable", Key="blob.bin")["Body"].read() == payload
    assert restarted.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "durable key"


def test_clock_moves_forward(nimbus):
    before = nimbus.advance_clock(0)["offset"]
    after = nimbus.advance_clock(3600)["offset"]
    assert after == before + 3600
    with pytest.raises(urllib.error.HTTPError) as info:
        nimbus.advance_clock(-5)
    assert info.value.code == 400
