"""Applying fixes: the only place that parses with LibCST, and only files that get a fix.

The rules decided on `ast`; `CstTree` finds the LibCST node at each edited `ast` node's place
(positions are matched, so comments and formatting between them survive), `apply` runs every
edit of a file in one pass and adds or drops the imports the fixes asked for.
"""

from __future__ import annotations

import ast
from collections import defaultdict

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ..analysis.location import Positions
from ..rules.base import Fix
from .cst_imports import add_imports, isort_key, remove_unused_imports

COMPOUND = {
    ast.If: cst.If, ast.For: cst.For, ast.AsyncFor: cst.For, ast.While: cst.While,
    ast.With: cst.With, ast.AsyncWith: cst.With, ast.Try: cst.Try, ast.FunctionDef: cst.FunctionDef,
    ast.AsyncFunctionDef: cst.FunctionDef, ast.ClassDef: cst.ClassDef,
}
if hasattr(ast, "TryStar"):
    COMPOUND[ast.TryStar] = cst.TryStar
if hasattr(ast, "Match"):
    COMPOUND[ast.Match] = cst.Match
EXPRESSIONS = {ast.Name: cst.Name, ast.Attribute: cst.Attribute, ast.Call: cst.Call}


class NoNode(Exception):
    """An edited `ast` node has no LibCST counterpart at its place."""


class CstTree:
    """One file's LibCST module, and its nodes by position."""

    def __init__(self, module: cst.Module, positions: Positions) -> None:
        self.module = module
        self.positions = positions
        self.by_start: dict[tuple, cst.CSTNode] = {}
        self.by_span: dict[tuple, cst.CSTNode] = {}
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        positions = wrapper.resolve(PositionProvider)
        self.span = {
            node: ((pos.start.line, pos.start.column), (pos.end.line, pos.end.column))
            for node, pos in positions.items()
        }
        for node, pos in positions.items():
            kind = type(node)
            if kind is cst.SimpleStatementLine or kind in COMPOUND.values():
                if kind in (cst.FunctionDef, cst.ClassDef):
                    name = positions[node.name].start
                    self.by_start[(kind, name.line, name.column)] = node
                else:
                    self.by_start.setdefault((kind, pos.start.line, pos.start.column), node)
            elif kind in (cst.Name, cst.Attribute, cst.Call):
                key = (kind, pos.start.line, pos.start.column, pos.end.line, pos.end.column)
                self.by_span.setdefault(key, node)

    def cst(self, node: ast.AST) -> cst.CSTNode:
        found = None
        if isinstance(node, ast.Module):
            return self.module
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            where = self.positions.name_location(node)
            found = self.by_start.get((COMPOUND[type(node)], where.line, where.column))
        elif type(node) in COMPOUND:
            where = self.positions.location(node)
            found = self.by_start.get((COMPOUND[type(node)], where.line, where.column))
        elif isinstance(node, ast.stmt):
            where = self.positions.location(node)
            found = self.by_start.get((cst.SimpleStatementLine, where.line, where.column))
        elif type(node) in EXPRESSIONS:
            where = self.positions.location(node)
            key = (EXPRESSIONS[type(node)], where.line, where.column, where.end_line, where.end_column)
            found = self.by_span.get(key)
        if found is None:
            line = getattr(node, "lineno", "?")
            raise NoNode(f"no LibCST node for {type(node).__name__} at line {line}")
        return found


class _ApplyEdits(cst.CSTTransformer):
    """Runs the edits; it descends only into nodes that hold an edited node."""

    def __init__(self, edits, tree: CstTree, spans) -> None:
        super().__init__()
        self.edits = edits
        self.tree = tree
        self.spans = spans

    def on_visit(self, node) -> bool:
        where = self.tree.span.get(node)
        if where is None:
            return True
        start, end = where
        return any(start <= s and e <= end for s, e in self.spans)

    def on_leave(self, original_node, updated_node):
        for edit in self.edits.get(id(original_node), ()):
            if not isinstance(updated_node, cst.CSTNode):
                break
            updated_node = edit(updated_node, self.tree)
        return updated_node


def apply(tree: CstTree, fixes: list[Fix], module_name: str, package: str) -> cst.Module:
    """The module with every edit of ``fixes`` made, and their imports added or dropped."""
    original = module = tree.module
    edits = defaultdict(list)
    spans = []
    imports = []
    unused = []
    for fix in fixes:
        for node, edit in fix.edits:
            target = tree.cst(node)
            edits[id(target)].append(edit)
            spans.append(tree.span[target])
        imports += fix.imports
        unused.extend(fix.unused_imports)
    sorted_before = _sorted_import_lines(original)
    module = module.visit(_ApplyEdits(edits, tree, spans))
    # With a package name an absolute import merges into an existing relative one of the
    # same module; without one a new relative import stays relative (as LibCST's codemods).
    absolute = [i for i in imports if not i.relative]
    relative = [i for i in imports if i.relative]
    if absolute:
        module = add_imports(module, absolute, package)
    if relative:
        module = add_imports(module, relative, None)
    # Last, so that new names merge into an import line before its old names leave it.
    if unused:
        module = remove_unused_imports(module, unused, package)
    module = _keep_import_order(module, sorted_before)
    if not _starts_blank(original) and _starts_blank(module):
        # The first statements went (unused imports, say); their separator must not lead.
        first = module.body[0]
        leading = list(first.leading_lines)
        while leading and leading[0].comment is None:
            leading.pop(0)
        module = module.with_changes(body=[first.with_changes(leading_lines=leading), *module.body[1:]])
    return module


def _keep_import_order(module: cst.Module, sorted_lines: set[tuple]) -> cst.Module:
    """A module-level import line that was in isort order stays in order, after a name
    merged into it or a name renamed in it."""
    body = []
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(small, cst.ImportFrom) for small in statement.body
        ):
            statement = statement.with_changes(
                body=[_ordered(small, sorted_lines) for small in statement.body]
            )
        body.append(statement)
    return module.with_changes(body=body)


def _starts_blank(module: cst.Module) -> bool:
    if module.header or not module.body:
        return False
    leading = module.body[0].leading_lines
    return bool(leading) and leading[0].comment is None


def _import_line_key(node: cst.ImportFrom) -> tuple:
    return (len(node.relative), node.module and cst.Module([]).code_for_node(node.module))


def _sorted_import_lines(module: cst.Module) -> set[tuple]:
    keys = set()
    for node in module.body:
        for stmt in node.body if isinstance(node, cst.SimpleStatementLine) else ():
            if isinstance(stmt, cst.ImportFrom) and not isinstance(stmt.names, cst.ImportStar):
                names = list(stmt.names)
                if names == sorted(names, key=isort_key):
                    keys.add(_import_line_key(stmt))
    return keys


def _ordered(node, sorted_lines: set[tuple]):
    if not isinstance(node, cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
        return node
    if _import_line_key(node) not in sorted_lines:
        return node
    names = list(node.names)
    ordered = sorted(names, key=isort_key)
    if ordered == names:
        return node
    commas = [n.comma for n in names]  # keep the punctuation where it was
    return node.with_changes(names=[n.with_changes(comma=c) for n, c in zip(ordered, commas)])


class CannotFix(Exception):
    """LibCST cannot take this file as it is: no fix can be made in it."""


def fixed_text(positions: Positions, fixes: list[Fix], where) -> str:
    """The file's text with ``fixes`` made (their nodes are those of ``positions.text``)."""
    try:
        module = cst.parse_module(positions.text)
    except cst.ParserSyntaxError as exc:
        raise CannotFix(f"LibCST cannot parse this file ({exc.message})") from exc
    if module.code != positions.text:
        # LibCST does not always reproduce what it parsed (seen: blank lines before a last,
        # indented comment with no final newline); fixing would change other lines.
        raise CannotFix("LibCST cannot reproduce this file byte for byte, so no fix is safe")
    return apply(CstTree(module, positions), fixes, where.name, where.package).code
