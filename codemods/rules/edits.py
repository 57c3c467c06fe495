"""Edits that several rules make: put a new definition after a statement, spaced as PEP 8
wants (two blank lines around it at module level, one inside a function). The rules decide on
`ast`; these edits run on the LibCST node the engine finds at the same place."""

from __future__ import annotations

import ast

from ..lazy import libcst as cst

from .base import Edit, FileContext


def ensure_blank_lines(node: cst.CSTNode, count: int) -> cst.CSTNode:
    leading = list(node.leading_lines)
    have = 0
    while have < len(leading) and leading[have].comment is None:
        have += 1
    if have >= count:
        return node
    return node.with_changes(leading_lines=[cst.EmptyLine(indent=False)] * (count - have) + leading)


def on_own_line(ctx: FileContext, stmt: ast.stmt) -> bool:
    """Whether ``stmt`` starts its line (not ``if x: app = Flask()`` or ``a = 1; b = 2``)."""
    line = ctx.positions.lines[stmt.lineno - 1] if stmt.lineno <= len(ctx.positions.lines) else ""
    return not line[: ctx.positions.column(stmt.lineno, stmt.col_offset)].strip()


def parse_statement(code: str, tree) -> cst.BaseStatement:
    """``code`` (written with ``\\n``) as a statement in the file's newline and indentation."""
    config = tree.module.config_for_parsing
    return cst.parse_statement(code.replace("\n", config.default_newline), config)


def insert_after(
    ctx: FileContext, statement: ast.stmt, code: str, blank_lines: int
) -> "list[tuple[ast.AST, Edit]] | None":
    """Edits that put ``code`` (one statement) right after ``statement``; None when
    ``statement`` does not stand on a line of its own (``if x: app = Flask()``), where
    nothing can follow it on its own line."""
    if ctx.block_of(statement) is None or not on_own_line(ctx, statement):
        return None

    def edit(node, tree):
        new = parse_statement(code, tree)
        return cst.FlattenSentinel([node, new.with_changes(leading_lines=[cst.EmptyLine(indent=False)] * blank_lines)])

    return [(statement, edit), *space_following(ctx, statement, blank_lines)]


def space_following(ctx: FileContext, statement: ast.stmt, blank_lines: int) -> list:
    """The edit that puts ``blank_lines`` blank lines before the statement after
    ``statement`` (none when it is the last of its block)."""
    block = ctx.block_of(statement)
    if block is None:
        return []
    body, position = block
    if position + 1 < len(body):
        return [(body[position + 1], lambda node, tree: ensure_blank_lines(node, blank_lines))]
    return []
