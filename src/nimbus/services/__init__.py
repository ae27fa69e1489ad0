"""The service registry: which botocore services Nimbus knows, and who serves them.

``PROVIDERS`` names the provider class of every served service (imported lazily, so
start-up stays fast).  ``KNOWN`` lists services whose requests Nimbus recognises: one
without a provider still resolves the operation from its model and answers 501
``NotImplemented`` naming it, never a confusing 404.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # botocore loads on first use: start-up must not wait for it
    from botocore.model import ServiceModel

PROVIDERS: dict[str, str] = {
    "sts": "nimbus.services.sts.provider:StsProvider",
    "ec2": "nimbus.services.ec2.provider:Ec2Provider",
    "s3": "nimbus.services.s3.provider:S3Provider",
    "cloudwatch": "nimbus.services.cloudwatch.provider:CloudWatchProvider",
    "kms": "nimbus.services.kms.provider:KmsProvider",
    "efs": "nimbus.services.efs.provider:EfsProvider",
    "iam": "nimbus.services.iam.provider:IamProvider",
    "s3control": "nimbus.services.s3control.provider:S3ControlProvider",
    "ssm": "nimbus.services.ssm.provider:SsmProvider",
    "route53": "nimbus.services.route53.provider:Route53Provider",
    "route53domains": "nimbus.services.route53domains.provider:Route53DomainsProvider",
    "rds": "nimbus.services.rds.provider:RdsProvider",
    "elasticache": "nimbus.services.elasticache.provider:ElastiCacheProvider",
    "cloudtrail": "nimbus.services.cloudtrail.provider:CloudTrailProvider",
}



@dataclass(frozen=True)
class ServiceInfo:
    """What request detection needs to know of a service, without loading its model.

    (Loading the EC2 model alone costs tens of MiB; detection must not.)  The table is
    checked against botocore's models by tests/unit/test_service_table.py.
    """

    signing_name: str
    endpoint_prefix: str
    api_version: str
    target_prefix: str | None = None


# Services of the seed notes that are recognised, served or not: one without a provider
# still resolves the operation from its model and answers 501 NotImplemented naming it.
KNOWN_SERVICES: dict[str, ServiceInfo] = {
    "sts": ServiceInfo("sts", "sts", "2011-06-15"),
    "ec2": ServiceInfo("ec2", "ec2", "2016-11-15"),
    "s3": ServiceInfo("s3", "s3", "2006-03-01"),
    "cloudwatch": ServiceInfo("monitoring", "monitoring", "2010-08-01", "GraniteServiceVersion20100801"),
    "kms": ServiceInfo("kms", "kms", "2014-11-01", "TrentService"),
    "efs": ServiceInfo("elasticfilesystem", "elasticfilesystem", "2015-02-01"),
    "iam": ServiceInfo("iam", "iam", "2010-05-08"),
    "s3control": ServiceInfo("s3", "s3-control", "2018-08-20"),
    "route53": ServiceInfo("route53", "route53", "2013-04-01"),
    "route53domains": ServiceInfo("route53domains", "route53domains", "2014-05-15", "Route53Domains_v20140515"),
    "rds": ServiceInfo("rds", "rds", "2014-10-31"),
    "elasticache": ServiceInfo("elasticache", "elasticache", "2015-02-02"),
    "elbv2": ServiceInfo("elasticloadbalancing", "elasticloadbalancing", "2015-12-01"),
    "elb": ServiceInfo("elasticloadbalancing", "elasticloadbalancing", "2012-06-01"),
    "autoscaling": ServiceInfo("autoscaling", "autoscaling", "2011-01-01"),
    "acm": ServiceInfo("acm", "acm", "2015-12-08", "CertificateManager"),
    "ssm": ServiceInfo("ssm", "ssm", "2014-11-06", "AmazonSSM"),
    "logs": ServiceInfo("logs", "logs", "2014-03-28", "Logs_20140328"),
    "cloudtrail": ServiceInfo("cloudtrail", "cloudtrail", "2013-11-01", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"),
}
KNOWN: tuple[str, ...] = tuple(KNOWN_SERVICES)

# Query actions AWS serves without credentials.
UNSIGNED_ACTIONS = {"AssumeRoleWithWebIdentity": "sts", "AssumeRoleWithSAML": "sts"}

# Global services keep their resources per account, not per region.
GLOBAL_SERVICES = frozenset({"iam", "sts", "route53", "route53domains", "cloudfront", "organizations"})


def provider_class(service: str) -> Any | None:
    """The provider class of ``service``; None while its module does not exist yet."""
    target = PROVIDERS.get(service)
    if target is None:
        return None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None  # registered, not written yet: every operation answers 501
        raise
    return getattr(module, class_name)


@functools.lru_cache(maxsize=None)
def model(service: str) -> "ServiceModel":
    from ..protocol.models import load_service_model

    return load_service_model(service)


@functools.lru_cache(maxsize=1)
def by_signing_name() -> dict[str, list[str]]:
    """Credential-scope service → services that sign with it (s3 → s3, s3control)."""
    index: dict[str, list[str]] = {}
    for service, info in KNOWN_SERVICES.items():
        index.setdefault(info.signing_name, []).append(service)
    return index


@functools.lru_cache(maxsize=1)
def by_target_prefix() -> dict[str, str]:
    """``X-Amz-Target`` prefix (json) and RPC v2 service name (cbor) → service."""
    return {info.target_prefix: s for s, info in KNOWN_SERVICES.items() if info.target_prefix}


@functools.lru_cache(maxsize=1)
def by_endpoint_prefix() -> dict[str, str]:
    return {info.endpoint_prefix: s for s, info in KNOWN_SERVICES.items()}


@functools.lru_cache(maxsize=1)
def by_api_version() -> dict[str, str]:
    """Query protocols name their API version in every request; it tells services apart."""
    return {info.api_version: s for s, info in KNOWN_SERVICES.items()}
