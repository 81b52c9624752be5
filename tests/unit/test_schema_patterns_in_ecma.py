"""The request schema's patterns mean the same in ECMA-262 (JSON Schema's regex dialect, what API
Gateway's draft 4 model speaks) as in the handler's validator (fastjsonschema, Python's `re`).

Node's RegExp is the ECMA-262 reference at hand (jsii already needs node for every synth). Each
pattern is compiled by node without flags, as JSON Schema specifies, and run over names that sit
on every edge of the v2 file-name rules; both engines must give the same verdict for every one.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import fastjsonschema
import pytest
from upload_api.request import SCHEMA

from tests.unit.test_stored_content import FORBIDDEN_CHARACTERS

NODE = shutil.which("node")
# Runs each pattern (JSON Schema: unanchored search, no flags) over each string; prints verdicts.
_ECMA_MATCHER = """
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {};
for (const [field, pattern] of Object.entries(input.patterns)) {
  const regex = new RegExp(pattern);
  out[field] = input.strings.map((s) => regex.test(s));
}
process.stdout.write(JSON.stringify(out));
"""


def _edge_names() -> list[str]:
    """Valid names, each forbidden character at each position, dot/space names, near misses."""
    names = ["lamp.png", "a", "...a", ". .x", " lamp", "lamp ", "a..b", "Prospekt ü.pdf", "💡.bin", "x" * 255]
    names += [".", "..", "...", " ", "   ", ". .", " . ", ".. ..", "." * 40, "\t", "a/b", "a\\b", "a\nb"]
    # `$` is the end of input in ECMA-262 but also matches before a final newline in Python's re.
    names += ["p-1\n", "lamp.png\n", "..\n", ". \n", "image/png\n", "\n"]
    for character in FORBIDDEN_CHARACTERS:
        names += [character, f"{character}lamp.png", f"lamp{character}.png", f"lamp.png{character}"]
    # Neighbours of each forbidden code point (allowed unless themselves listed) and random mixes.
    for character in FORBIDDEN_CHARACTERS:
        for neighbour in (chr(ord(character) - 1), chr(ord(character) + 1)):
            names.append(f"a{neighbour}b")
    rng = random.Random(20261203)
    alphabet = [*FORBIDDEN_CHARACTERS, ".", " ", "a", "é", "\u00a0", "\u2028", "/", "-", "\U0001f4a1"]
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    return names


def _handler_verdicts(pattern: str, strings: list[str]) -> list[bool]:
    """What the handler's validator (fastjsonschema, as request.py compiles it) says of each string."""
    validate = fastjsonschema.compile({"type": "string", "pattern": pattern})

    def passes(text: str) -> bool:
        try:
            validate(text)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return [passes(s) for s in strings]


@pytest.mark.skipif(NODE is None, reason="node is not on PATH (make install): the ECMA-262 engine is missing")
def test_every_schema_pattern_gives_the_same_verdicts_in_ecma_262_and_python():
    # GIVEN every `pattern` of the request schema and names on the edges of the file-name rules
    patterns = {name: rules["pattern"] for name, rules in SCHEMA["properties"].items() if "pattern" in rules}
    strings = _edge_names()
    # WHEN node (ECMA-262) and Python's re judge each string
    completed = subprocess.run(  # a fixed script on our own data
        [NODE, "-e", _ECMA_MATCHER],
        input=json.dumps({"patterns": patterns, "strings": strings}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    ecma = json.loads(completed.stdout)
    # THEN the verdicts agree for every pattern and every string
    for field, pattern in patterns.items():
        python = _handler_verdicts(pattern, strings)
        disagreements = [s for s, e, p in zip(strings, ecma[field], python, strict=True) if e != p]
        assert disagreements == [], (field, [ascii(s) for s in disagreements[:10]])


@pytest.mark.skipif(NODE is None, reason="node is not on PATH (make install): the ECMA-262 engine is missing")
def test_in_ecma_262_the_file_name_pattern_refuses_every_contract_character_and_dot_name():
    # GIVEN the fileName pattern compiled by node
    pattern = SCHEMA["properties"]["fileName"]["pattern"]
    refused = [*(f"lamp{c}.png" for c in FORBIDDEN_CHARACTERS), ".", "..", "...", " ", ". ."]
    accepted = ["lamp.png", "...a", " lamp.png", "Prospekt ü.pdf"]
    completed = subprocess.run(  # a fixed script on our own data
        [NODE, "-e", _ECMA_MATCHER],
        input=json.dumps({"patterns": {"fileName": pattern}, "strings": refused + accepted}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    verdicts = json.loads(completed.stdout)["fileName"]
    # THEN every refused name fails it and every accepted name passes
    assert verdicts == [False] * len(refused) + [True] * len(accepted)
