"""Numbers in words people read: sizes."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1234567 -> "1.2 MB" (decimal units, as disks and networks count)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
