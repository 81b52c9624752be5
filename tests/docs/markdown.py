"""The README and docs/ as data: their shell blocks, commands, inline commands, links and headings.

The convention the docs tests enforce (docs/testing.md, "Commands in the documentation are tested"):
a fenced block whose language is sh (or bash, shell, console) holds commands, one per line;
`<!-- needs-aws -->` on the line before it means it needs an AWS account and is not run;
`<!-- local-server -->` means it is run against a local server the test starts.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
MARKERS = {"needs-aws", "local-server"}
_FENCE = re.compile(r"^(?P<fence>```|~~~)\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^<!--\s*(?P<marker>[\w-]+)\s*-->$")
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_OPERATORS = {"&&", "||", ";", "|", "&"}
_INLINE_COMMAND = re.compile(r"^(make|cdk|(\.venv/bin/)?python3? -m) ")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def doc_files() -> list[Path]:
    """README.md, CONTRIBUTING.md and every page of docs/, in a stable order."""
    pages = sorted((REPO_ROOT / "docs").glob("*.md"))
    return [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md", *pages]


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{line}"


@dataclass(frozen=True)
class Command:
    """One command of a shell block: the words as the shell would split them, after VAR=value."""

    path: Path
    line: int
    text: str  # the line as written (continuations joined)
    words: tuple[str, ...]
    marker: str | None  # needs-aws, local-server, or None

    @property
    def where(self) -> str:
        return where(self.path, self.line)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # the fence's line
    language: str
    marker: str | None
    lines: tuple[tuple[int, str], ...]  # (line number, text) inside the fence

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    def script(self) -> str:
        return "\n".join(text for _, text in self.lines)


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        previous = next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker_match = _MARKER.match(previous)
        marker = marker_match["marker"] if marker_match else None
        start, index = index, index + 1
        body: list[tuple[int, str]] = []
        while index < len(lines) and not lines[index].startswith(opening["fence"]):
            body.append((index + 1, lines[index]))
            index += 1
        found.append(Block(path, start + 1, opening["lang"].lower(), marker, tuple(body)))
        index += 1
    return found


def split_commands(text: str) -> list[tuple[str, ...]]:
    """Shell words of each simple command in `text` (split at && || ; | &), leading VAR=value dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    try:
        words_in_text = list(lexer)
    except ValueError:  # an unbalanced quote: judge the words as written (a command cannot hide)
        words_in_text = text.split()
    for word in words_in_text:
        if word in _OPERATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    result = []
    for words in commands:
        while words and _ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words:
            result.append(tuple(words))
    return result


def commands(block: Block) -> list[Command]:
    """The block's commands; a trailing backslash joins a line to the next, as in the shell."""
    found: list[Command] = []
    pending: list[str] = []
    first_line = 0
    for number, text in block.lines:
        if not pending:
            first_line = number
        if text.rstrip().endswith("\\"):
            pending.append(text.rstrip()[:-1])
            continue
        pending.append(text)
        joined = " ".join(part.strip() for part in pending)
        pending = []
        if block.language == "console":
            if not joined.startswith("$ "):
                continue  # console output, not a command
            joined = joined[2:]
        for words in split_commands(joined):
            found.append(Command(block.path, first_line, joined, words, block.marker))
    return found


def all_blocks() -> list[Block]:
    return [block for path in doc_files() for block in blocks(path)]


def all_commands() -> list[Command]:
    return [command for block in all_blocks() if block.is_shell for command in commands(block)]


def inline_commands() -> list[Command]:
    """Code spans in the prose that are commands: `make ...`, `cdk ...`, `[.venv/bin/]python -m ...`."""
    found = []
    for path in doc_files():
        in_fence = False
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if _FENCE.match(text):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            for span in _INLINE_CODE.findall(text):
                if _INLINE_COMMAND.match(span.strip()) or span.strip() == "make":
                    for words in split_commands(span):
                        found.append(Command(path, number, span, words, "inline"))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link outside code, images excluded."""
    found = []
    in_fence = False
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(text):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        prose = _INLINE_CODE.sub("", text)
        found.extend((number, target) for target in _LINK.findall(prose))
    return found


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    in_fence = False
    for text in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(text):
            in_fence = not in_fence
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", text)
        if in_fence or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading[1].replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result
