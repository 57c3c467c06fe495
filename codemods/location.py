"""Where something is in a file: 1-based lines, 0-based columns (LibCST's positions)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    line: int
    column: int
    end_line: int
    end_column: int
