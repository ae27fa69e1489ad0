"""The service registry: which botocore services Nimbus knows, and who serves them.

``PROVIDERS`` names the provider class of every served service (imported lazily, so
start-up stays fast).  ``KNOWN`` lists services whose requests Nimbus recognises: one
without a provider still resolves the operation from its model and answers 501
``NotImplemented`` naming it, never a confusing 404.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from botocore.model import ServiceModel

from ..protocol.models import load_service_model, signing_name

PROVIDERS: dict[str, str] = {
    "sts": "nimbus.services.sts.provider:StsProvider",
    "ec2": "nimbus.services.ec2.provider:Ec2Provider",
    "s3": "nimbus.services.s3.provider:S3Provider",
    "cloudwatch": "nimbus.services.cloudwatch.provider:CloudWatchProvider",
    "kms": "nimbus.services.kms.provider:KmsProvider",
    "efs": "nimbus.services.efs.provider:EfsProvider",
}

# Services of the seed notes that are recognised before they are served.
KNOWN: tuple[str, ...] = tuple(PROVIDERS) + (
    "iam",
    "s3control",
    "route53",
    "route53domains",
    "rds",
    "elasticache",
    "elbv2",
    "elb",
    "autoscaling",
    "acm",
    "ssm",
    "logs",
    "cloudtrail",
)

# Global services keep their resources per account, not per region.
GLOBAL_SERVICES = frozenset({"iam", "sts", "route53", "route53domains", "cloudfront", "organizations"})


def provider_class(service: str) -> Any | None:
    target = PROVIDERS.get(service)
    if target is None:
        return None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


@functools.lru_cache(maxsize=None)
def model(service: str) -> ServiceModel:
    return load_service_model(service)


@functools.lru_cache(maxsize=1)
def by_signing_name() -> dict[str, list[str]]:
    """Credential-scope service → services that sign with it (s3 → s3, s3control)."""
    index: dict[str, list[str]] = {}
    for service in KNOWN:
        index.setdefault(signing_name(model(service)), []).append(service)
    return index


@functools.lru_cache(maxsize=1)
def by_target_prefix() -> dict[str, str]:
    """``X-Amz-Target`` prefix (json) and RPC v2 service name (cbor) → service."""
    index: dict[str, str] = {}
    for service in KNOWN:
        prefix = model(service).metadata.get("targetPrefix")
        if prefix:
            index[prefix] = service
    return index


@functools.lru_cache(maxsize=1)
def by_endpoint_prefix() -> dict[str, str]:
    return {model(s).metadata["endpointPrefix"]: s for s in KNOWN}


@functools.lru_cache(maxsize=1)
def unsigned_actions() -> dict[str, str]:
    """Query actions that are called without credentials (sts:AssumeRoleWithWebIdentity ...)."""
    index: dict[str, str] = {}
    for service in KNOWN:
        m = model(service)
        if m.metadata["protocol"] not in ("query", "ec2"):
            continue
        for name in m.operation_names:
            if m.operation_model(name).auth_type == "none" or m.operation_model(name).metadata.get("auth") == ["smithy.api#noAuth"]:
                index[name] = service
    return index
