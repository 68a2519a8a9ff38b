"""Typed errors raised by the core. Only the CLI turns them into exit codes."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    EXPECTATION_FAILED = 1
    BAD_INPUT = 2  # bad usage or a broken scenario file
    ENVIRONMENT = 3  # no browser, target unreachable, docker missing …
    SOFTWARE = 70  # a bug in uxchaos (sysexits.h's EX_SOFTWARE): the CLI's last resort
    INTERRUPTED = 130


class UxchaosError(Exception):
    """Base class: a problem with a message meant for the user."""

    exit_status = ExitStatus.BAD_INPUT


class BadInput(UxchaosError):
    exit_status = ExitStatus.BAD_INPUT


class EnvironmentProblem(UxchaosError):
    """Something outside uxchaos is missing or broken; the message says how to fix it."""

    exit_status = ExitStatus.ENVIRONMENT


class FaultError(UxchaosError):
    """A fault could not be injected or reverted."""

    exit_status = ExitStatus.ENVIRONMENT


class FaultRefused(FaultError):
    """The fault was not applied and nothing was touched (another run holds the target): there is
    nothing to revert, and reverting anyway could undo the other run's fault."""
