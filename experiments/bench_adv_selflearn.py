"""Benchmark the adversarial and robust self-learning aligners on the fixture corpora.

Vectors are trained per text with ``udm.train.train_embeddings`` (identical settings; the seed differs per
language because the trainer draws initial vectors by frequency rank, so equal seeds would pre-align the
cipher's two spaces under the identity map). Pairs: the cipher control (English Bible -> its ciphered copy,
exact gold) and the Bible en-es / en-fr fixtures (MUSE-derived gold). Each unsupervised method runs for several
seeds; P@1 (CSLS) on the test split is compared to supervised Procrustes + refinement on the train split.

    python experiments/bench_adv_selflearn.py [--seeds 0 1] [--dim 100] [--quick]

Writes experiments/results/adv_selflearn_bench.md and .json (command, data, commit, machine, date).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from bli_core import script_command
from udm.aligners import get_aligner
from udm.atomic import atomic_open
from udm.criteria import muse_criterion
from udm.embeddings import Embeddings
from udm.evaluate import evaluate_mapping
from udm.lexicon import Lexicon

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "corpora" / "fixtures"
RESULTS = ROOT / "experiments" / "results"
CORPORA = {"en": ("bible.en.txt", 0), "es": ("bible.es.txt", 1), "fr": ("bible.fr.txt", 2), "code": ("cipher.code.txt", 3)}
PAIRS = {"cipher": ("en", "code", "cipher"), "en-es": ("en", "es", "en-es"), "en-fr": ("en", "fr", "en-fr")}
TARGETS = {("cipher", "selflearn"): 0.98, ("cipher", "adversarial"): 0.90}


def embeddings(lang: str, args) -> tuple[Embeddings, dict]:
    """Train (or reuse from the cache) the vectors of one fixture text."""
    from udm.train import train_embeddings

    corpus, seed = CORPORA[lang]
    cache = Path(args.cache) / f"{lang}.d{args.dim}.e{args.epochs}.s{seed}.npz"
    info = {"corpus": corpus, "seed": seed, "trainer": "udm.train.train_embeddings", "dim": args.dim,
            "epochs": args.epochs, "min_count": args.min_count, "window": 5, "negative": 5, "threads": 1}
    if cache.is_file():
        emb = Embeddings.load(cache)
        info["train_seconds"] = "cached"
    else:
        t = time.perf_counter()
        emb = train_embeddings(FIX / corpus, lang=lang, dim=args.dim, window=5, negative=5, min_count=args.min_count,
                               epochs=args.epochs, threads=1, seed=seed, progress=False)
        info["train_seconds"] = round(time.perf_counter() - t, 1)
        cache.parent.mkdir(parents=True, exist_ok=True)
        emb.save(cache)
    info["words"] = len(emb)
    return emb, info


def method_params(method: str, args) -> dict:
    if method == "adversarial":
        return dict(restarts=args.restarts, time_budget=args.adv_budget)
    return dict(restarts=1, time_budget=args.sl_budget)


def run_one(method: str, src, tgt, train, test, seed: int, args) -> dict:
    t = time.perf_counter()
    if method == "supervised":
        m = get_aligner("procrustes", refine_iters=5, seed=seed, progress=False).fit(src, tgt, train)
        m.meta["criterion"] = muse_criterion(m.transform(src.vectors), m.prepare_target(tgt.vectors))  # for reference
    else:
        m = get_aligner(method, seed=seed, progress=False, **method_params(method, args)).fit(src, tgt)
    wall = time.perf_counter() - t
    rep = evaluate_mapping(m, src, tgt, test)
    row = {"method": method, "seed": seed, "p1_csls": round(rep.get("csls", 1), 4), "p1_nn": round(rep.get("nn", 1), 4),
           "evaluated": rep.scores[0].n, "wall_s": round(wall, 1), "failed": m.failed,
           "criterion": m.meta.get("criterion")}
    for key in ("adv_samples_per_s", "adv_best_epoch", "adv_stopped_by_time", "sl_iterations", "sl_converged",
                "sl_stopped_by_time", "sl_init_pairs", "criterion_refined_null", "criterion_null_mean"):
        if key in m.meta:
            row[key] = m.meta[key]
    if "restarts" in m.meta:
        row["restart_criteria"] = [round(r["init_criterion"], 4) for r in m.meta["restarts"]]
    return row


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS))
    ap.add_argument("--methods", nargs="+", default=["selflearn", "adversarial"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=3)
    ap.add_argument("--restarts", type=int, default=2, help="adversarial restarts (chosen by the criterion)")
    ap.add_argument("--adv-budget", type=float, default=240.0, help="adversarial time budget per fit, seconds")
    ap.add_argument("--sl-budget", type=float, default=240.0, help="selflearn time budget per fit, seconds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--cache", default="/tmp/udm_adv_selflearn_bench")
    ap.add_argument("--out", default=str(RESULTS / "adv_selflearn_bench"))
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="only combine the .json results of earlier runs (e.g. one process per pair) into --out")
    args = ap.parse_args()
    if args.merge:
        return merge(args)
    torch.set_num_threads(args.threads)
    started = dt.datetime.now(dt.timezone.utc)
    data, rows = {}, []
    for pair in args.pairs:
        s_lang, t_lang, lex = PAIRS[pair]
        src, s_info = embeddings(s_lang, args)
        tgt, t_info = embeddings(t_lang, args)
        train, test = Lexicon.load(FIX / f"{lex}.train.txt"), Lexicon.load(FIX / f"{lex}.test.txt")
        data[pair] = {"source": s_info, "target": t_info, "test_coverage": str(test.coverage(src, tgt)),
                      "train_pairs": len(train)}
        for method in ["supervised"] + args.methods:
            for seed in (args.seeds if method != "supervised" else args.seeds[:1]):
                row = {"pair": pair, **run_one(method, src, tgt, train, test, seed, args)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = []
    for pair in args.pairs:
        sup = [r["p1_csls"] for r in rows if r["pair"] == pair and r["method"] == "supervised"]
        for method in args.methods:
            rs = [r for r in rows if r["pair"] == pair and r["method"] == method]
            p1 = [r["p1_csls"] for r in rs]
            target = TARGETS.get((pair, method))
            summary.append({"pair": pair, "method": method, "p1_mean": round(float(np.mean(p1)), 4),
                            "p1_min": min(p1), "p1_max": max(p1), "supervised_p1": sup[0] if sup else None,
                            "failed_runs": sum(r["failed"] for r in rs), "wall_s_mean": round(float(np.mean([r["wall_s"] for r in rs])), 1),
                            "samples_per_s": round(float(np.mean([r["adv_samples_per_s"] for r in rs])), 0) if method == "adversarial" else None,
                            "target": target, "met": None if target is None else min(p1) >= target})
    result = {"command": script_command(__file__), "commit": git_commit(),
              "date": started.isoformat(timespec="seconds"), "machine": f"{platform.node()} {platform.machine()}, "
              f"{os.cpu_count()} cpus, torch {torch.__version__} ({args.threads} thread(s))",
              "load_average_at_start": os.getloadavg(), "data": data, "summary": summary, "runs": rows}
    write(result, Path(args.out))
    print(markdown(result))


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out.with_suffix(".json"), "w") as fh:
        json.dump(result, fh, indent=1, default=str)
    with atomic_open(out.with_suffix(".md"), "w") as fh:
        fh.write(markdown(result))


def merge(args) -> None:
    """Combine several runs' JSON results (same commit and machine) into one report."""
    parts = [json.loads(Path(p).read_text()) for p in args.merge]
    result = {"command": " ; ".join(p["command"] for p in parts) + "  (run in parallel, then merged with --merge)",
              "commit": ",".join(sorted({p["commit"] for p in parts})), "date": min(p["date"] for p in parts),
              "machine": parts[0]["machine"], "load_average_at_start": parts[0]["load_average_at_start"],
              "data": {k: v for p in parts for k, v in p["data"].items()},
              "summary": [s for p in parts for s in p["summary"]], "runs": [r for p in parts for r in p["runs"]]}
    write(result, Path(args.out))
    print(markdown(result))


def markdown(res: dict) -> str:
    lines = ["# Adversarial and self-learning aligners: fixture benchmark", "",
             f"- command: `{res['command']}`", f"- commit: {res['commit']}", f"- date: {res['date']}",
             f"- machine: {res['machine']}; load average at start {tuple(round(v, 1) for v in res['load_average_at_start'])}"
             " (the machine is shared, wall times are inflated)", ""]
    lines += ["## Data", ""]
    for pair, d in res["data"].items():
        lines.append(f"- {pair}: {d['source']['corpus']} ({d['source']['words']} words, seed {d['source']['seed']}) -> "
                     f"{d['target']['corpus']} ({d['target']['words']} words, seed {d['target']['seed']}); "
                     f"{d['source']['trainer']}, dim {d['source']['dim']}, {d['source']['epochs']} epochs, min_count "
                     f"{d['source']['min_count']}; test {d['test_coverage']}; train {d['train_pairs']} pairs")
    lines += ["", "## Summary (P@1 with CSLS on the test split)", "",
              "| pair | method | P@1 mean | min | max | supervised Procrustes+refine | failed runs | wall s (mean) | samples/s | target | met |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["summary"]:
        lines.append(f"| {s['pair']} | {s['method']} | {s['p1_mean']:.4f} | {s['p1_min']:.4f} | {s['p1_max']:.4f} | "
                     f"{s['supervised_p1']} | {s['failed_runs']} | {s['wall_s_mean']} | {s['samples_per_s'] or ''} | "
                     f"{s['target'] or ''} | {'' if s['met'] is None else ('yes' if s['met'] else 'NO')} |")
    lines += ["", "## Runs", "", "| pair | method | seed | P@1 CSLS | P@1 NN | n | wall s | failed | criterion | notes |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        notes = {k: v for k, v in r.items() if k.startswith(("adv_", "sl_", "restart_", "criterion_"))}
        crit = "" if r["criterion"] is None else f"{r['criterion']:.4f}"
        lines.append(f"| {r['pair']} | {r['method']} | {r['seed']} | {r['p1_csls']:.4f} | {r['p1_nn']:.4f} | "
                     f"{r['evaluated']} | {r['wall_s']} | {r['failed']} | {crit} | {json.dumps(notes)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
