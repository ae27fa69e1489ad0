"""Service models: botocore's own, plus Nimbus's small patch files for model gaps.

Models are loaded lazily (each costs a few milliseconds to decompress) and cached for
the life of the process.  A patch file ``patches/<service>.json`` is deep-merged into
the raw model before botocore builds its ``ServiceModel``; keep patches small and say
why in their ``"//"`` comment keys.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import botocore.loaders
from botocore.model import OperationModel, ServiceModel

_loader = botocore.loaders.Loader()


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("//"):
            continue  # comment
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _patch_for(service: str) -> dict[str, Any] | None:
    path = resources.files("nimbus.protocol") / "patches" / f"{service}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=None)
def load_service_model(service: str) -> ServiceModel:
    """The (patched) botocore model of ``service`` (botocore's service name, e.g. ``cloudwatch``)."""
    raw = _loader.load_service_model(service, "service-2")
    patch = _patch_for(service)
    if patch:
        raw = json.loads(json.dumps(raw))  # never mutate botocore's cached copy
        _deep_merge(raw, patch)
    return ServiceModel(raw, service_name=service)


@functools.lru_cache(maxsize=None)
def operation_model(service: str, operation: str) -> OperationModel:
    return load_service_model(service).operation_model(operation)


def protocols_of(model: ServiceModel) -> list[str]:
    """Every protocol a service accepts (CloudWatch: smithy-rpc-v2-cbor, json, query)."""
    listed = model.metadata.get("protocols")
    return list(listed) if listed else [model.metadata["protocol"]]


def signing_name(model: ServiceModel) -> str:
    return model.metadata.get("signingName") or model.metadata["endpointPrefix"]
