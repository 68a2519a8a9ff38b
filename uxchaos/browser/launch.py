"""Finding and launching Chromium: Playwright's own build if installed, else a system Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from uxchaos.errors import EnvironmentProblem

SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium's headless shell (Debian: chromium-headless-shell; Google: chrome-headless-shell) is what Playwright
# itself runs for headless pages. The full browser builds a whole user profile per context, and a journey in it
# costs a small machine about twice the CPU (benchmarks/RESULTS.md, "The browser"): a load generator that
# starves itself distorts what it times.
# The real binary before Debian's wrapper script, which would stay between Playwright and the browser.
HEADLESS_SHELLS = ("/usr/lib/chromium/chromium-headless-shell", "chromium-headless-shell", "chrome-headless-shell")

# Quiet flags: without them Chromium keeps calling home, which a closed network answers with errors.
LAUNCH_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-quic",
]


def playwright_chromium(playwright: object) -> str | None:
    """Playwright's own Chromium, if it was downloaded (`playwright install chromium`)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        path = playwright.chromium.executable_path  # type: ignore[attr-defined]
    except (AttributeError, PlaywrightError):
        return None
    return path if path and Path(path).exists() else None


def find_browser(playwright: object | None = None, headless: bool = True) -> str:
    """Return the path of a Chromium to drive, or raise a clear EnvironmentProblem: for headless pages
    the headless shell when installed, else (and for a shown window) the full browser."""
    override = os.environ.get("UXCHAOS_BROWSER")
    if override:
        if shutil.which(override) or Path(override).exists():
            return shutil.which(override) or override
        raise EnvironmentProblem(f"UXCHAOS_BROWSER={override} does not exist")
    if playwright is not None:
        own = playwright_chromium(playwright)
        if own:
            return own
    for candidate in (HEADLESS_SHELLS if headless else ()) + SYSTEM_CHROMIUMS:
        found = shutil.which(candidate)
        if found:
            return found
    raise EnvironmentProblem(
        "no Chromium found. Install one of: Playwright's own build (`python -m playwright install chromium`), "
        "or a system Chromium (Debian/Ubuntu: `apt-get install chromium chromium-headless-shell`); "
        "or point UXCHAOS_BROWSER at a Chromium binary."
    )


def check_browser() -> str:
    """For `uxchaos doctor`: the Chromium found, and that it is one (`--version` names Chrome or
    Chromium) — a wrong UXCHAOS_BROWSER is said here, not first at a run's launch."""
    import subprocess

    path = find_browser()
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        raise EnvironmentProblem(f"the browser {path} cannot be run: {getattr(e, 'strerror', None) or e}") from None
    version = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if done.returncode != 0 or "chrom" not in version.lower():
        said = version or done.stderr.strip()[:80] or f"exit {done.returncode}"
        raise EnvironmentProblem(f"{path} is not a Chromium (`--version` said {said!r}): point UXCHAOS_BROWSER at a "
                                 "Chromium, or unset it")
    return f"{path} ({version})"


def launch_args() -> list[str]:
    args = list(LAUNCH_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    return args
