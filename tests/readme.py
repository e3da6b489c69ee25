"""README.md's code blocks and sentences, for the tests that replay what it tells a
new user to run (tests/test_readme_commands.py, tests/docker)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def code_blocks(markdown: str) -> list[str]:
    """The fenced (```) and indented (four spaces after a blank line) code blocks."""
    lines = markdown.splitlines()
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append("\n".join(lines[i + 1:end]))
            i = end + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            body = []
            while i < len(lines) and (lines[i].startswith("    ") or (
                    not lines[i].strip() and i + 1 < len(lines) and lines[i + 1].startswith("    "))):
                body.append(lines[i][4:])
                i += 1
            blocks.append("\n".join(body).strip("\n"))
            continue
        i += 1
    return blocks


def readme_block(*needles: str) -> str:
    """The one code block of README.md that holds every needle."""
    found = [b for b in code_blocks(README.read_text()) if all(n in b for n in needles)]
    assert len(found) == 1, f"README.md has {len(found)} code blocks with {needles}"
    return found[0]


def readme_prose(pattern: str) -> re.Match:
    """A match in README.md's text with its line breaks read as spaces."""
    match = re.search(pattern, re.sub(r"\s+", " ", README.read_text()))
    assert match, f"README.md no longer says {pattern!r}"
    return match


def sections(block: str) -> dict[str, str]:
    """A shell block's commands grouped under the comment line above them."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in block.splitlines():
        if line.startswith("# "):
            current = line[2:]
            out[current] = []
        elif line.strip():
            out.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def command(line: str) -> str:
    """A README command line without its trailing ``# comment``."""
    return re.sub(r"\s+#.*$", "", line).strip()
