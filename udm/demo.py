"""``udm demo``: the main job on the data shipped in the repo.

Trains English and Spanish vectors separately on the Bible fixture (same books, never aligned), fits the
supervised baseline on the train lexicon and every unsupervised aligner without it, and prints one BLI table
(P@1/5/10, NN and CSLS, coverage) with the unsupervised/supervised ratio.
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
DEFAULT_UNSUPERVISED = ("selflearn", "gw", "wp", "adversarial")


def fixtures_dir() -> Path:
    """The committed fixture folder (``corpora/fixtures`` of the checkout, or $UDM_FIXTURES)."""
    path = Path(os.environ.get(FIXTURES_ENV, Path(__file__).resolve().parent.parent / "corpora" / "fixtures"))
    if not (path / "bible.en.txt").is_file():
        raise UdmError(f"fixture corpora not found in {path}; run from a udm checkout or set {FIXTURES_ENV}=DIR")
    return path


def _train(corpus: Path, lang: str, out: Path, quick: bool, progress: bool) -> Embeddings:
    from .train import train_embeddings

    params = dict(dim=100 if quick else 300, epochs=3 if quick else 5, window=5, negative=5, min_count=3, seed=0)
    cached = out / f"{lang}.{'quick' if quick else 'full'}.npz"
    stamp = cached.with_suffix(".json")
    key = {"corpus": str(corpus), "size": corpus.stat().st_size, **params}
    if cached.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        return Embeddings.load(cached)
    emb = train_embeddings(corpus, lang=lang, progress=progress, **params)
    emb.save(cached)
    with atomic_open(stamp) as fh:
        json.dump(key, fh)
    return emb


def run_demo(out: str = "out/demo", *, quick: bool = False, progress: bool = True,
             methods: Optional[str] = None, pair: str = "en-es") -> int:
    """Train, align and evaluate on the fixture; write ``bli.md``/``bli.json`` to ``out``. Returns an exit code."""
    fx = fixtures_dir()
    src_lang, tgt_lang = pair.split("-")
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    print(f"[1/3] training {src_lang} and {tgt_lang} vectors separately on {fx} ...", flush=True)
    src = _train(fx / f"bible.{src_lang}.txt", src_lang, outdir, quick, progress)
    tgt = _train(fx / f"bible.{tgt_lang}.txt", tgt_lang, outdir, quick, progress)
    train_lex = Lexicon.load(fx / f"{pair}.train.txt")
    test_lex = Lexicon.load(fx / f"{pair}.test.txt")
    print(f"      {src_lang}: {len(src)} words, {tgt_lang}: {len(tgt)} words, dim {src.dim}", flush=True)

    wanted = [m.strip() for m in methods.split(",")] if methods else ["procrustes", *DEFAULT_UNSUPERVISED]
    rows = []
    print(f"[2/3] aligning with {', '.join(wanted)} ...", flush=True)
    for name in wanted:
        row = {"method": name}
        try:
            cls = aligner_class(name)
            params = {"progress": progress, "seed": 0}
            if cls.needs_dictionary:
                params["refine_iters"] = 5
            else:
                params["time_budget"] = 60 if quick else 120
            t0 = time.perf_counter()
            mapping = cls(**params).fit(src, tgt, train_lex if cls.needs_dictionary else None)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            report = evaluate_mapping(mapping, src, tgt, test_lex)
            row.update(supervision="train lexicon" if cls.needs_dictionary else "none",
                       p1_nn=report.get("nn", 1), p1_csls=report.get("csls", 1), p5_csls=report.get("csls", 5),
                       p10_csls=report.get("csls", 10), criterion=mapping.meta.get("criterion"),
                       failed=mapping.failed, coverage=str(report.coverage))
            mapping.save(outdir / f"mapping.{name}.npz")
        except UdmError as exc:
            row.update(error=str(exc))
        except Exception as exc:  # a broken method is recorded, the demo goes on
            row.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        rows.append(row)
        status = row.get("error") or f"P@1 CSLS {100 * row['p1_csls']:.1f} in {row['seconds']} s"
        print(f"      {name}: {status}", flush=True)

    sup = next((r["p1_csls"] for r in rows if r["method"] == "procrustes" and "p1_csls" in r), None)
    lines = [f"# udm demo: {pair} on the Bible fixture (same books, separately trained vectors)", "",
             f"Vectors: {src_lang} {len(src)} words, {tgt_lang} {len(tgt)} words, dim {src.dim}. "
             f"Test lexicon `{pair}.test.txt`: {test_lex.coverage(src, tgt)}.", "",
             "| method | supervision | P@1 NN | P@1 CSLS | P@5 CSLS | P@10 CSLS | / supervised | criterion | status | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | | | | | | | | error: {r['error'][:80]} | |")
            continue
        ratio = f"{r['p1_csls'] / sup:.2f}" if sup else "-"
        crit = f"{r['criterion']:.3f}" if r.get("criterion") is not None else "-"
        lines.append(f"| {r['method']} | {r['supervision']} | {100 * r['p1_nn']:.1f} | {100 * r['p1_csls']:.1f} | "
                     f"{100 * r['p5_csls']:.1f} | {100 * r['p10_csls']:.1f} | {ratio} | {crit} | "
                     f"{'FAILED' if r['failed'] else 'ok'} | {r['seconds']} |")
    table = "\n".join(lines) + "\n"
    with atomic_open(outdir / "bli.md") as fh:
        fh.write(table)
    with atomic_open(outdir / "bli.json") as fh:
        json.dump({"pair": pair, "quick": quick, "rows": rows}, fh, indent=2, default=str)
    print("[3/3] results\n")
    print(table)
    print(f"written to {outdir / 'bli.md'} and {outdir / 'bli.json'}")
    return 0 if any("error" not in r for r in rows) else 1


__all__ = ["run_demo", "fixtures_dir"]
