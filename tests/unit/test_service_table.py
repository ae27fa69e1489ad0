"""The static service table used for request detection agrees with botocore's models."""

from __future__ import annotations

import pytest

from nimbus import services
from nimbus.protocol.models import load_service_model, signing_name


@pytest.mark.parametrize("service", sorted(services.KNOWN_SERVICES))
def test_table_matches_model(service):
    info = services.KNOWN_SERVICES[service]
    model = load_service_model(service)
    assert info.signing_name == signing_name(model)
    assert info.endpoint_prefix == model.metadata["endpointPrefix"]
    assert info.api_version == model.metadata["apiVersion"]
    assert info.target_prefix == model.metadata.get("targetPrefix")


def test_every_provider_is_known():
    assert set(services.PROVIDERS) <= set(services.KNOWN_SERVICES)
