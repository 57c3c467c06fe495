"""Adding and dropping `from module import name` lines in a LibCST module.

The results are those of LibCST's `AddImportsVisitor` and `RemoveImportsVisitor` (version 1.x)
for the imports fixsessions adds and drops, so that fixed files read as a LibCST codemod would
write them; the code follows theirs. What differs is the cost: those visitors import
`libcst.matchers` (a fifth of a second at start-up), copy the module and, to drop an import,
run LibCST's scope analysis on all of it. Here only the statements concerned are read and
rebuilt, and whether a name is still used is read from `ast` (see `names_in_use`).
"""

from __future__ import annotations

import ast
import re
import sys

import libcst as cst

from ..analysis.names import Names

_IDENTIFIER = re.compile(r"[^\W\d]\w*")
STDLIB = frozenset(sys.stdlib_module_names) - {"__future__"}


def absolute_module(package: str | None, node: cst.ImportFrom) -> str | None:
    """The module ``node`` imports from, as seen from ``package`` (None when a relative
    import cannot be resolved), as LibCST's ``get_absolute_module_from_package_for_import``."""
    name = _dotted(node.module) if node.module is not None else None
    dots = len(node.relative)
    if dots == 0:
        return name
    if not package:
        return None
    bits = package.rsplit(".", dots - 1)
    if len(bits) < dots:
        return None
    return f"{bits[0]}.{name}" if name else bits[0]


def _dotted(node) -> str:
    if isinstance(node, cst.Name):
        return node.value
    return f"{_dotted(node.value)}.{node.attr.value}"


def _resolve(module: str, relative: int, package: str | None) -> str:
    """An item's module: absolute where ``package`` resolves it, else with its dots."""
    if relative and package:
        bits = package.rsplit(".", relative - 1)
        if len(bits) >= relative:
            return f"{bits[0]}.{module}" if module else bits[0]
    return "." * relative + module


# -- adding ----------------------------------------------------------------------------------


def add_imports(module: cst.Module, items, package: str | None) -> cst.Module:
    """``module`` with ``from item.module import item.name`` for every item it lacks: merged
    into a leading `from` line of the same module, else added after the leading import lines.
    ``items`` have ``module``, ``name`` and ``relative``; with ``package`` relative items are
    made absolute."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        wanted.setdefault(_resolve(item.module, item.relative, package), set()).add(item.name)
    wanted = {key: wanted[key] for key in sorted(wanted)}

    body = list(module.body)
    start = 1 if body and _skips_first(body[0]) else 0
    end = start
    while end < len(body) and _is_import_line(body[end]):
        end += 1
    top = [line.body[0] for line in body[start:end]]

    for node in top:  # what the leading imports already bring
        if not isinstance(node, cst.ImportFrom):
            continue
        source = absolute_module(package, node)
        if source is None or source not in wanted:
            continue
        if isinstance(node.names, cst.ImportStar):
            del wanted[source]
            continue
        wanted[source] -= {_dotted(alias.name) for alias in node.names if alias.asname is None}
        if not wanted[source]:
            del wanted[source]
    if not wanted:
        return module

    for number in range(start, end):  # merged into the first line from the same module
        node = body[number].body[0]
        if not isinstance(node, cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
            continue
        source = absolute_module(package, node)
        if source is None or source not in wanted:
            continue
        names = [cst.ImportAlias(name=cst.Name(name)) for name in sorted(wanted.pop(source))]
        merged = node.with_changes(names=[*names, *node.names])
        body[number] = body[number].with_changes(body=[merged, *body[number].body[1:]])
    if not wanted:
        return module.with_changes(body=body)

    config = module.config_for_parsing
    # A new line joins its isort section, where isort and ruff (I001) want it: after the
    # section's `import x` lines, among its `from` lines by module name. A standard-library
    # import without such a section opens the block, a blank line above the rest; another
    # import without lines of its own package goes after the block. LibCST's visitor puts
    # every new line after the block, which those linters then flag.
    lead = start  # `from __future__` lines stay first
    while lead < end and _line_module(body[lead]) == "__future__":
        lead += 1
    for source in list(wanted):
        line = cst.parse_statement(f"from {source} import {', '.join(sorted(wanted[source]))}", config=config)
        section = _section(body, lead, end, source)
        if section is None or not _in_order(body[section[0] : section[1]]):
            continue  # no section to join, or one kept in an order of its own
        first, last = section
        position = first
        while position < last and (
            isinstance(body[position].body[0], cst.Import) or _line_module(body[position]) < source
        ):
            position += 1
        if position == first:  # the line opens the section: it takes the leading lines there
            opening = body[first]
            if any(empty.comment is not None for empty in opening.leading_lines):
                continue  # a comment there may be about that line: leave the new one below
            line = line.with_changes(leading_lines=opening.leading_lines)
            kept = () if last > first else (cst.EmptyLine(),)  # a new section above it
            body[first] = opening.with_changes(leading_lines=kept)
        del wanted[source]
        body.insert(position, line)
        end += 1
    if not wanted:
        return module.with_changes(body=body)

    after = body[end:]
    # Blank lines only where the block is in isort's shape already, code apart from it.
    tidy = _sections_in_order(body[lead:end]) and (not after or _blank_above(after[0]))
    if after:
        first = after[0]
        if not first.leading_lines:
            after[0] = first.with_changes(leading_lines=(cst.EmptyLine(),))
        elif first.leading_lines[0].comment is not None:
            after[0] = first.with_changes(leading_lines=(cst.EmptyLine(), *first.leading_lines))
    new = [
        cst.parse_statement(f"from {source} import {', '.join(sorted(names))}", config=config)
        for source, names in wanted.items()
    ]
    # The project's own package after other imports opens a section of its own (isort's
    # first-party section): a blank line above it.
    own = (package or "").split(".")[0] if tidy else ""
    previous = _line_module(body[end - 1]).split(".")[0] if end > lead else None
    for number, source in enumerate(wanted):
        top = source.split(".")[0]
        if own and top == own and previous not in (None, own) and not previous.startswith("."):
            new[number] = new[number].with_changes(leading_lines=(cst.EmptyLine(),))
        previous = top
    return module.with_changes(body=[*body[:end], *new, *after])


def _section(body: list, lead: int, end: int, source: str) -> tuple[int, int] | None:
    """The lines [first, last) of the import block's isort section that ``source`` belongs
    to: the standard library's, or the run of lines (no blank line between them) holding a
    line of the same top-level package, or of relative imports for a relative one. None
    when there is none to join."""
    if lead >= end:
        return None
    if _is_stdlib(source):
        last = lead
        while last < end and _is_stdlib(_line_module(body[last])):
            last += 1
        return lead, last
    top = "." if source.startswith(".") else source.split(".")[0]
    for number in range(lead, end):
        module = _line_module(body[number])
        if ("." if module.startswith(".") else module.split(".")[0]) != top:
            continue
        first = number
        while first > lead and not _blank_above(body[first]):
            first -= 1
        last = number + 1
        while last < end and not _blank_above(body[last]):
            last += 1
        return first, last
    return None


def _in_order(lines: list) -> bool:
    """Whether a section is in isort's order: `import x` lines, then `from` lines by module,
    one line per module, each line's names in order."""
    kinds = [isinstance(line.body[0], cst.Import) for line in lines]
    froms = [line.body[0] for line, plain in zip(lines, kinds) if not plain]
    modules = [_line_module(line) for line, plain in zip(lines, kinds) if not plain]
    return (
        kinds == sorted(kinds, reverse=True)
        and modules == sorted(set(modules))
        and all(
            isinstance(node.names, cst.ImportStar)
            or list(node.names) == sorted(node.names, key=isort_key)
            for node in froms
        )
    )


def isort_key(alias: cst.ImportAlias) -> tuple:
    """ruff's and isort's default order-by-type: CONSTANTS, Classes, functions."""
    name = alias.evaluated_name
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _sections_in_order(lines: list) -> bool:
    """Whether an import block is in isort's shape: runs of lines apart by blank lines, each
    in order and none mixing the standard library with other imports."""
    runs: list[list] = []
    for line in lines:
        if not runs or _blank_above(line):
            runs.append([])
        runs[-1].append(line)
    return all(
        _in_order(run) and len({_is_stdlib(_line_module(line)) for line in run}) == 1 for run in runs
    )


def _blank_above(statement) -> bool:
    return any(empty.comment is None for empty in statement.leading_lines)


def _is_stdlib(module: str | None) -> bool:
    return bool(module) and not module.startswith(".") and module.split(".")[0] in STDLIB


def _line_module(statement) -> str:
    """What an import line imports from: ``a.b`` of `import a.b` or `from a.b import c`,
    dots first for a relative one."""
    node = statement.body[0]
    if isinstance(node, cst.Import):
        return _dotted(node.names[0].name)
    return "." * len(node.relative) + (_dotted(node.module) if node.module is not None else "")


def _skips_first(statement) -> bool:
    """A docstring or a `__strict__` flag: imports never go above it."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    first = statement.body[0]
    if isinstance(first, cst.Expr):
        return isinstance(first.value, cst.SimpleString)
    return (
        isinstance(first, cst.Assign)
        and len(first.targets) == 1
        and isinstance(first.targets[0].target, cst.Name)
        and first.targets[0].target.value == "__strict__"
    )


def _is_import_line(statement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], (cst.Import, cst.ImportFrom))
    )


# -- dropping --------------------------------------------------------------------------------


def names_in_use(code: str) -> tuple[set[tuple], set[str]]:
    """``(scope, name)`` for every name ``code`` reads, where ``scope`` is the path of
    function and class names (``()`` for the module) of the scope whose binding the read sees,
    as Python's scoping rules say; and every identifier written in a string (string
    annotations, ``__all__``), which counts as a read in every scope. A read that no binding
    explains counts as one of the module's."""
    tree = ast.parse(code)
    names = Names(tree, "", "")
    path_of = {id(names.root): ()}
    reads: set[tuple] = set()
    in_strings: set[str] = set()

    def visit(node, path):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = (*path, child.name)
                path_of[id(names.body_scope[id(child)])] = inner
                visit(child, inner)
            else:
                visit(child, path)

    visit(tree, ())
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            scope = names.scope_of.get(id(node))
            binder = scope.binder(node.id) if scope is not None else None
            reads.add((path_of.get(id(binder), ()) if binder is not None else (), node.id))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            in_strings.update(_IDENTIFIER.findall(node.value))
    return reads, in_strings


def remove_unused_imports(module: cst.Module, unused, package: str | None) -> cst.Module:
    """``module`` without the imports ``unused`` names (``(module, name)``: `from module
    import name`; ``(module, None)``: `import module`) that nothing uses any more."""
    return module.visit(_RemoveImports(unused, package, names_in_use(module.code)))


class _RemoveImports(cst.CSTTransformer):
    def __init__(self, unused, package: str | None, in_use: tuple[set[str], set[str]]) -> None:
        super().__init__()
        self.package = package
        self.modules = {module for module, name in unused if name is None}
        self.objects: dict[str, set[str]] = {}
        for module, name in unused:
            if name is not None:
                self.objects.setdefault(module, set()).add(name)
        self.reads, self.in_strings = in_use
        self.path: list[str] = []  # the function and class names around the visited node

    def on_visit(self, node) -> bool:
        if isinstance(node, (cst.BaseExpression, cst.BaseSmallStatement)):
            return False  # an import's names are read in on_leave
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self.path.append(node.name.value)
        return True

    def on_leave(self, original_node, updated_node):
        if isinstance(original_node, (cst.FunctionDef, cst.ClassDef)):
            self.path.pop()
        elif isinstance(original_node, cst.Import):
            return self._import(original_node, updated_node)
        elif isinstance(original_node, cst.ImportFrom):
            return self._import_from(original_node, updated_node)
        return updated_node

    def _unused(self, alias: cst.ImportAlias) -> bool:
        bound = alias.asname.name if alias.asname else alias.name
        while isinstance(bound, cst.Attribute):  # `import a.b` binds `a`
            bound = bound.value
        if not isinstance(bound, cst.Name) or bound.value in self.in_strings:
            return False
        return (tuple(self.path), bound.value) not in self.reads

    def _import(self, original: cst.Import, updated: cst.Import):
        keep = [
            alias for alias in original.names
            if alias.asname is not None or _dotted(alias.name) not in self.modules
            or not self._unused(alias)
        ]
        return _kept(original, updated, keep, {})

    def _import_from(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if isinstance(original.names, cst.ImportStar):
            return updated
        source = absolute_module(self.package, updated)
        if source is None or source not in self.objects:
            return updated
        updates = {}
        keep = []
        for alias in original.names:
            if (
                alias.asname is not None
                or _dotted(alias.name) not in self.objects[source]
                or not self._unused(alias)
            ):
                keep.append(alias)
                continue
            # Comments after the dropped name's comma move to the name before it (or to
            # the opening parenthesis), as LibCST's RemoveImportsVisitor does.
            comma = alias.comma
            if isinstance(comma, cst.Comma):
                if keep:
                    previous = keep[-1]
                    if isinstance(previous.comma, cst.Comma):
                        previous = previous.with_deep_changes(
                            previous.comma,
                            whitespace_after=_merge_whitespace_after(
                                previous.comma.whitespace_after, comma.whitespace_after
                            ),
                        )
                    else:
                        previous = previous.with_changes(comma=comma)
                    keep[-1] = previous
                elif isinstance(updated.lpar, cst.LeftParen):
                    updates["lpar"] = updated.lpar.with_changes(
                        whitespace_after=_merge_whitespace_after(
                            updated.lpar.whitespace_after, comma.whitespace_after
                        )
                    )
        return _kept(original, updated, keep, updates)


def _kept(original, updated, keep, updates):
    if keep == list(original.names):
        return updated
    if not keep:
        return cst.RemoveFromParent()
    if keep[-1] != original.names[-1]:  # no trailing comma left behind
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return updated.with_changes(names=keep, **updates)


def _merge_whitespace_after(left, right):
    if not isinstance(right, cst.ParenthesizedWhitespace):
        return left
    if not isinstance(left, cst.ParenthesizedWhitespace):
        return right
    return left.with_changes(
        empty_lines=tuple(line for line in right.empty_lines if line.comment is not None)
    )
