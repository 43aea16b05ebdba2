"""Reading the CSV files people actually have: whatever the spreadsheet or the bank exported.

- **Encoding**: UTF-8 (with or without the BOM Excel writes), UTF-16 with its BOM (Excel's
  "Unicode text"), else Windows-1252 (any byte decodes; older European exports).
- **Separator**: the one of ``,`` ``;`` tab ``|`` that splits the header and the first rows
  into the same number of fields, most fields winning (``,`` when none does better).
- **Numbers**: one decimal mark per file, decided by the cells that read one way only:
  ``123,45`` and ``1.234,56`` say comma (the European way: ``.`` and spaces group
  thousands), ``12.5`` and ``1,234.56`` say point (``,``, a space or an apostrophe group
  thousands); the majority decides. A number that reads both ways (``1,234``, ``1.234``) in
  a file where nothing else says which is refused, naming ``data.decimal`` (``'.'`` or
  ``','``), which also overrides the guess. A cell in the other style is left as it is, for
  the checks downstream to name.

Every column comes back as text; ``bars.clean_bars`` parses it and names what it cannot.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from forecast.errors import DataError, first_line

SEPARATORS = (",", ";", "\t", "|")
SAMPLE_BYTES = 65536  # what the encoding and separator are judged on
SAMPLE_LINES = 20
_GROUP = r"[ '\u00a0\u202f]"  # thousands groupers other than . and ,
_EUROPEAN = re.compile(rf"[+-]?(\d{{1,3}}((\.|{_GROUP})\d{{3}})+|\d+)(,\d+)?")
_POINT = re.compile(rf"[+-]?(\d{{1,3}}((,|{_GROUP})\d{{3}})+|\d+)(\.\d+)?")
# cells that read one way only (three digits after a lone mark could be a group)
_SAYS_COMMA = re.compile(
    r"[+-]?(\d+,(\d{1,2}|\d{4,})|\d{4,},\d+|\d{1,3}(\.\d{3})+,\d+|\d{1,3}(\.\d{3}){2,})"
)  # 0,07  1234,567  1.234,5  1.234.567
_SAYS_POINT = re.compile(
    r"[+-]?(\d+\.(\d{1,2}|\d{4,})|\d{4,}\.\d+|\d{1,3}(,\d{3})+\.\d+|\d{1,3}(,\d{3}){2,})"
)  # 0.07  1234.567  1,234.5  1,234,567
_EITHER = re.compile(r"[+-]?\d{1,3}[.,]\d{3}")  # 1,234 or 1.234


def read_csv(path: Path, decimal: str = "auto") -> pd.DataFrame:
    """A CSV as text columns (numbers rewritten with a decimal point and no grouping), or a
    DataError naming the file. ``decimal``: the file's decimal mark, or ``auto``."""
    if not path.exists():
        raise DataError(f"{path}: file not found; set data.path to an existing CSV file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; set data.path to a CSV file")
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    encoding = _encoding(head)
    if encoding != "utf-16" and b"\x00" in head:
        raise DataError(
            f"{path}: not a readable CSV file (it holds binary data); expected columns "
            f"separated by , or ; such as Date,Close"
        )
    sample = head.decode(encoding, errors="ignore")
    separator = sniff_separator(sample)
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: file is empty; expected a header line such as "
            f"'Date,Close' and one row per day"
        ) from None
    except (pd.errors.ParserError, UnicodeError, ValueError) as error:
        first = first_line(error)
        raise DataError(
            f"{path}: not a readable CSV file ({first}); expected columns separated by , or "
            f"; such as Date,Close"
        ) from None
    frame.columns = [str(column).strip().lstrip("\ufeff") for column in frame.columns]
    if decimal == "auto":
        european = decimal_comma(frame, separator, str(path))
    else:
        european = decimal == ","
    return plain_numbers(frame, european)


def _encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the sample's end
            return "cp1252"
    return "utf-8"


def sniff_separator(sample: str) -> str:
    """The separator that splits the first lines into the same number of fields (most
    fields wins; ``,`` when nothing splits)."""
    lines = [line for line in sample.splitlines()[:SAMPLE_LINES] if line.strip()]
    if len(sample) >= SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    best, best_fields = ",", 1
    for separator in SEPARATORS:
        try:
            counts = {len(row) for row in csv.reader(lines, delimiter=separator)}
        except csv.Error:
            continue
        fields = counts.pop() if len(counts) == 1 else 0
        if fields > best_fields:
            best, best_fields = separator, fields
    return best


def decimal_comma(frame: pd.DataFrame, separator: str, label: str) -> bool:
    """Whether the file writes decimals with a comma, by the cells of its first rows that
    can only be read one way: 123,45, 1.234,56 or 1.234.567 say comma; 12.5, 1,234.56 or
    1,234,567 say point. More of one than the other decides. With neither, a number that
    reads both ways (1,234 or 1.234: a decimal mark or a thousands group) is refused rather
    than guessed; without one, it does not matter."""
    cells = pd.Series(frame.head(1000).to_numpy().ravel(), dtype=str).str.strip()
    comma = int(cells.str.fullmatch(_SAYS_COMMA).sum())
    point = int(cells.str.fullmatch(_SAYS_POINT).sum())
    if comma != point:
        return comma > point
    either = cells[cells.str.fullmatch(_EITHER)]
    if len(either):
        raise DataError(
            f"{label}: {either.iloc[0]!r} reads two ways (a decimal mark or a thousands "
            f"group) and no other number says which; set data.decimal to '.' or ','"
        )
    return separator == ";"


def plain_numbers(frame: pd.DataFrame, european: bool) -> pd.DataFrame:
    """Every cell that is a number in the file's style, rewritten with a decimal point and
    no thousands groups; other cells (dates, text, a number in the other style) as they
    were, for the checks downstream to name."""
    pattern = _EUROPEAN if european else _POINT
    for column in frame.columns:
        text = frame[column].astype(str).str.strip()
        if not european and not text.str.contains(rf"[,{_GROUP[1:-1]}]", regex=True).any():
            continue  # plain already
        number = text.str.fullmatch(pattern)
        if not number.any():
            continue
        grouped = text[number].str.replace(_GROUP, "", regex=True)
        if european:
            grouped = grouped.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            grouped = grouped.str.replace(",", "", regex=False)
        frame[column] = text.where(~number, grouped)
    return frame
