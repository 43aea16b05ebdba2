"""A watch list: tickers from ``--tickers A,B,C`` or a file, checked to be symbols that
each get a folder of their own."""

from __future__ import annotations

import re
from pathlib import Path

from forecast.base.names import safe_name
from forecast.errors import UserError, named


def read_tickers(
    tickers: str | None = None, tickers_file: str | Path | None = None, command: str = "batch"
) -> list[str]:
    """Tickers from ``--tickers A,B,C`` or a file (one per line or comma-separated; # starts
    a comment), upper-cased, in order, without repeats."""
    if bool(tickers) == bool(tickers_file):
        raise UserError(
            f"{command}: give the tickers with either {named('tickers', 'A,B,C')} or "
            f"{named('tickers_file', 'FILE')}"
        )
    text = tickers or ""
    if tickers_file:
        try:
            text = Path(tickers_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(
                f"{named('tickers_file', tickers_file)}: cannot read it "
                f"({getattr(error, 'strerror', None) or error}); pass a text file "
                f"with one ticker per line"
            ) from None
    names: list[str] = []
    for line in text.splitlines() or [text]:
        for name in line.split("#")[0].replace(",", " ").split():
            name = name.strip().upper()
            if name and name not in names:
                names.append(name)
    if not names:
        raise UserError(
            f"{named('tickers_file', tickers_file) if tickers_file else named('tickers')}"
            f": no tickers found; list at least one, e.g. MSFT,AAPL"
        )
    return check_tickers(names)


def check_tickers(tickers: list[str]) -> list[str]:
    """Refuse a name that is no ticker symbol, and two tickers that would share a folder
    (BRK.B and BRK-B are both runs/BRK-B)."""
    folders: dict[str, str] = {}
    for name in tickers:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9^][A-Za-z0-9._^=-]*", name):
            raise UserError(
                f"ticker {name!r}: not a ticker symbol; use letters, digits and . - ^ = only, "
                f"starting with a letter, a digit or ^"
            )
        other = folders.setdefault(safe_name(name), name)
        if other != name:
            raise UserError(
                f"tickers {other!r} and {name!r} would share the folder runs/{safe_name(name)}; "
                f"list only one of them"
            )
    return tickers
