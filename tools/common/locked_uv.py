"""Install the uv that uv.lock pins, with pip checking the hashes uv.lock records for it.

    python3 -m tools.common.locked_uv .venv-tools/uv     (what `make` runs first; then .venv-tools/uv/bin/uv)

uv installs everything else from uv.lock, so uv itself is the one package that must come
before it: pip installs it with --require-hashes from a one-line requirement written here from
uv.lock's own entry for uv (version and the sha256 of every wheel), so there is still one lock
and pip refuses a file whose hash is not in it. pip picks this machine's wheel from the lock's
own list of wheel URLs (--no-index --find-links: no index page to read, which for uv's hundreds
of releases took longer than the download). Standard library only: it runs on the system Python
of a fresh machine and of the pipeline's verify steps.
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT

LOCK = REPO_ROOT / "uv.lock"


def locked_uv(lock: Path = LOCK) -> dict[str, Any]:
    """uv's entry in uv.lock: version, and url + hash of every wheel."""
    packages = tomllib.loads(lock.read_text(encoding="utf-8"))["package"]
    (uv,) = [p for p in packages if p["name"] == "uv"]
    return uv


def locked_requirement(uv: dict[str, Any]) -> str:
    """`uv==VERSION --hash=sha256:...` for every wheel of uv's locked release."""
    hashes = sorted({wheel["hash"] for wheel in uv["wheels"]})
    return " ".join([f"uv=={uv['version']}", *(f"--hash={h}" for h in hashes)])


def wheel_links(uv: dict[str, Any]) -> str:
    """A find-links page of the locked wheels, for pip to choose this platform's from."""
    urls = [html.escape(wheel["url"]) for wheel in uv["wheels"]]
    links = (f'<a href="{url}">{url.rsplit("/", 1)[1]}</a>' for url in urls)
    return "<html><body>\n" + "\n".join(links) + "\n</body></html>\n"


def installed_version(target: Path) -> str | None:
    uv = target / "bin" / "uv"
    if not uv.exists():
        return None
    result = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return result.stdout.split()[1] if result.returncode == 0 else None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 -m tools.common.locked_uv TARGET_DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    uv = locked_uv()
    if installed_version(target) == uv["version"]:
        return 0
    print(f"locked_uv: installing uv {uv['version']} into {target} (pip, hashes from uv.lock)", flush=True)
    with tempfile.TemporaryDirectory(prefix="locked-uv-") as scratch:
        requirements, links = Path(scratch) / "uv.txt", Path(scratch) / "links.html"
        requirements.write_text(locked_requirement(uv) + "\n", encoding="utf-8")
        links.write_text(wheel_links(uv), encoding="utf-8")
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps"]
        command += ["--no-index", "--find-links", str(links), "--only-binary=:all:", "--require-hashes"]
        command += ["--upgrade", "--target", str(target), "-r", str(requirements)]
        return subprocess.run(command, check=False).returncode  # noqa: S603 - our interpreter's pip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
