"""Property-based tests of the engine's byte-level promises: whatever the line endings, BOM,
encoding, tabs, form feeds or final newline, a fix inserts lines and changes nothing else,
the result parses, and a second run changes nothing."""

from pathlib import Path

import libcst as cst
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from fixsessions.codemods.engine import run_source
from fixsessions.codemods.engine.source import SourceText

HEADER = [
    "from flask import Flask",
    "from sqlalchemy.orm import scoped_session",
    "",
    "db_session = scoped_session(maker)",
    "app = Flask(__name__)",
]
FILLER = [
    "",
    "# caf\u00e9 \u00bd",
    "\t# a tab-indented comment",
    "\x0c",
    "VALUE = 'na\u00efve'",
    "def view():\n\treturn 'ok'",
    "class Thing:\n    x = 1\t# tab before comment",
    "TEXT = '''a\nb'''",
]

newlines = st.sampled_from(["\n", "\r\n"])


@st.composite
def sources(draw):
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    lines = list(HEADER) + draw(st.lists(st.sampled_from(FILLER), max_size=6))
    if encoding == "latin-1":
        lines.insert(0, "# -*- coding: latin-1 -*-")
    first = draw(newlines)
    mixed = draw(st.booleans())
    text = ""
    for i, line in enumerate(lines):
        ending = draw(newlines) if mixed and i else first
        text += line.replace("\n", ending) + ending
    if not draw(st.booleans()):  # no final newline
        text = text.rstrip("\r\n")
    bom = draw(st.booleans()) and encoding == "utf-8"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding), first



def _split_nl(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def is_subsequence(small: list, big: list) -> bool:
    iterator = iter(big)
    return all(any(item == other for other in iterator) for item in small)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources())
def test_fix_only_inserts_lines_and_keeps_every_byte_of_the_rest(case):
    data, newline = case
    result = run_source(data, Path("app.py"))
    if result.error is not None:
        # LibCST cannot round-trip a few layouts; such a file must be named and left alone.
        assert result.error == "LibCST cannot reproduce this file byte for byte, so no fix is safe"
        assert not result.changed
        assume(False)
    assert result.changed
    fixed = result.fixed

    # What was there is still there, line by line with its own ending, in order; only a last
    # line without a newline may gain one, when the fix adds code after it.
    before = _split_nl(data)
    if not data.endswith(b"\n"):
        before[-1] += newline.encode() if not fixed.endswith(before[-1]) else b""
    assert is_subsequence(before, _split_nl(fixed))
    # The BOM, the encoding and a missing final newline are kept.
    assert fixed.startswith(b"\xef\xbb\xbf") == data.startswith(b"\xef\xbb\xbf")
    assert fixed.endswith(b"\n") == data.endswith(b"\n")
    source = SourceText.decode(fixed)
    assert source.encoding == SourceText.decode(data).encoding
    # New lines use the file's newline.
    lines = _split_nl(fixed)
    added = [line for line in lines if b"shutdown_session" in line or b"remove()" in line]
    terminated = [line for line in added if line is not lines[-1] or fixed.endswith(b"\n")]
    assert added and all(line.endswith(newline.encode()) for line in terminated)
    # It parses, and a second run changes nothing.
    cst.parse_module(source.text)
    compile(source.text, "app.py", "exec")
    again = run_source(fixed, Path("app.py"))
    assert not again.changed


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(FILLER), max_size=8), newlines, st.booleans())
def test_a_file_without_the_patterns_is_never_changed(lines, newline, final):
    text = newline.join(line.replace("\n", newline) for line in lines) + (newline if final else "")
    data = text.encode("utf-8")
    result = run_source(data, Path("mod.py"))
    assert not result.changed
    assert result.findings == []
