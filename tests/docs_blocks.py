"""The guides' shell blocks: which run, in what order, and the commands in each.

The blocks of the real-install part of README.md, then docs/operations.md, are run in
that order by tests/e2e/test_docs_run.py; docs/partner-api.md's by
tests/web/partner_api/test_docs.py, against a server of its own.
Every other shell block in README.md and docs/*.md says it is an example to adapt with
its info string (```sh example).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELLS = {"sh", "bash", "shell", "console"}
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
#: (document, the section whose blocks run, or None for all of it), in the order they run.
RUN = [("README.md", "## Running it for real"), ("docs/operations.md", None)]
#: Documents whose blocks another test runs verbatim, against a server it starts itself:
#: docs/partner-api.md's in tests/web/partner_api/test_docs.py.
RUN_ELSEWHERE = [("docs/partner-api.md", None)]


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_blocks(text: str) -> list[tuple[list[str], str]]:
    """(info string words, body) of each shell block."""
    found = []
    for info, body in BLOCK.findall(text):
        words = info.split()
        if words and words[0] in SHELLS:
            found.append((words, body))
    return found


def section(text: str, heading: str | None) -> str:
    if heading is None:
        return text
    start = text.index(heading + "\n")
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following != -1 else len(text)]


def run_blocks(documents: list[tuple[str, str | None]] = RUN) -> list[tuple[str, str]]:
    """(document, body) of every block that runs, in order."""
    bodies = []
    for document, heading in documents:
        path = ROOT / document
        if path.exists():
            bodies += [(document, body) for words, body in shell_blocks(section(path.read_text(), heading))]
    return bodies


def commands(body: str) -> list[str]:
    """The block's commands: continuation lines joined, blank and comment lines left out."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
