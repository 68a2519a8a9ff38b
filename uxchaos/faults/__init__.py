"""Fault drivers behind a registry keyed by name. A driver module registers itself on import;
the engine, the doctor and `uxchaos recover` only ever look drivers up here."""

from __future__ import annotations

from uxchaos.faults.base import (
    Check,
    DriverOptions,
    EffectProbe,
    FaultDriver,
    FaultSpec,
    Param,
    SupervisedProcess,
    TargetRuntime,
)

DRIVERS: dict[str, type[FaultDriver]] = {}


def register(cls: type[FaultDriver]) -> type[FaultDriver]:
    DRIVERS[cls.name] = cls
    return cls


def create_driver(spec: FaultSpec, runtime: TargetRuntime, options: DriverOptions | None = None) -> FaultDriver:
    return DRIVERS[spec.driver](spec, runtime, options)


# Built-in drivers register themselves here.
from uxchaos.faults import docker, load, process, proxy, pumba, toxiproxy  # noqa: E402, F401

__all__ = ["DRIVERS", "Check", "DriverOptions", "EffectProbe", "FaultDriver", "FaultSpec", "Param",
           "SupervisedProcess", "TargetRuntime", "create_driver", "register"]
