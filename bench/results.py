"""bench/RESULTS.md is shared by every bench script: each one rewrites its own ``## `` sections
and leaves the others as they are."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def read_sections(path: Path = RESULTS) -> tuple[str, dict[str, str]]:
    """(the text before the first ``## `` heading, {heading line: the section's text})."""
    return split_sections(
        path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    )


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """A Markdown text as (its preamble, {``## `` heading line: that section's text})."""
    parts = re.split(r"(?m)^(?=## )", text)
    preamble, sections = parts[0], {}
    for part in parts[1:]:
        heading = part.splitlines()[0]
        sections[heading] = part.rstrip("\n") + "\n"
    return preamble, sections


def update_results(
    sections: dict[str, str],
    preamble: str | None = None,
    path: Path = RESULTS,
    renamed: dict[str, str] | None = None,
) -> None:
    """Replace the given sections (a heading line such as ``## Significance (bench/…)`` →
    its body) where they stand, append new ones at the end, keep every other section.
    ``renamed`` maps an old heading to the new one that takes its place."""
    old_preamble, current = read_sections(path)
    for old, new in (renamed or {}).items():
        if old in current and new not in current:
            current = {new if key == old else key: value for key, value in current.items()}
        current.pop(old, None)
    for heading, body in sections.items():
        if not heading.startswith("## "):
            raise ValueError(f"{heading!r}: a section heading starts with '## '")
        body = body.strip()
        if body.startswith(heading):  # a whole section, heading included
            body = body[len(heading) :].strip()
        current[heading] = f"{heading}\n\n{body}\n"
    text = (preamble if preamble is not None else old_preamble).rstrip("\n") + "\n\n"
    text += "\n".join(current.values())
    path.write_text(text, encoding="utf-8")
