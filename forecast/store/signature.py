"""Signatures for state this user's own runs wrote and a later run will unpickle.

``sweep --resume`` hands Ray Tune's experiment folder to ``Tuner.restore``, which unpickles
its state files: unpickling a file someone else wrote can run their code. So when a sweep
stops (finished, interrupted or failed), an HMAC-SHA256 of every file under its experiment
folder is written beside it, keyed by a secret that lives in this user's cache folder
(``signing.key``, mode 0600, made on first use); ``--resume`` checks it before anything is
unpickled and refuses a folder whose files this user's key did not sign.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from forecast.base import atomic
from forecast.errors import UserError

KEY_NAME = "signing.key"


def signing_key() -> bytes:
    """This user's secret (created once, readable by the user alone)."""
    from forecast.base.cache import cache_dir

    path = cache_dir() / KEY_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(secrets.token_bytes(32))
    return path.read_bytes()


def folder_digest(folder: Path, key: bytes) -> str:
    """HMAC-SHA256 over every file's relative path and content under ``folder``."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for path in sorted(item for item in folder.rglob("*") if item.is_file()):
        mac.update(path.relative_to(folder).as_posix().encode() + b"\0")
        mac.update(hashlib.sha256(path.read_bytes()).digest())
    return mac.hexdigest()


def sign_folder(folder: Path, signature: Path) -> None:
    """Write ``signature`` (JSON) for every file now under ``folder``."""
    atomic.write_json(
        signature,
        {
            "algorithm": "HMAC-SHA256",
            "folder": folder.name,
            "key": f"this user's {KEY_NAME} (forecast's cache folder)",
            "digest": folder_digest(folder, signing_key()),
        },
    )


def check_signed(folder: Path, signature: Path, what: str) -> None:
    """Refuse, in one line, a folder this user's key did not sign as it is now."""
    try:
        record = json.loads(signature.read_text(encoding="utf-8"))
        digest = str(record["digest"])
    except FileNotFoundError:
        raise UserError(
            f"{what}: {folder} carries no signature of this user ({signature.name} "
            f"is missing: made by an older forecast or by someone else, or killed "
            f"before it could sign); resuming unpickles its files, so only if you "
            f"made it yourself: add --trust"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{what}: {signature} is unreadable; start a new sweep") from None
    if not hmac.compare_digest(digest, folder_digest(folder, signing_key())):
        raise UserError(
            f"{what}: {folder} changed since this user's forecast signed it (or "
            f"another user's did); resuming would unpickle files you did not "
            f"write: start a new sweep"
        )
