"""Benchmark of the unsupervised aligners (gw, wp; optionally selflearn / adversarial / auto) on real fixtures.

(a) cipher control: the English Bible fixture and its word-ciphered copy, vectors trained separately with identical
    settings (udm.train.train_embeddings), unsupervised P@1 (CSLS) on the exact cipher test dictionary;
(b) Bible en-es / en-fr (shared documents): unsupervised P@1 vs supervised Procrustes + refinement (train lexicon)
    on the same vectors, over several seeds;
(c) wall time of one alignment of two 20k-word, 300-d vocabularies (synthetic: a structured cloud and a rotated,
    noisy copy with perturbed frequency ranks);
plus the dictionary-free criteria (MUSE, Sinkhorn divergence, GW distortion) of the supervised map vs random maps.

    python experiments/bench_align.py [--seeds 10] [--methods gw,wp] [--others] [--skip-timing]

Writes experiments/results/align_bench.{md,json} (command, data, commit, machine, date).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from bli_core import script_command
from udm.aligners import aligner_class
from udm.aligners.supervised import ProcrustesAligner
from udm.atomic import atomic_open
from udm.criteria import gw_criterion, muse_criterion, random_orthogonal, sinkhorn_criterion
from udm.embeddings import Embeddings
from udm.errors import UdmError
from udm.evaluate import evaluate_mapping
from udm.lexicon import Lexicon
from udm.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "corpora" / "fixtures"
OTHERS = ("selflearn", "adversarial", "auto")


def embeddings(corpus: str, args) -> tuple[Embeddings, str]:
    """Vectors for a fixture corpus (cached); udm's trainer, gensim only if udm.train is missing."""
    cache = Path(args.cache) / f"{corpus}.d{args.dim}.e{args.epochs}.s{args.train_seed}.npz"
    try:
        from udm.train import train_embeddings
        trainer = "udm.train.train_embeddings"
    except ImportError:  # pragma: no cover
        train_embeddings = None
        trainer = "gensim Word2Vec skip-gram"
    if cache.exists():
        return Embeddings.load(cache), trainer
    cache.parent.mkdir(parents=True, exist_ok=True)
    path = FIX / f"{corpus}.txt"
    if train_embeddings is not None:
        emb = train_embeddings(path, lang="xx", dim=args.dim, window=5, negative=5, min_count=args.min_count,
                               epochs=args.epochs, threads=args.threads, seed=args.train_seed, progress=False)
    else:
        from gensim.models import Word2Vec
        sents = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
        m = Word2Vec(sents, vector_size=args.dim, window=5, negative=5, min_count=args.min_count, sg=1,
                     epochs=args.epochs, workers=1, seed=args.train_seed)
        emb = Embeddings(list(m.wv.index_to_key), m.wv.vectors)
    emb.save(cache)
    return emb, trainer


def run_method(name: str, seed: int, src: Embeddings, tgt: Embeddings, test: Lexicon, params: dict) -> dict:
    """Fit one unsupervised aligner and evaluate it; errors are recorded, not raised."""
    t0 = time.perf_counter()
    try:
        aligner = aligner_class(name)(seed=seed, progress=False, **params.get(name, {}))
        m = aligner.fit(src, tgt)
    except UdmError as exc:
        return {"method": name, "seed": seed, "error": str(exc)}
    rep = evaluate_mapping(m, src, tgt, test)
    meta = m.meta
    return {"method": name, "seed": seed, "p1_csls": rep.get("csls", 1), "p1_nn": rep.get("nn", 1),
            "criterion": meta.get("criterion"), "null": meta.get("criterion_null_mean"),
            "sinkhorn_criterion": meta.get("sinkhorn_criterion"), "failed": bool(meta.get("failed")),
            "chosen": meta.get("chosen"), "init_seconds": meta.get("gw_seconds", meta.get("wp_seconds")),
            "seconds": round(time.perf_counter() - t0, 2)}


def criteria_ranking(src: Embeddings, tgt: Embeddings, train: Lexicon, n_random: int = 3) -> dict:
    """Criteria of the supervised Procrustes map vs random orthogonal maps (higher should be better)."""
    x, y = normalize(src.vectors), normalize(tgt.vectors)
    pairs = train.index_pairs(src, tgt)
    from udm.procrustes import procrustes
    good = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
    rng = np.random.default_rng(0)
    rand = [random_orthogonal(x.shape[1], rng) for _ in range(n_random)]
    out = {}
    for cname, fn in (("muse", lambda a: muse_criterion(a, y)), ("sinkhorn", lambda a: sinkhorn_criterion(a, y)),
                      ("gw", lambda a: gw_criterion(a, y))):
        g = fn(x @ good)
        r = [fn(x @ w) for w in rand]
        out[cname] = {"supervised": round(g, 4), "random_mean": round(float(np.mean(r)), 4),
                      "random_max": round(float(np.max(r)), 4), "ranks_correct_first": bool(g > max(r))}
    return out


def summarise(rows: list[dict]) -> dict:
    """Mean/min/max P@1 and failure count per method."""
    out = {}
    for name in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == name and "p1_csls" in r]
        errs = [r for r in rows if r["method"] == name and "error" in r]
        if not rs:
            out[name] = {"runs": 0, "errors": len(errs), "error": errs[0]["error"] if errs else None}
            continue
        p = np.array([r["p1_csls"] for r in rs])
        out[name] = {"runs": len(rs), "p1_mean": round(float(p.mean()), 4), "p1_std": round(float(p.std()), 4),
                     "p1_min": round(float(p.min()), 4), "p1_max": round(float(p.max()), 4),
                     "failed_flags": int(sum(r["failed"] for r in rs)), "errors": len(errs),
                     "seconds_mean": round(float(np.mean([r["seconds"] for r in rs])), 1)}
    return out


def synthetic_pair(n: int, d: int, seed: int = 0) -> tuple[Embeddings, Embeddings, np.ndarray]:
    """A structured 300-d cloud (clusters, decaying spectrum) and a rotated, noisy copy with perturbed ranks."""
    rng = np.random.default_rng(seed)
    spectrum = (np.arange(1, d + 1) ** -0.6).astype(np.float32)
    centres = rng.standard_normal((200, d)).astype(np.float32) * spectrum
    x = centres[rng.integers(0, 200, n)] + 0.7 * rng.standard_normal((n, d)).astype(np.float32) * spectrum
    q = random_orthogonal(d, rng)
    y = x @ q + 0.05 * float(np.abs(x).mean()) * rng.standard_normal((n, d)).astype(np.float32)
    order = np.argsort(np.arange(n) * np.exp(0.1 * rng.standard_normal(n)))  # frequency ranks perturbed a little
    src = Embeddings([f"s{i}" for i in range(n)], x)
    tgt = Embeddings([f"t{i}" for i in order], y[order])
    gold = np.stack([order, np.arange(n)], axis=1)  # (src row, tgt row)
    return src, tgt, gold


def timing(args, params: dict) -> list[dict]:
    """Wall time (and recovery) of one default alignment of two 20k x 300 vocabularies per method."""
    src, tgt, gold = synthetic_pair(args.timing_words, 300)
    test = Lexicon([(src.words[i], tgt.words[j]) for i, j in gold[:: max(1, len(gold) // 2000)]])
    rows = []
    for name in args.timing_methods.split(","):
        r = run_method(name, 0, src, tgt, test, params)
        r["data"] = f"synthetic {args.timing_words}x300"
        rows.append(r)
        print("timing", r, flush=True)
    return rows


def machine() -> str:
    return (f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"threads={torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, load avg {os.getloadavg()[0]:.1f}")


def markdown(res: dict) -> str:
    lines = ["# Unsupervised alignment benchmark", "", f"- command: `{res['command']}`", f"- commit: {res['commit']}",
             f"- date: {res['date']}", f"- machine: {res['machine']}", f"- embeddings: {res['embeddings']}", ""]
    for ds, d in res["datasets"].items():
        lines += [f"## {ds}", "", f"vocabularies: {d['vocab']}; test pairs: {d['test_pairs']}", ""]
        if "supervised_p1" in d:
            lines += [f"supervised Procrustes + refinement (train lexicon): P@1 (CSLS) = {d['supervised_p1']:.4f}", ""]
        lines += ["| method | runs | P@1 mean | std | min | max | failed flags | errors | s/run |", "|---|---|---|---|---|---|---|---|---|"]
        for m, s in d["summary"].items():
            if s["runs"]:
                lines.append(f"| {m} | {s['runs']} | {s['p1_mean']:.4f} | {s['p1_std']:.4f} | {s['p1_min']:.4f} | "
                             f"{s['p1_max']:.4f} | {s['failed_flags']} | {s['errors']} | {s['seconds_mean']} |")
            else:
                lines.append(f"| {m} | 0 | - | - | - | - | - | {s['errors']} ({s['error']}) | - |")
        if "criteria" in d:
            lines += ["", "criteria of the supervised map vs 3 random orthogonal maps:", "",
                      "| criterion | supervised | random mean | random max | correct ranked first |", "|---|---|---|---|---|"]
            for c, v in d["criteria"].items():
                lines.append(f"| {c} | {v['supervised']} | {v['random_mean']} | {v['random_max']} | {v['ranks_correct_first']} |")
        lines.append("")
    if res.get("timing"):
        lines += ["## 20k x 300 timing (one alignment, default parameters)", "",
                  "| method | data | seconds | P@1 (recovery) | failed |", "|---|---|---|---|---|"]
        for r in res["timing"]:
            lines.append(f"| {r['method']} | {r.get('data')} | {r.get('seconds')} | {r.get('p1_csls', r.get('error'))} | {r.get('failed')} |")
        lines.append("")
    if res.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="gw,wp")
    ap.add_argument("--others", action="store_true", help="also run selflearn, adversarial and auto when available")
    ap.add_argument("--others-list", default=",".join(OTHERS), help="which of the other methods --others adds")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--cipher-seeds", type=int, default=3)
    ap.add_argument("--gw-seeds", type=int, default=1,
                    help="seeds for gw (with restarts=1 its result does not depend on the seed)")
    ap.add_argument("--others-seeds", type=int, default=None, help="seeds for selflearn/adversarial/auto")
    ap.add_argument("--datasets", default="cipher,en-es,en-fr")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--min-count", type=int, default=3)
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=str(ROOT / "experiments" / "cache" / "align_bench"))
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--timing-words", type=int, default=20000)
    ap.add_argument("--timing-methods", default="gw,wp")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "align_bench"))
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--render", metavar="JSON", help="only re-render a results JSON (with --timing-from: merge timing)")
    ap.add_argument("--timing-from", metavar="JSON", help="take the timing rows from another results JSON")
    args = ap.parse_args()
    if args.render:
        res = json.loads(Path(args.render).read_text())
        if args.timing_from:
            res["timing"] = json.loads(Path(args.timing_from).read_text()).get("timing", [])
            res["notes"] = res.get("notes", []) + [f"timing rows measured by a separate run ({args.timing_from})"]
        write(res, args.out)
        return
    methods = args.methods.split(",")
    if args.others:
        for name in args.others_list.split(","):
            try:
                aligner_class(name)
                methods.append(name)
            except UdmError as exc:
                print(f"skipping {name}: {exc}", flush=True)
    params = {"auto": {"include_adversarial": False}}
    res = {"command": script_command(__file__),
           "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
           "datasets": {}, "notes": args.note, "embeddings": "-"}
    specs = {"cipher": ("bible.en", "cipher.code", None, "cipher.test.txt"),
             "en-es": ("bible.en", "bible.es", "en-es.train.txt", "en-es.test.txt"),
             "en-fr": ("bible.en", "bible.fr", "en-fr.train.txt", "en-fr.test.txt")}
    for ds in filter(None, args.datasets.split(",")):
        s_name, t_name, train_file, test_file = specs[ds]
        src, trainer = embeddings(s_name, args)
        tgt, _ = embeddings(t_name, args)
        res["embeddings"] = (f"{trainer}, dim={args.dim}, window=5, negative=5, min_count={args.min_count}, "
                             f"epochs={args.epochs}, seed={args.train_seed}, threads={args.threads}, identical on both sides")
        test = Lexicon.load(FIX / test_file)
        d = {"vocab": f"{len(src)} / {len(tgt)}", "test_pairs": len(test.index_pairs(src, tgt))}
        train = Lexicon.load(FIX / (train_file or "cipher.train.txt"))
        sup = ProcrustesAligner(refine_iters=5, progress=False).fit(src, tgt, train)
        d["supervised_p1"] = evaluate_mapping(sup, src, tgt, test).get("csls", 1)
        d["criteria"] = criteria_ranking(src, tgt, train)
        base_seeds = args.cipher_seeds if ds == "cipher" else args.seeds
        rows = []
        for name in methods:
            n_seeds = base_seeds
            if name == "gw":
                n_seeds = min(base_seeds, args.gw_seeds)
            elif name in OTHERS and args.others_seeds is not None:
                n_seeds = min(base_seeds, args.others_seeds)
            for seed in range(n_seeds):
                r = run_method(name, seed, src, tgt, test, params)
                print(ds, r, flush=True)
                rows.append(r)
        d["runs"] = rows
        d["summary"] = summarise(rows)
        res["datasets"][ds] = d
        write(res, args.out)
    if not args.skip_timing:
        res["timing"] = timing(args, params)
    write(res, args.out)


def write(res: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out + ".json", "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    with atomic_open(out + ".md", "w") as fh:
        fh.write(markdown(res))


if __name__ == "__main__":
    main()
