"""``udm demo``: the main job on the data shipped in the repo.

For the cipher control and English-Spanish, trains each side's vectors separately on the Bible fixtures (same
books, never aligned), fits the supervised baseline on the train lexicon and the unsupervised aligners without
it, and prints one BLI table (P@1/5/10, NN and CSLS, coverage) with the unsupervised/supervised ratio.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Optional

from .aligners import aligner_class
from .atomic import atomic_open
from .embeddings import Embeddings
from .errors import UdmError
from .evaluate import evaluate_mapping
from .lexicon import Lexicon

FIXTURES_ENV = "UDM_FIXTURES"


def fixtures_dir() -> Path:
    """The committed fixture folder (``corpora/fixtures`` of the checkout, or $UDM_FIXTURES)."""
    path = Path(os.environ.get(FIXTURES_ENV, Path(__file__).resolve().parent.parent / "corpora" / "fixtures"))
    if not (path / "bible.en.txt").is_file():
        raise UdmError(f"fixture corpora not found in {path}; run from a udm checkout or set {FIXTURES_ENV}=DIR")
    return path


# pair name -> (source corpus, source lang, target corpus, target lang, lexicon prefix)
PAIRS = {
    "en-cipher": ("bible.en.txt", "en", "cipher.code.txt", "en", "cipher"),
    "en-es": ("bible.en.txt", "en", "bible.es.txt", "es", "en-es"),
    "en-fr": ("bible.en.txt", "en", "bible.fr.txt", "fr", "en-fr"),
}
DEFAULT_PAIRS = ("en-cipher", "en-es")
DEFAULT_METHODS = ("procrustes", "selflearn", "gw", "wp")


def _train(corpus: Path, lang: str, out: Path, quick: bool, progress: bool) -> Embeddings:
    """Train (or reuse, when corpus and settings are unchanged) vectors for one side."""
    from .train import train_embeddings

    # the fixture corpora are small (~180k tokens): more epochs than word2vec's default 5 are needed;
    # one training thread makes the vectors, hence the whole table, reproducible run to run
    params = dict(dim=100, epochs=5 if quick else 15, window=5, negative=5, min_count=3, seed=0, threads=1)
    cached = out / "vectors" / f"{corpus.stem}.{'quick' if quick else 'full'}.npz"
    stamp = cached.with_suffix(".json")
    key = {"corpus": str(corpus), "size": corpus.stat().st_size, "lang": lang, **params}
    if cached.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        return Embeddings.load(cached)
    emb = train_embeddings(corpus, lang=lang, progress=progress, **params)
    emb.save(cached)
    with atomic_open(stamp) as fh:
        json.dump(key, fh)
    return emb


def _run_method(name: str, src: Embeddings, tgt: Embeddings, train_lex: Lexicon, test_lex: Lexicon,
                quick: bool, progress: bool) -> dict:
    """Fit one aligner and evaluate it; errors are recorded in the row, never raised."""
    row: dict = {"method": name}
    try:
        cls = aligner_class(name)
        params: dict = {"progress": progress, "seed": 0}
        if cls.needs_dictionary:
            params["refine_iters"] = 5
        else:
            params["time_budget"] = 20 if quick else 45
        t0 = time.perf_counter()
        mapping = cls(**params).fit(src, tgt, train_lex if cls.needs_dictionary else None)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        report = evaluate_mapping(mapping, src, tgt, test_lex)
        row.update(supervision="train lexicon" if cls.needs_dictionary else "none",
                   p1_nn=report.get("nn", 1), p1_csls=report.get("csls", 1), p5_csls=report.get("csls", 5),
                   p10_csls=report.get("csls", 10), criterion=mapping.meta.get("criterion"),
                   failed=mapping.failed, coverage=str(report.coverage))
    except UdmError as exc:
        row["error"] = str(exc)
    except Exception as exc:  # a broken method is recorded, the demo goes on
        row.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    return row


def run_demo(out: str = "out/demo", *, quick: bool = False, progress: bool = True,
             methods: Optional[str] = None, pairs: Optional[str] = None) -> int:
    """Train, align and evaluate on the fixtures; print a table, write ``bli.md``/``bli.json`` to ``out``."""
    fx = fixtures_dir()
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    wanted_pairs = [p.strip() for p in pairs.split(",")] if pairs else list(DEFAULT_PAIRS)
    for p in wanted_pairs:
        if p not in PAIRS:
            raise UdmError(f"unknown demo pair {p!r}; choose from {', '.join(PAIRS)}")
    wanted = [m.strip() for m in methods.split(",")] if methods else list(DEFAULT_METHODS)
    for m in wanted:
        aligner_class(m)  # fail early on a misspelt method
    started = time.perf_counter()
    results = []
    for n, pair in enumerate(wanted_pairs, 1):
        src_file, src_lang, tgt_file, tgt_lang, lex = PAIRS[pair]
        print(f"[{n}/{len(wanted_pairs)}] {pair}: training vectors separately on {src_file} and {tgt_file} ...", flush=True)
        src = _train(fx / src_file, src_lang, outdir, quick, progress)
        tgt = _train(fx / tgt_file, tgt_lang, outdir, quick, progress)
        train_lex, test_lex = Lexicon.load(fx / f"{lex}.train.txt"), Lexicon.load(fx / f"{lex}.test.txt")
        info = {"pair": pair, "src_words": len(src), "tgt_words": len(tgt), "dim": src.dim,
                "coverage": str(test_lex.coverage(src, tgt)), "rows": []}
        for name in wanted:
            row = _run_method(name, src, tgt, train_lex, test_lex, quick, progress)
            info["rows"].append(row)
            status = row.get("error") or (f"P@1 (CSLS) {100 * row['p1_csls']:.1f}%"
                                          f"{' [reported FAILED]' if row['failed'] else ''} in {row['seconds']} s")
            print(f"      {name}: {status}", flush=True)
        results.append(info)
    table = _markdown(results, quick, time.perf_counter() - started)
    with atomic_open(outdir / "bli.md") as fh:
        fh.write(table)
    with atomic_open(outdir / "bli.json") as fh:
        json.dump({"quick": quick, "pairs": results}, fh, indent=2, default=str)
    print("\n" + table)
    print(f"written to {outdir / 'bli.md'} and {outdir / 'bli.json'}")
    return 0 if any("error" not in r for info in results for r in info["rows"]) else 1


def _markdown(results: list[dict], quick: bool, seconds: float) -> str:
    lines = ["# udm demo: BLI on the shipped Bible fixtures (vectors trained separately per side)", "",
             f"Command: `udm demo{' --quick' if quick else ''}`; total {seconds:.0f} s. "
             "`en-cipher` is the control (the same English text with every word replaced by a code word): "
             "distribution matching must recover it. `/ sup.` = P@1 divided by the supervised Procrustes P@1.", "",
             "| pair | method | supervision | P@1 NN | P@1 CSLS | P@5 CSLS | P@10 CSLS | / sup. | criterion | status | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for info in results:
        sup = next((r["p1_csls"] for r in info["rows"] if r["method"] == "procrustes" and "p1_csls" in r), None)
        for r in info["rows"]:
            if "error" in r:
                lines.append(f"| {info['pair']} | {r['method']} | | | | | | | | error: {r['error'][:80]} | |")
                continue
            ratio = f"{r['p1_csls'] / sup:.2f}" if sup else "-"
            crit = f"{r['criterion']:.3f}" if r.get("criterion") is not None else "-"
            lines.append(f"| {info['pair']} | {r['method']} | {r['supervision']} | {100 * r['p1_nn']:.1f} | "
                         f"{100 * r['p1_csls']:.1f} | {100 * r['p5_csls']:.1f} | {100 * r['p10_csls']:.1f} | {ratio} | "
                         f"{crit} | {'FAILED' if r['failed'] else ('-' if r['supervision'] != 'none' else 'ok')} | {r['seconds']} |")
    lines.append("")
    lines += [f"- {i['pair']}: {i['src_words']} / {i['tgt_words']} words, dim {i['dim']}; test {i['coverage']}" for i in results]
    return "\n".join(lines) + "\n"


__all__ = ["run_demo", "fixtures_dir", "PAIRS"]
