"""measured.json keys each build's commands without the scripts they embed (rehearse/cli.py)."""

from __future__ import annotations

import base64
import gzip
import json

from tools.review_kit.rehearse.cli import MEASURED, shown_command


def test_an_embedded_script_is_keyed_by_its_digest_not_its_bytes():
    blob = base64.b64encode(gzip.compress(b"print('the check')\n" * 20, mtime=0)).decode("ascii")
    command = f'echo "{blob}" | base64 -d | gunzip > "$DIR/check.py"'
    shown = shown_command(command)
    assert blob not in shown
    assert shown.startswith('echo "<embedded sha256:')
    assert shown.endswith('" | base64 -d | gunzip > "$DIR/check.py"')
    # another script, another key
    other = base64.b64encode(gzip.compress(b"print('another')\n" * 20, mtime=0)).decode("ascii")
    assert shown_command(command.replace(blob, other)) != shown


def test_short_commands_are_kept_as_run():
    assert shown_command("make preflight") == "make preflight"


def test_the_committed_measurements_carry_no_embedded_script():
    measured = json.loads(MEASURED.read_text(encoding="utf-8"))
    commands = [c for build in measured["builds"].values() for c in build["commands"]]
    assert commands
    assert all(shown_command(c) == c for c in commands)
