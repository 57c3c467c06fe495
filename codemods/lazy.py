"""LibCST, imported on first use: most runs (a clean tree, a cached answer, `explain`) never
rewrite a file, and importing LibCST costs more than the rest of the start-up."""

from __future__ import annotations

import importlib.util
import sys


def lazy_module(name: str):
    """The module ``name``, loaded when an attribute is first read (the importlib recipe)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


libcst = lazy_module("libcst")
