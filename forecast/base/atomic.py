"""Atomic file writes: a temporary file beside the target, then one rename.

A reader (or a crashed run) never sees a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder, same suffix) that replaces ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last: Keras insists on ".keras", matplotlib reads ".png".
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.tmp-", suffix=path.suffix
    )
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: str | Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_csv(path: str | Path, frame: Any, float_format: str | None = None) -> None:
    """A pandas frame as CSV without its index (``float_format``: e.g. %.17g to read back
    exactly)."""
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, float_format=float_format)


def write_npz(path: str | Path, arrays: dict[str, Any]) -> None:
    """NumPy arrays by name in one .npz (read back with ``allow_pickle=False``)."""
    import numpy as np

    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.savez(stream, **{name: np.asarray(array) for name, array in arrays.items()})


def write_table(path: str | Path, frame: Any) -> None:
    """A result table (a pandas frame) as CSV: floats with 10 significant digits."""
    write_csv(path, frame, float_format="%.10g")


def write_figure(path: str | Path, figure: Any) -> None:
    """A matplotlib Figure as PNG."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
