"""Where a Ray cluster is: an address checked before Ray is asked to join it (Ray itself
would retry an address nothing answers on for minutes). No Ray import: a command refuses a
bad ``--address`` before it makes a folder or starts anything."""

from __future__ import annotations

import os
from pathlib import Path

from forecast.errors import UserError, named


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse an address nothing answers on (Ray itself would retry it for minutes)."""
    import socket

    target = address
    if address == "auto":
        current = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
        target = os.environ.get("RAY_ADDRESS") or (
            current.read_text().strip() if current.exists() else ""
        )
        if not target:
            raise UserError(
                f"{named('address', 'auto')}: no Ray cluster was started on this machine; "
                f"start one with 'ray start --head' or leave {named('address')} out"
            )
    host, _, port = target.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(
            f"{named('address', address)}: no Ray cluster answers at {target} ({reason}); "
            f"start one with 'ray start --head' or leave {named('address')} out to run on "
            f"this machine"
        ) from None
