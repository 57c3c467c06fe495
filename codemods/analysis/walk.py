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
    try:
        return node._fs_children
    except AttributeError:
        pass
    kind = type(node)
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


def walk(node: ast.AST):
    """Every node below ``node`` (itself included), breadth first, like `ast.walk`."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        todo.extend(children(node))
        yield node
