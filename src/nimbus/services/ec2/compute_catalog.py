"""The instance-type catalogue and the price table (``data/instance_types.json``, ``data/prices.json``).

Instance types follow AWS's naming convention ``<family>.<size>``: the family is the
class letter(s), the generation digit and attribute letters (``m6g``: class m, generation
6, Graviton ``g``).  ``DescribeInstanceTypes`` output is built once per process.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...regions import availability_zones

DATA = Path(__file__).with_name("data")
_FAMILY = re.compile(r"^([a-z]+?)(\d+)([a-z-]*)$")


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def prices() -> dict[str, Any]:
    return _load("prices.json")


def families() -> dict[str, Any]:
    return _load("instance_types.json")["families"]


def _bandwidth(net: str) -> float:
    numbers = re.findall(r"[\d.]+", net)
    if not numbers:
        return {"Low to Moderate": 0.3, "Moderate": 0.7}.get(net, 1.0)
    value = float(numbers[-1])
    if "x " in net:
        value *= float(numbers[0])
    return value


@lru_cache(maxsize=1)
def instance_types() -> dict[str, dict[str, Any]]:
    """Every type as DescribeInstanceTypes answers it, keyed by name."""
    out: dict[str, dict[str, Any]] = {}
    for family, spec in families().items():
        m = _FAMILY.match(family)
        generation = int(m.group(2)) if m else 0
        current = not family.startswith(("t2", "p3", "i3")) or family == "i3"
        for size, (vcpu, mem, net, storage, accel) in spec["sizes"].items():
            name = f"{family}.{size}"
            metal = size.startswith("metal")
            burst = bool(spec.get("burst"))
            cores = vcpu if (spec["arch"] == ["arm64"] or vcpu == 1 or family == "t2") else max(1, vcpu // 2)
            threads = vcpu // cores if cores else 1
            free_tier = name in ("t2.micro", "t3.micro")
            doc: dict[str, Any] = {
                "InstanceType": name,
                "CurrentGeneration": current,
                "FreeTierEligible": free_tier,
                "SupportedUsageClasses": ["on-demand", "spot"] if not metal or True else ["on-demand"],
                "SupportedRootDeviceTypes": ["ebs", "instance-store"] if storage and spec["hv"] == "xen" else ["ebs"],
                "SupportedVirtualizationTypes": ["hvm", "paravirtual"] if family == "t2" else ["hvm"],
                "BareMetal": metal,
                "Hypervisor": None if metal else spec["hv"],
                "ProcessorInfo": {
                    "SupportedArchitectures": spec["arch"],
                    "SustainedClockSpeedInGhz": spec["ghz"],
                    "Manufacturer": "AWS" if "Graviton" in spec["proc"] else ("AMD" if "AMD" in spec["proc"] else "Intel"),
                },
                "VCpuInfo": {
                    "DefaultVCpus": vcpu,
                    "DefaultCores": cores,
                    "DefaultThreadsPerCore": threads,
                    "ValidCores": list(range(1, cores + 1)) if cores <= 8 else [c for c in range(2, cores + 1, 2)],
                    "ValidThreadsPerCore": [1, 2] if threads == 2 else [1],
                },
                "MemoryInfo": {"SizeInMiB": int(mem * 1024)},
                "InstanceStorageSupported": bool(storage),
                "EbsInfo": {
                    "EbsOptimizedSupport": "unsupported" if family == "t2" else "default",
                    "EncryptionSupport": "supported",
                    "NvmeSupport": "unsupported" if spec["hv"] == "xen" else "required",
                },
                "NetworkInfo": {
                    "NetworkPerformance": net,
                    "MaximumNetworkInterfaces": min(15, max(2, vcpu // 2 + 1)) if vcpu > 1 else 2,
                    "MaximumNetworkCards": 1,
                    "DefaultNetworkCardIndex": 0,
                    "NetworkCards": [{"NetworkCardIndex": 0, "NetworkPerformance": net,
                                      "MaximumNetworkInterfaces": min(15, max(2, vcpu // 2 + 1)) if vcpu > 1 else 2,
                                      "BaselineBandwidthInGbps": _bandwidth(net), "PeakBandwidthInGbps": _bandwidth(net)}],
                    "Ipv4AddressesPerInterface": min(50, max(2, vcpu * 3)),
                    "Ipv6AddressesPerInterface": min(50, max(2, vcpu * 3)),
                    "Ipv6Supported": spec["hv"] == "nitro" or family == "i3",
                    "EnaSupport": "unsupported" if family == "t2" else "required",
                    "EfaSupported": vcpu >= 96 or family in ("p4d", "trn1"),
                    "EncryptionInTransitSupported": spec["hv"] == "nitro" and generation >= 5 and not burst,
                    "EnaSrdSupported": False,
                },
                "PlacementGroupInfo": {"SupportedStrategies": ["partition", "spread"] if burst else ["cluster", "partition", "spread"]},
                "HibernationSupported": not metal and mem <= 150 and not accel,
                "BurstablePerformanceSupported": burst,
                "DedicatedHostsSupported": not burst,
                "AutoRecoverySupported": not storage,
                "SupportedBootModes": ["uefi"] if spec["arch"] == ["arm64"] else ["legacy-bios", "uefi"],
                "NitroEnclavesSupport": "supported" if spec["hv"] == "nitro" and vcpu >= 4 and not burst else "unsupported",
                "NitroTpmSupport": "supported" if spec["hv"] == "nitro" else "unsupported",
                "PhcSupport": "unsupported",
            }
            if doc["Hypervisor"] is None:
                del doc["Hypervisor"]
            if storage:
                count, each, kind = storage
                doc["InstanceStorageInfo"] = {
                    "TotalSizeInGB": count * each,
                    "Disks": [{"SizeInGB": each, "Count": count, "Type": kind}],
                    "NvmeSupport": "unsupported" if spec["hv"] == "xen" else "required",
                    "EncryptionSupport": "required" if spec["hv"] == "nitro" else "unsupported",
                }
            if accel:
                kind, maker, model, count, amem = accel
                if kind == "GPU":
                    doc["GpuInfo"] = {"Gpus": [{"Name": model, "Manufacturer": maker, "Count": count, "MemoryInfo": {"SizeInMiB": amem * 1024}}],
                                      "TotalGpuMemoryInMiB": amem * 1024 * count}
                else:
                    doc["InferenceAcceleratorInfo"] = {
                        "Accelerators": [{"Count": count, "Name": model, "Manufacturer": maker, "MemoryInfo": {"SizeInMiB": amem * 1024}}],
                        "TotalInferenceMemoryInMiB": amem * 1024 * count}
            out[name] = doc
    return out


def instance_type(name: str) -> dict[str, Any] | None:
    return instance_types().get(name)


def architectures(name: str) -> list[str]:
    doc = instance_types().get(name)
    return doc["ProcessorInfo"]["SupportedArchitectures"] if doc else []


def region_multiplier(region: str) -> float:
    table = prices()["region_multipliers"]
    return table.get(region, table["default"])


def on_demand_price(instance_type_name: str, region: str, platform: str = "Linux/UNIX") -> float:
    base = prices()["on_demand"].get(instance_type_name)
    if base is None:
        return 0.0
    price = base * region_multiplier(region)
    if platform.lower().startswith("windows"):
        price += prices()["windows_per_vcpu_hour"] * instance_types()[instance_type_name]["VCpuInfo"]["DefaultVCpus"]
    return round(price, 4)


# -- filters of DescribeInstanceTypes ------------------------------------------------------

def _g(*path: str):
    def get(item: dict[str, Any]) -> Any:
        value: Any = item
        for p in path:
            if not isinstance(value, dict):
                return None
            value = value.get(p)
        return value
    return get


INSTANCE_TYPE_FILTERS = {
    "auto-recovery-supported": "AutoRecoverySupported",
    "bare-metal": "BareMetal",
    "burstable-performance-supported": "BurstablePerformanceSupported",
    "current-generation": "CurrentGeneration",
    "dedicated-hosts-supported": "DedicatedHostsSupported",
    "free-tier-eligible": "FreeTierEligible",
    "hibernation-supported": "HibernationSupported",
    "hypervisor": "Hypervisor",
    "instance-type": "InstanceType",
    "instance-storage-supported": "InstanceStorageSupported",
    "instance-storage-info.total-size-in-gb": _g("InstanceStorageInfo", "TotalSizeInGB"),
    "instance-storage-info.disk.type": lambda i: [d["Type"] for d in (i.get("InstanceStorageInfo") or {}).get("Disks", [])],
    "memory-info.size-in-mib": _g("MemoryInfo", "SizeInMiB"),
    "network-info.network-performance": _g("NetworkInfo", "NetworkPerformance"),
    "network-info.ena-support": _g("NetworkInfo", "EnaSupport"),
    "network-info.efa-supported": _g("NetworkInfo", "EfaSupported"),
    "network-info.ipv6-supported": _g("NetworkInfo", "Ipv6Supported"),
    "network-info.maximum-network-interfaces": _g("NetworkInfo", "MaximumNetworkInterfaces"),
    "processor-info.supported-architecture": _g("ProcessorInfo", "SupportedArchitectures"),
    "processor-info.sustained-clock-speed-in-ghz": _g("ProcessorInfo", "SustainedClockSpeedInGhz"),
    "processor-info.manufacturer": _g("ProcessorInfo", "Manufacturer"),
    "supported-boot-mode": "SupportedBootModes",
    "supported-root-device-type": "SupportedRootDeviceTypes",
    "supported-usage-class": "SupportedUsageClasses",
    "supported-virtualization-type": "SupportedVirtualizationTypes",
    "vcpu-info.default-vcpus": _g("VCpuInfo", "DefaultVCpus"),
    "vcpu-info.default-cores": _g("VCpuInfo", "DefaultCores"),
    "vcpu-info.default-threads-per-core": _g("VCpuInfo", "DefaultThreadsPerCore"),
    "ebs-info.ebs-optimized-support": _g("EbsInfo", "EbsOptimizedSupport"),
    "ebs-info.encryption-support": _g("EbsInfo", "EncryptionSupport"),
    "ebs-info.nvme-support": _g("EbsInfo", "NvmeSupport"),
    "nitro-enclaves-support": "NitroEnclavesSupport",
    "nitro-tpm-support": "NitroTpmSupport",
}


def offerings(region: str, location_type: str) -> list[dict[str, Any]]:
    """Every type is offered in every AZ of every region (Nimbus has no capacity limits)."""
    if location_type == "region":
        locations = [region]
    else:
        zones = availability_zones(region)
        key = "ZoneId" if location_type == "availability-zone-id" else "ZoneName"
        locations = [z[key] for z in zones]
    return [{"InstanceType": name, "LocationType": location_type, "Location": loc}
            for name in instance_types() for loc in locations]
