"""Where something is in a file: 1-based lines, 0-based columns counted in characters
(LibCST's positions; `ast` counts columns in UTF-8 bytes, so `Positions` converts)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass


LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
SUPPRESSION = re.compile(r"#\s*fixsessions:\s*ignore(?:\[(?P<codes>[A-Za-z0-9,\s]*)\])?", re.I)


def suppresses(line: str, code: str) -> bool:
    """Whether ``line`` carries `# fixsessions: ignore[CODE, ...]` for ``code``, or a bare
    `# fixsessions: ignore`."""
    match = SUPPRESSION.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in {c.strip().upper() for c in codes.split(",")}


@dataclass(frozen=True)
class Location:
    line: int
    column: int
    end_line: int
    end_column: int


class Positions:
    """Locations and comments of one module's text."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Python's own line breaks only: str.splitlines() would also break at \f, \x1c, ...
        self.lines = LINES.findall(text)
        self._comments: set[int] | None = None

    def column(self, line: int, offset: int) -> int:
        """The character column of a UTF-8 byte ``offset`` on ``line``."""
        if line < 1 or line > len(self.lines):
            return offset
        text = self.lines[line - 1]
        if text.isascii():
            return offset
        return len(text.encode("utf-8")[:offset].decode("utf-8", "replace"))

    def location(self, node: ast.AST) -> Location:
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end = getattr(node, "end_col_offset", None)
        return Location(
            node.lineno,
            self.column(node.lineno, node.col_offset),
            end_line,
            self.column(end_line, end if end is not None else node.col_offset),
        )

    def name_location(self, node: ast.AST) -> Location:
        """Where the name of a ``def``/``class`` statement stands."""
        line = node.lineno
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        start = self.column(line, node.col_offset)
        keyword = "class" if isinstance(node, ast.ClassDef) else "def"
        at = text.find(keyword, start)
        column = text.find(node.name, at + len(keyword)) if at >= 0 else -1
        if column < 0:
            return Location(line, start, line, start)
        return Location(line, column, line, column + len(node.name))

    @property
    def comment_lines(self) -> set[int]:
        """Lines that hold a comment (found by Python's tokenizer, so `#` in strings is not
        one). Computed on first use: only files a fix touches need it."""
        if self._comments is None:
            found: set[int] = set()
            try:
                for token in tokenize.generate_tokens(io.StringIO(self.text).readline):
                    if token.type == tokenize.COMMENT:
                        found.add(token.start[0])
            except (tokenize.TokenError, SyntaxError):
                found = {i for i, line in enumerate(self.lines, 1) if "#" in line}
            self._comments = found
        return self._comments

    def has_comment(self, first_line: int, last_line: int) -> bool:
        return any(first_line <= line <= last_line for line in self.comment_lines)
