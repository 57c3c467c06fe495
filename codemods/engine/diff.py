"""Unified diffs that ``git apply`` turns into exactly the bytes write mode would write.

Lines are split on ``\\n`` only (as git does), so CR, form feeds and U+2028 stay inside their
line; a last line without a newline gets git's ``\\ No newline at end of file`` marker.
"""

from __future__ import annotations

import difflib

NO_NEWLINE = b"\\ No newline at end of file\n"


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    tail = lines.pop()
    result = [line + b"\n" for line in lines]
    if tail:
        result.append(tail)
    return result


def unified_diff(old: bytes, new: bytes, path: str, context: int = 3) -> bytes:
    if old == new:
        return b""
    encoded = path.encode("utf-8", "surrogateescape")
    out = []
    for line in difflib.diff_bytes(
        difflib.unified_diff,
        _lines(old),
        _lines(new),
        fromfile=b"a/" + encoded,
        tofile=b"b/" + encoded,
        n=context,
    ):
        out.append(line)
        if not line.endswith(b"\n"):
            out.append(b"\n" + NO_NEWLINE)
    return b"".join(out)
