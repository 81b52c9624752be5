"""Install the uv that uv.lock pins, with pip checking the hashes uv.lock records for it.

    python3 -m tools.common.locked_uv .venv-tools/uv     (what `make` runs first; then .venv-tools/uv/bin/uv)

uv installs everything else from uv.lock, so uv itself is the one package that must come
before it: pip installs it with --require-hashes from a one-line requirement written here from
uv.lock's own entry for uv (version and the sha256 of every wheel), so there is still one lock
and pip refuses a file whose hash is not in it. Standard library only: it runs on the system
Python of a fresh machine and of the pipeline's verify steps.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from tools.common.paths import REPO_ROOT

LOCK = REPO_ROOT / "uv.lock"


def locked_requirement(lock: Path = LOCK) -> str:
    """`uv==VERSION --hash=sha256:...` for every wheel of uv's locked release."""
    packages = tomllib.loads(lock.read_text(encoding="utf-8"))["package"]
    (uv,) = [p for p in packages if p["name"] == "uv"]
    hashes = sorted({wheel["hash"] for wheel in uv["wheels"]})
    return " ".join([f"uv=={uv['version']}", *(f"--hash={h}" for h in hashes)])


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
    requirement = locked_requirement()
    version = requirement.split()[0].split("==")[1]
    if installed_version(target) == version:
        return 0
    print(f"locked_uv: installing uv {version} into {target} (pip, hashes from uv.lock)", flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as requirements:
        requirements.write(requirement + "\n")
        requirements.flush()
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps"]
        command += ["--only-binary=:all:", "--require-hashes", "--upgrade", "--target", str(target)]
        return subprocess.run([*command, "-r", requirements.name], check=False).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
