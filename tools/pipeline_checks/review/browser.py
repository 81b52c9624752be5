"""Find a headless Chromium (or Chrome) that really starts: the review report's browser test uses it.

`python -m tools.pipeline_checks.review.browser` prints its path, or exits 1 saying none works. `make install`
(install-browser) installs Debian's `chromium` with apt-get when this finds none, as root.
CHROMIUM=/path/to/chrome picks one explicitly.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # runs a browser binary with fixed arguments, no shell
import sys

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Offline and quiet: no first-run, sync, component updates or QUIC; no sandbox (root in a container).
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # One process instead of about ten: the same DOM, screenshot and PDF, 380 MiB instead of about
    # 1,060 MiB (summed RSS, measured on the review report), inside the Synth build's memory budget.
    "--single-process",
    "--no-zygote",
)


def find_browser() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    names = [explicit] if explicit else list(CANDIDATES)
    for name in names:
        path = shutil.which(name) if name else None
        if path and _starts(path):
            return path
    return None


def _starts(path: str) -> bool:
    """Ubuntu's chromium-browser is a snap shim that fails in a container: try it, not trust it."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [path, "--headless", "--no-sandbox", "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and ("Chromium" in result.stdout or "Chrome" in result.stdout)


def main() -> int:
    browser = find_browser()
    if browser is None:
        print(
            "no working Chromium/Chrome found (CHROMIUM=..., or Debian's `apt-get install chromium`)",
            file=sys.stderr,
        )
        return 1
    print(browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
