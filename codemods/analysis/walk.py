"""`ast.iter_child_nodes` and `ast.walk`, faster: every module is walked by several
collectors, and the standard ones go through `ast.iter_fields` and yield each name's `Load`
or `Store` marker as a child. Same nodes (less those markers), same order."""

from __future__ import annotations

import ast
import re
from collections import deque
from functools import partial

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
    listing = _LISTINGS.get(kind) or _new_listing(kind)
    node._fs_children = out = listing(node) or _NONE
    return out


def _new_listing(kind: type):
    listing = _LISTINGS[kind] = _written_out(kind) or partial(_any_children, _fields(kind))
    return listing


def _fields(kind: type) -> tuple[str, ...]:
    return tuple(f for f in kind._fields if f != "ctx")


def _any_children(fields: tuple[str, ...], node: ast.AST) -> list[ast.AST]:
    out = []
    for name in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            out.extend([item for item in value if isinstance(item, _AST)])
        elif isinstance(value, _AST):
            out.append(value)
    return out


# Node kind -> the function listing its children: written out from the kind's ASDL signature
# (`ast.Call.__doc__` is "Call(expr func, expr* args, keyword* keywords)"), a third faster
# than looping over its fields; `_any_children` where the signature does not read as expected.
_LISTINGS: dict[type, object] = {}
_SIGNATURE = re.compile(r"(\w+)\((.*)\)\Z")
_NOT_NODES = frozenset({"identifier", "string", "constant", "int", "expr_context"})
_MAY_HOLD_NONE = {(ast.Dict, "keys"), (ast.arguments, "kw_defaults")}  # `{**d}`, `*, a, b=1`


def _written_out(kind: type):
    match = _SIGNATURE.match((kind.__doc__ or "").split("\n")[0].strip())
    if match is None or match.group(1) != kind.__name__:
        return None
    fields = []
    for part in filter(None, (p.strip() for p in match.group(2).split(","))):
        words = part.split()
        if len(words) != 2 or not words[1].isidentifier():
            return None
        fields.append((words[0].rstrip("*?"), words[0][-1:], words[1]))
    if tuple(name for _, _, name in fields) != kind._fields:
        return None
    lines = ["def listing(n):", "    out = []"]
    for asdl, how, name in fields:
        if asdl in _NOT_NODES:
            continue
        if how == "*":
            if (kind, name) in _MAY_HOLD_NONE:
                lines.append(f"    out += [x for x in n.{name} if x is not None]")
            else:
                lines.append(f"    out += n.{name}")
        elif how == "?":
            lines.append(f"    v = n.{name}")
            lines.append("    if v is not None: out.append(v)")
        else:
            lines.append(f"    out.append(n.{name})")
    lines.append("    return out")
    namespace: dict = {}
    exec("\n".join(lines), namespace)  # noqa: S102 (our own text, from ast's signatures)
    return namespace["listing"]


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


def fill(tree: ast.AST) -> None:
    """Give every node of ``tree`` its `_fs_children` (an empty tuple for a leaf), once, so
    that the collectors of `collect_facts` read the attribute rather than call `children` for
    each node they enter (two million calls on privacyidea's 629 modules)."""
    if tree.__dict__.get("_fs_filled"):
        return
    todo = [tree]
    pop, push, leaves, listings = todo.pop, todo.extend, _LEAVES, _LISTINGS
    while todo:
        node = pop()
        kind = type(node)
        if kind in leaves:
            node._fs_children = _NONE
            continue
        listing = listings.get(kind) or _new_listing(kind)
        node._fs_children = out = listing(node) or _NONE
        push(out)
    tree._fs_filled = True


def walk(node: ast.AST):
    """Every node below ``node`` (itself included), breadth first, like `ast.walk`."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        todo.extend(children(node))
        yield node
