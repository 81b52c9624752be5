"""An asset's content as the key it publishes under: aws-cdk-lib's fingerprint, recomputed.

`cdk publish-assets` uploads an asset only when no object has its key yet, so a key must say what
its object holds: otherwise one pipeline run could publish other code under the key a later,
reviewed commit names, and that commit would deploy it. A directory asset hashed from its bundled
output (`AssetHashType.OUTPUT`, stages/upload/bundling.py) is keyed `<fingerprint>.zip`, where the
fingerprint is `FileSystem.fingerprint` of the directory (aws-cdk-lib core/lib/fs/fingerprint.ts,
default options): SHA-256 over each file's path and `<size>:<sha256 of its content>`, in name order.

That hash does not see every byte. For a file with no NUL in its first 8 KiB it hashes each 8 KiB
chunk decoded as UTF-8 with CRLF made LF, so line endings, bytes that are not UTF-8, and a character
split across two chunks all hash alike. Such a file is reported, not trusted: for every other file,
equal fingerprints mean equal bytes. The fingerprint is also blind to empty directories and file
modes (a Python function runs neither); special files and symbolic links are reported.

Embedded beside the gate's check (stages/pipeline/self_mutation_gate.py). Standard library only;
Python 3.9 and later. Tested against aws-cdk-lib's own FileSystem.fingerprint (tests/unit).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

CHUNK = 8 * 1024
# Names the hash could confuse with others: its field separators (\x01-\x03), bytes that are not
# UTF-8 (Node reads them as U+FFFD), and a backslash (hashed as "/": `a\b` would hash as `a/b`).
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\\]|[\udc80-\udcff]")


def _field(digest: hashlib._Hash, header: str, value: str) -> None:
    digest.update(b"\x01" + header.encode() + b"\x02" + value.encode() + b"\x03")


def content_fingerprint(path: Path) -> tuple[str, bool]:
    """aws-cdk-lib's `<size>:<sha256>` of one file, and whether it saw the file's bytes as they are."""
    digest, size, binary, pending, exact = hashlib.sha256(), 0, False, "", True
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            if size == 0:
                binary = b"\x00" in chunk
            if binary:
                size += len(chunk)
                digest.update(chunk)
                continue
            text = chunk.decode("utf-8", "replace")
            exact = exact and b"\r" not in chunk and text.encode() == chunk
            if text.endswith("\r"):
                pending += text
                continue
            data = (pending + text).replace("\r\n", "\n").encode()
            pending = ""
            size += len(data)
            digest.update(data)
    if pending:
        digest.update(pending.encode())
    return f"{size}:{digest.hexdigest()}", exact


def fingerprint(root: Path) -> tuple[str, list[str]]:
    """aws-cdk-lib's fingerprint of `root` (a file or a directory), and why it may not bind its
    bytes: one line per file it cannot tell from another, special file or symbolic link."""
    digest = hashlib.sha256()
    _field(digest, "options.extra", "")
    _field(digest, "options.follow", "external")
    unbound: list[str] = []

    def add_file(path: Path, name: str) -> None:
        value, exact = content_fingerprint(path)
        if not exact:
            unbound.append(f"{name or path.name}: text the hash reads lossily (CR, or not UTF-8 per 8 KiB)")
        _field(digest, f"file:{name}", value)

    def visit(directory: Path) -> None:
        # JavaScript orders names by UTF-16 code unit, as big-endian UTF-16 bytes compare.
        for entry in sorted(os.scandir(directory), key=lambda e: e.name.encode("utf-16-be", "surrogatepass")):
            path, name = Path(entry.path), Path(entry.path).relative_to(root).as_posix()
            if _UNSAFE_NAME.search(entry.name):
                unbound.append(f"{name!r}: a name with a control character, a backslash or bytes not UTF-8")
            elif entry.is_symlink():
                unbound.append(f"{name}: a symbolic link")
            elif entry.is_dir():
                visit(path)
            elif entry.is_file():
                add_file(path, name)
            else:
                unbound.append(f"{name}: neither a file nor a directory")

    if root.is_symlink():
        unbound.append(f"{root.name}: a symbolic link")
    elif root.is_dir():
        visit(root)
    else:
        add_file(root, "")
    return digest.hexdigest(), unbound


def unbound_reasons(path: Path, object_key: str) -> list[str]:
    """Why the object `object_key` published from `path` may hold other bytes than `path`'s ([] when
    its name is `path`'s fingerprint and that fingerprint sees every byte)."""
    found, unbound = fingerprint(path)
    stem = object_key.rsplit("/", 1)[-1].split(".", 1)[0]
    if stem != found:
        return [f"its key is not its content's fingerprint ({found})", *unbound]
    return unbound
