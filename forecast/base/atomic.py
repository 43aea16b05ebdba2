"""Atomic file writes: a temporary file beside the target, then one rename.

A reader (or a crashed run) never sees a half-written file under the final name. A write
that fails (a full disk, a folder that may not be written) raises ``WriteError``: one line
naming the file and why, the previous file as it was.

``transaction()`` makes a command's writes all or nothing: each file it replaces is kept
(a hard link) until the block ends; if the block fails (a full disk at its third file, a
bad input found late, Ctrl-C), every file is put back as it was and new ones are removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forecast.errors import UserError


class WriteError(UserError):
    """A file that could not be written: no space, no permission, a read-only disk."""


# the running transaction's replaced files: final path -> its previous version (None: new)
_replaced: contextvars.ContextVar[dict[Path, Path | None] | None] = contextvars.ContextVar(
    "atomic_transaction", default=None
)


def _cannot(path: Path, error: OSError) -> WriteError:
    reason = error.strerror or str(error) or type(error).__name__
    kept = (
        "; nothing this command wrote was kept"
        if _replaced.get() is not None
        else "; the previous file is as it was"
    )
    return WriteError(
        f"{path}: cannot write ({reason}){kept}; free some space or write somewhere you may "
        f"(--out, output.runs_dir)"
    )


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder, same suffix) that replaces ``path`` on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Keep the real suffix last: Keras insists on ".keras", matplotlib reads ".png".
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.tmp-", suffix=path.suffix
        )
        os.close(handle)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    except OSError as error:
        raise _cannot(path, error) from None
    try:
        try:
            yield Path(temporary)
        except OSError as error:  # the caller's write into the temporary file
            raise _cannot(path, error) from None
        _replace(Path(temporary), path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _replace(temporary: Path, path: Path) -> None:
    """The rename; inside a transaction, the file it replaces kept first."""
    try:
        keep(path)
        os.replace(temporary, path)
    except OSError as error:
        raise _cannot(path, error) from None


def keep(path: str | Path) -> None:
    """Inside a transaction, keep ``path`` as it is now (or note that it does not exist), so
    that a rollback puts it back; outside one, nothing. Writes call it; a command calls it
    itself for a file a forked child will replace, whose writes this transaction cannot
    see (``outside_transaction``)."""
    replaced, path = _replaced.get(), Path(path)
    if replaced is None or replaced is _OUTSIDE or path in replaced:
        return
    previous = None
    if path.exists():
        previous = path.with_name(f".{path.name}.previous-{os.getpid()}")
        previous.unlink(missing_ok=True)
        try:
            os.link(path, previous)  # no copy: the old bytes stay where they are
        except OSError:
            shutil.copy2(path, previous)
    replaced[path] = previous


_OUTSIDE: dict[Path, Path | None] = {}  # marks writes a parent process's transaction kept


@contextlib.contextmanager
def outside_transaction() -> Iterator[None]:
    """Plain atomic writes in the block, kept by no transaction here: for a forked child,
    whose process's copy of the transaction its parent never reads (the parent ``keep``s
    the files first, and its rollback covers them, as a failed write's message says)."""
    token = _replaced.set(_OUTSIDE)
    try:
        yield
    finally:
        _replaced.reset(token)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """All the atomic writes in the block, or none: on any exception the replaced files
    are put back and the new ones removed (a nested block joins the outer one)."""
    if _replaced.get() is not None:
        yield
        return
    replaced: dict[Path, Path | None] = {}
    token = _replaced.set(replaced)
    try:
        yield
    except BaseException:
        for path, previous in reversed(list(replaced.items())):
            with contextlib.suppress(OSError):
                if previous is None:
                    path.unlink(missing_ok=True)
                elif path.exists() and os.path.samefile(previous, path):
                    previous.unlink()  # kept but never replaced (rename would do nothing)
                else:
                    os.replace(previous, path)
        raise
    else:
        for previous in replaced.values():
            if previous is not None:
                previous.unlink(missing_ok=True)
    finally:
        _replaced.reset(token)


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
