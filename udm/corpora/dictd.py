"""Parser for FreeDict dictionaries in dictd format (``NAME.index`` + ``NAME.dict.dz``/``NAME.dict``).

Index lines are ``headword<TAB>offset<TAB>length`` with offset and length in dictd base64 (alphabet
``A-Za-z0-9+/``, big-endian, no padding). The .dict.dz is dictzip, i.e. plain gzip for a full read.
An entry is a headword line (``word /ipa/ <pos>``) followed by translation lines (``1. a, b, c`` or
``trans <pos> [domain]``); ``Synonym:``/``see:``/``Note:`` lines and quoted examples are skipped.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterator

from udm.errors import UdmError

__all__ = ["b64_decode", "b64_encode", "read_dictd", "parse_entry", "clean_items"]

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VAL = {c: i for i, c in enumerate(_B64)}
_SKIP = re.compile(r"^(synonyms?|see|note|antonyms?|also|cf\.?)\s*:", re.IGNORECASE)
_BRACKETS = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|/[^/]*/")
_NUMBER = re.compile(r"^\s*\d+\.\s*")


def b64_decode(s: str) -> int:
    """Decode a dictd base64 number."""
    n = 0
    for ch in s:
        try:
            n = n * 64 + _B64_VAL[ch]
        except KeyError:
            raise UdmError(f"bad dictd base64 number {s!r}; the .index file is corrupt") from None
    return n


def b64_encode(n: int) -> str:
    """Encode a non-negative int in dictd base64 (inverse of b64_decode)."""
    if n == 0:
        return "A"
    out = []
    while n:
        n, r = divmod(n, 64)
        out.append(_B64[r])
    return "".join(reversed(out))


def clean_items(line: str) -> list[str]:
    """Strip markup/IPA/brackets from a translation line and split it into items on ',' and ';'."""
    line = _NUMBER.sub("", line)
    line = _BRACKETS.sub(" ", line)
    items = []
    for part in re.split(r"[,;]", line):
        part = " ".join(part.split()).strip(" .:!?\"'")
        if part:
            items.append(part)
    return items


def parse_entry(text: str) -> tuple[str, list[str]]:
    """Parse one dictd entry into (headword, translation items)."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", []
    head = _BRACKETS.sub(" ", lines[0])
    head = " ".join(head.split()).strip()
    items: list[str] = []
    for raw in lines[1:]:
        line = raw.strip()
        if not line or _SKIP.match(line) or line[0] in "\"“„«'":
            continue
        items.extend(clean_items(line))
    return head, items


def read_dictd(index_path: str | Path, dict_path: str | Path | None = None) -> Iterator[tuple[str, list[str]]]:
    """Yield (headword, translation items) for each distinct entry of a dictd dictionary.

    ``dict_path`` defaults to the index's sibling ``.dict.dz`` (or ``.dict``). ``00database*`` entries are skipped.
    """
    index_path = Path(index_path)
    if dict_path is None:
        stem = str(index_path)[: -len(".index")] if str(index_path).endswith(".index") else str(index_path)
        cands = [Path(stem + ".dict.dz"), Path(stem + ".dict")]
        dict_path = next((c for c in cands if c.exists()), cands[0])
    dict_path = Path(dict_path)
    try:
        raw = gzip.open(dict_path).read() if dict_path.suffix == ".dz" else dict_path.read_bytes()
        lines = index_path.read_text(encoding="utf-8").splitlines()
    except (OSError, EOFError) as exc:
        raise UdmError(f"cannot read dictd files {index_path} / {dict_path}: {exc}; reinstall the dictionary") from exc
    seen: set[int] = set()
    for n, line in enumerate(lines, 1):
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        if parts[0].startswith("00database") or parts[0].startswith("00-database"):
            continue
        off, length = b64_decode(parts[1]), b64_decode(parts[2])
        if off in seen:
            continue
        seen.add(off)
        if off + length > len(raw):
            raise UdmError(f"{index_path}: line {n} points past the end of {dict_path}; the files do not match")
        head, items = parse_entry(raw[off:off + length].decode("utf-8", errors="replace"))
        if head:
            yield head, items
