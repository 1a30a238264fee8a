"""Measure which Chinese segmenter (jieba vs a sentencepiece model trained on the corpus) gives tokens
that better match CC-CEDICT headwords; the result is recorded in corpora/README.md."""
from __future__ import annotations

import collections
import itertools
import re
import tempfile
from pathlib import Path

from udm.tokenize import tokenize

__all__ = ["compare_zh_segmenters"]

_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")


def _coverage(counts: collections.Counter, heads: set[str], top: int) -> dict:
    han = [(w, c) for w, c in counts.most_common() if _HAN.match(w)]
    top_words = [w for w, _ in han[:top]]
    total = sum(c for _, c in han)
    return {"types": len(han), "top": len(top_words),
            "top_in_cedict": sum(w in heads for w in top_words),
            "top_in_cedict_share": round(sum(w in heads for w in top_words) / max(1, len(top_words)), 3),
            "running_tokens_in_cedict_share": round(sum(c for w, c in han if w in heads) / max(1, total), 3)}


def compare_zh_segmenters(corpus: str | Path, cedict_heads: set[str], max_lines: int = 200000,
                          vocab_size: int = 32000, top: int = 20000, seed: int = 0) -> dict:
    """CC-CEDICT coverage of the ``top`` most frequent Han tokens from jieba and from sentencepiece (unigram).

    ``cedict_heads`` are simplified CC-CEDICT headwords. Sentencepiece is trained on the same lines.
    """
    import sentencepiece as spm

    with open(corpus, encoding="utf-8") as fh:
        lines = [line.strip() for line in itertools.islice(fh, max_lines) if line.strip()]
    jieba_counts = collections.Counter(t for line in lines for t in tokenize(line, "zh"))
    with tempfile.TemporaryDirectory() as tmp:
        txt = Path(tmp) / "zh.txt"
        txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(txt), model_prefix=str(Path(tmp) / "m"), vocab_size=vocab_size,
                                       model_type="unigram", character_coverage=0.9995, seed_sentencepiece_size=
                                       1000000, minloglevel=2, hard_vocab_limit=False)
        sp = spm.SentencePieceProcessor(model_file=str(Path(tmp) / "m.model"))
        sp_counts = collections.Counter(p.lstrip("\u2581") for line in lines
                                        for p in sp.encode(line.lower(), out_type=str))
    return {"lines": len(lines), "jieba": _coverage(jieba_counts, cedict_heads, top),
            f"sentencepiece_unigram_{vocab_size}": _coverage(sp_counts, cedict_heads, top)}
