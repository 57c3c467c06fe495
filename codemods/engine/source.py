"""Reading and writing source files without changing a byte that no fix touched.

A file is decoded with the encoding Python itself would use (BOM, then PEP 263 cookie, then
UTF-8), and is only handled if re-encoding the decoded text gives back the exact bytes.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path


class SourceError(Exception):
    """A file that cannot be handled; the message says why, for a person to read."""


@dataclass(frozen=True)
class SourceText:
    text: str
    encoding: str
    bom: bytes

    @classmethod
    def decode(cls, data: bytes) -> SourceText:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            try:  # no usable cookie: say what is wrong with the UTF-8 Python falls back to
                data.decode("utf-8")
            except UnicodeDecodeError as utf8:
                raise SourceError(f"not valid utf-8: {utf8}") from None
            raise SourceError(f"bad encoding declaration: {exc}") from None
        bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
        if encoding == "utf-8-sig":
            encoding = "utf-8"
        body = data[len(bom) :]
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise SourceError(f"not valid {encoding}: {exc}") from None
        if text.encode(encoding) != body:
            raise SourceError(f"{encoding} text does not round-trip byte for byte")
        return cls(text, encoding, bom)

    def encode(self, text: str) -> bytes:
        try:
            return self.bom + text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise SourceError(f"fixed text cannot be encoded as {self.encoding}: {exc}") from None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that a crash leaves either the old or the new file."""
    import tempfile  # here: a run that writes nothing does without it

    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".fixsessions")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
