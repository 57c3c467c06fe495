"""`ast.iter_child_nodes` and `ast.walk`, faster: every module is walked by several
collectors, and the standard ones go through `ast.iter_fields` and yield each name's `Load`
or `Store` marker as a child. Same nodes (less those markers), same order."""

from __future__ import annotations

import ast
from collections import deque

_FIELDS: dict[type, tuple[str, ...]] = {}
_AST = ast.AST


def children(node: ast.AST) -> list[ast.AST] | tuple:
    """The child nodes of ``node``, computed once and kept on the node (several collectors
    walk every module): the list is shared, never to be changed."""
    kind = type(node)
    if kind in _LEAVES:  # two nodes in five: nothing to compute, nothing to keep
        return _NONE
    try:
        return node._fs_children
    except AttributeError:
        pass
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = _FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
    out = []
    for name in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            out.extend([item for item in value if isinstance(item, _AST)])
        elif isinstance(value, _AST):
            out.append(value)
    node._fs_children = out = out or _NONE
    return out


_NONE = ()
# Nodes with no child node: names (their `Load`/`Store` marker is left out), constants, and
# the operator and context singletons.
_LEAVES = frozenset({
    ast.Name, ast.Constant, ast.Load, ast.Store, ast.Del, ast.Pass, ast.Break, ast.Continue,
    ast.Global, ast.Nonlocal,
    *(kind for base in (ast.operator, ast.unaryop, ast.cmpop, ast.boolop) for kind in base.__subclasses__()),
})
# Leaves that are no statement: a collector with nothing to do for names and constants skips
# them rather than calling itself on each (two nodes in five).
INERT = frozenset(kind for kind in _LEAVES if not issubclass(kind, ast.stmt))


def walk(node: ast.AST):
    """Every node below ``node`` (itself included), breadth first, like `ast.walk`."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        todo.extend(children(node))
        yield node
