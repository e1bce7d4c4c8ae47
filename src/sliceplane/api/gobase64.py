"""Go's ``base64.StdEncoding.Decode``, errors included: the ``[]byte`` fields of the API.

Why not ``base64.b64decode``: kube-apiserver decodes ``Secret.data`` and
``ConfigMap.binaryData`` with Go's encoding/json, which runs ``base64.StdEncoding.Decode``
and fails the whole request with ``illegal base64 data at input byte N`` on the first bad
byte (a 400 the clients print). Python's decoder accepts other inputs (missing padding with
``validate=False``, junk characters), and its errors say neither which byte nor the same
words. Go's rules: padding is required, ``\\r`` and ``\\n`` are skipped anywhere, nothing may
follow the padding, and the unused bits of the last character are not checked (the encoding
is not strict), so the value is served re-encoded, canonically, as upstream serves it.

Pure and stdlib-only, like the rest of ``sliceplane.api``.
"""

from __future__ import annotations

import base64
from typing import Final

__all__ = ["decode_std", "normalize_std"]

_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DECODE: Final = {c: i for i, c in enumerate(_ALPHABET)}
_NEWLINES: Final = (0x0A, 0x0D)
_PAD: Final = 0x3D  # '='


def _error(offset: int) -> str:
    return f"illegal base64 data at input byte {offset}"


def _skip_newlines(src: bytes, si: int) -> int:
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    return si


def _quantum(src: bytes, si: int, out: bytearray) -> tuple[int, str | None, bool]:
    """Decode one 4-character quantum from ``src[si:]`` into ``out``.

    Returns (next index, error or None, whether decoding ended). Mirrors Go's
    ``decodeQuantum``, which reports the offsets the error messages carry.
    """
    values = [0, 0, 0, 0]
    length = 4
    j = 0
    ended = False
    error: str | None = None
    while j < 4:
        if si == len(src):
            if j == 0:
                return si, None, True
            return si, _error(si - j), True
        c = src[si]
        si += 1
        v = _DECODE.get(c)
        if v is not None:
            values[j] = v
            j += 1
            continue
        if c in _NEWLINES:
            continue
        if c != _PAD or j in (0, 1):
            return si, _error(si - 1), True
        if j == 2:
            # "==" is expected: the first "=" is consumed.
            si = _skip_newlines(src, si)
            if si == len(src):
                return si, _error(len(src)), True
            if src[si] != _PAD:
                return si, _error(si - 1), True
            si += 1
        si = _skip_newlines(src, si)
        if si < len(src):
            error = _error(si)  # trailing garbage after the padding
        length = j
        ended = True
        break
    bits = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3]
    out.extend(bits.to_bytes(3, "big")[: length - 1])
    return si, error, ended


def decode_std(text: str) -> tuple[bytes, str | None]:
    """(decoded bytes, None), or (what was decoded so far, Go's error text)."""
    src = text.encode("utf-8", errors="surrogatepass")
    out = bytearray()
    si = 0
    while si < len(src):
        si, error, ended = _quantum(src, si, out)
        if error is not None:
            return bytes(out), error
        if ended:
            break
    return bytes(out), None


def normalize_std(text: str) -> tuple[str | None, str | None]:
    """(the canonical encoding upstream serves back, None) or (None, Go's error text)."""
    data, error = decode_std(text)
    if error is not None:
        return None, error
    return base64.b64encode(data).decode("ascii"), None
