"""The engine and its I/O: discovery, reading and writing bytes, the run itself (`core`),
LibCST fixing (`fixer`), diffs, git, configuration and output formats."""

from .core import FileResult, RunResult, Settings, run, run_buffer, run_source, write

__all__ = ["FileResult", "RunResult", "Settings", "run", "run_buffer", "run_source", "write"]
