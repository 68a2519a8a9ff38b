"""Fault drivers behind a registry keyed by name. A driver module registers itself on import;
the engine only ever looks drivers up here."""

from __future__ import annotations

from uxchaos.faults.base import FaultDriver, FaultSpec, Param, TargetRuntime

DRIVERS: dict[str, type[FaultDriver]] = {}


def register(cls: type[FaultDriver]) -> type[FaultDriver]:
    DRIVERS[cls.name] = cls
    return cls


def create_driver(spec: FaultSpec, runtime: TargetRuntime) -> FaultDriver:
    return DRIVERS[spec.driver](spec, runtime)


# Built-in drivers register themselves here.
from uxchaos.faults import docker, process, proxy, pumba, toxiproxy  # noqa: E402, F401

__all__ = ["DRIVERS", "FaultDriver", "FaultSpec", "Param", "TargetRuntime", "create_driver", "register"]
