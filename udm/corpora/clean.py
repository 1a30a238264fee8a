"""Text extraction and cleaning: HTML to text, groff man pages rendered, line filters."""
from __future__ import annotations

import gzip
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from udm.tokenize import normalize

__all__ = ["html_to_text", "render_man", "clean_line", "read_text_file"]

_BLOCK = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "tr", "br", "dt", "dd", "title",
          "table", "ul", "ol", "section", "article", "blockquote", "caption", "figcaption"}
_SKIP = {"script", "style", "pre", "code", "kbd", "samp", "tt", "head"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data.replace("\n", " ").replace("\r", " "))


def html_to_text(html: str) -> list[str]:
    """Visible text of an HTML page as paragraphs (code, scripts and styles dropped)."""
    p = _Text()
    try:
        p.feed(html)
        p.close()
    except Exception:  # malformed HTML: keep what was parsed
        pass
    return [" ".join(par.split()) for par in "".join(p.parts).split("\n") if par.strip()]


def read_text_file(path: Path) -> str:
    """Read a (possibly .gz) text file as UTF-8, replacing undecodable bytes."""
    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


def render_man(path: Path, timeout: int = 60) -> list[str]:
    """Render a groff man page (optionally .gz) to plain paragraphs with groff -mandoc -Tutf8."""
    try:
        src = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError):
        return []
    if src.lstrip().startswith(b".so "):  # link to another page
        return []
    try:
        res = subprocess.run(["groff", "-k", "-mandoc", "-Tutf8", "-P-cbou", "-rLL=2000n", "-rHY=0"],
                             input=src, capture_output=True, timeout=timeout)
    except (subprocess.TimeoutExpired, FileNotFoundError):
        return []
    text = res.stdout.decode("utf-8", errors="replace")
    paras, cur = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            if cur:
                paras.append(" ".join(cur))
                cur = []
        else:
            cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    return paras[1:-1] if len(paras) > 2 else paras  # drop header/footer lines


_SPACE = re.compile(r"\s+")


def clean_line(line: str, lower: bool = False, min_letter_ratio: float = 0.6, min_words: int = 3) -> str | None:
    """NFC-normalise and collapse whitespace; None for lines that are mostly non-letters or too short."""
    line = _SPACE.sub(" ", normalize(line)).strip()
    if not line:
        return None
    chars = [c for c in line if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    if letters < min_letter_ratio * len(chars):
        return None
    cjk = sum("\u3400" <= c <= "\u9fff" for c in chars)
    if cjk < 4 and len(line.split()) < min_words:
        return None
    return line.lower() if lower else line
