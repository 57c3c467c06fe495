"""Edits that several rules make: put a new definition after a statement, spaced as PEP 8
wants (two blank lines around it at module level, one inside a function)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.metadata import ParentNodeProvider

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rule.py imports the analysis that uses this module
    from codemods.rule import Edit, FileContext


def has_comment(node: cst.CSTNode) -> bool:
    """Whether removing ``node`` would lose a comment."""
    return bool(m.findall(node, m.Comment()))


def ensure_blank_lines(node: cst.CSTNode, count: int) -> cst.CSTNode:
    leading = list(node.leading_lines)
    have = 0
    while have < len(leading) and leading[have].comment is None:
        have += 1
    if have >= count:
        return node
    return node.with_changes(leading_lines=[cst.EmptyLine(indent=False)] * (count - have) + leading)


def insert_after(
    ctx: "FileContext", statement: cst.CSTNode, new: cst.BaseStatement, blank_lines: int
) -> "list[tuple[cst.CSTNode, Edit]] | None":
    """Edits that put ``new`` right after ``statement``; None when ``statement`` sits in a
    one-line block (``if x: app = Flask()``), where nothing can follow it on its own line."""
    block = ctx.wrapper.resolve(ParentNodeProvider)[statement]
    if not isinstance(block, (cst.Module, cst.IndentedBlock)):
        return None
    new = new.with_changes(leading_lines=[cst.EmptyLine(indent=False)] * blank_lines)
    edits = [(statement, lambda node: cst.FlattenSentinel([node, new]))]
    return edits + space_following(ctx, statement, blank_lines)


def space_following(ctx: "FileContext", statement: cst.CSTNode, blank_lines: int) -> list:
    """The edit that puts ``blank_lines`` blank lines before the statement after
    ``statement`` (none when it is the last of its block)."""
    body = list(ctx.wrapper.resolve(ParentNodeProvider)[statement].body)
    position = next(i for i, stmt in enumerate(body) if stmt is statement)
    if position + 1 < len(body):
        return [(body[position + 1], lambda node: ensure_blank_lines(node, blank_lines))]
    return []
