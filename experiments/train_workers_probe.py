"""Do hogwild training workers change the vectors? Train one side several ways, align each to a fixed other side.

Each configuration is ``WORKERSxBATCH`` (``udm train --threads WORKERS --batch BATCH``: BATCH centre words in
flight, each worker stepping with BATCH // WORKERS; ``2x512`` reproduces the trainer before the batch was shared,
two workers stepping with 256 each). Per configuration and training seed it records the trainer's words/s and
epoch losses, the mean vector norm by frequency band (a blow-up shows there first) and the CSLS P@1 of supervised
Procrustes + refinement (the study's ``procrustes`` cell, ``run_bli._align_child``) against the other side's
vectors, trained once with one worker (bit-reproducible). A training the trainer stops as diverged is a row
with its error. Finished runs are kept in the JSON and skipped on rerun.

    python experiments/train_workers_probe.py --corpus data/bli/half-en-fr-f1/fr.txt --lang fr \\
        --other-corpus data/bli/half-en-fr-f1/en.txt --other-lang en \\
        --train-lex L.train.txt --test-lex L.test.txt --configs 1x256,2x512,2x256 --seeds 0,2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import run_bli  # noqa: E402  (the study's cell: one definition of "supervised Procrustes + refinement")
from bli_core import script_command  # noqa: E402
from udm.atomic import atomic_open  # noqa: E402
from udm.embeddings import Embeddings  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.train import step_batch, train_embeddings  # noqa: E402

BANDS = ((0, 100), (100, 1000), (1000, 5000), (5000, 20000))
TRAIN = dict(dim=300, window=5, negative=5, min_count=5, epochs=5)  # the study's training settings


def parse_configs(text: str) -> list[tuple[int, int]]:
    """``"1x256,2x512"`` -> [(1, 256), (2, 512)]; ValueError on anything else."""
    out = []
    for part in text.split(","):
        w, b = part.lower().split("x")
        if int(w) < 1 or int(b) < 1:
            raise ValueError(part)
        out.append((int(w), int(b)))
    return out


def band_norms(emb: Embeddings) -> list[float]:
    n = np.linalg.norm(emb.vectors.astype(np.float64), axis=1)
    return [round(float(n[a:b].mean()), 3) for a, b in BANDS if a < len(n)]


def train(corpus: str, lang: str, workers: int, batch: int, seed: int, out: Path) -> dict:
    stats: dict = {}
    t = time.perf_counter()
    emb = train_embeddings(corpus, lang, threads=workers, batch=batch, seed=seed, progress=False, stats=stats, **TRAIN)
    emb.save(out)
    return {"wall_s": round(time.perf_counter() - t, 1), "words_per_s": round(stats["words_per_s"]),
            "step_batch": stats["step_batch"], "workers": stats["workers"],
            "epoch_loss": [round(float(x), 4) for x in stats["epoch_loss"]],
            "norms": band_norms(emb.top(20000)), "sha256": run_bli.file_sha256(out)[:16]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--lang", required=True)
    ap.add_argument("--other-corpus", required=True)
    ap.add_argument("--other-lang", required=True)
    ap.add_argument("--other-is-target", action="store_true", help="the trained side is the source (default: target)")
    ap.add_argument("--train-lex", required=True)
    ap.add_argument("--test-lex", required=True)
    ap.add_argument("--configs", default="1x256,2x512,2x256")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--cache-dir", default=str(ROOT / "experiments" / "cache" / "train_workers"))
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    ap.add_argument("--name", default="train_workers")
    args = ap.parse_args(argv)
    try:
        configs = parse_configs(args.configs)
        seeds = [int(x) for x in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--configs wants WORKERSxBATCH,... with positive numbers (got {args.configs!r}) and --seeds "
                 f"comma-separated integers (got {args.seeds!r})")
    hashes = {k: run_bli.file_sha256(Path(getattr(args, k)))[:16] for k in ("corpus", "train_lex", "test_lex")}
    cache, outdir = Path(args.cache_dir), Path(args.out_dir)
    cache.mkdir(parents=True, exist_ok=True)
    jpath = outdir / f"{args.name}.json"
    done = json.loads(jpath.read_text())["runs"] if jpath.is_file() else []
    cmd = script_command(__file__, argv)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    other = cache / f"{args.other_lang}-{run_bli.file_sha256(Path(args.other_corpus))[:12]}-1x256-seed0.npz"
    if not (cache / f"{other.stem}.json").is_file():  # written after the vectors: the record says they are complete
        print(f"training the fixed {args.other_lang} side (one worker)", flush=True)
        other_rec = train(args.other_corpus, args.other_lang, 1, 256, 0, other)
        write_text(cache / f"{other.stem}.json", json.dumps(other_rec))
    other_rec = json.loads((cache / f"{other.stem}.json").read_text())

    runs = list(done)
    for workers, batch in configs:
        for seed in seeds:
            if any(r["workers"] == workers and r["batch"] == batch and r["seed"] == seed for r in runs):
                continue
            print(f"training {args.lang}: {workers} worker(s), batch {batch}, seed {seed}", flush=True)
            vec = cache / f"{args.lang}-{workers}x{batch}-seed{seed}.npz"
            rec = {"workers": workers, "batch": batch, "seed": seed}
            try:
                rec.update(train(args.corpus, args.lang, workers, batch, seed, vec))
            except UdmError as exc:  # the trainer stops a diverged training (mean loss above an untrained model's)
                rec["error"] = str(exc)
            else:
                rec.update(supervised_p1(vec, other, args))
            print(f"  {rec}", flush=True)
            runs.append(rec)
            write(jpath, outdir / f"{args.name}.md", runs, other_rec, args, cmd, commit, hashes)
    write(jpath, outdir / f"{args.name}.md", runs, other_rec, args, cmd, commit, hashes)


def supervised_p1(vec: Path, other: Path, args) -> dict:
    """CSLS and NN P@1 (%) of the study's supervised Procrustes + refinement cell on ``vec`` and the fixed side."""
    src, tgt = (str(vec), str(other)) if args.other_is_target else (str(other), str(vec))
    spec = {"method": "procrustes", "seed": 0, "refine_iters": 5, "max_vocab": 20000, "src_vec": src,
            "tgt_vec": tgt, "train_lex": args.train_lex, "test_lex": args.test_lex}
    cell = run_bli._align_child(spec)
    return {"sup_csls_p1": round(100 * cell["scores"]["csls"]["p@1"], 1),
            "sup_nn_p1": round(100 * cell["scores"]["nn"]["p@1"], 1)}


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write(jpath: Path, mpath: Path, runs: list[dict], other_rec: dict, args, cmd: str, commit: str,
          hashes: dict[str, str]) -> None:
    meta = {"command": cmd, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
            "corpus": args.corpus, "corpus_sha256": hashes["corpus"],
            "other_corpus": args.other_corpus, "other_side": other_rec,
            "train_lex_sha256": hashes["train_lex"], "test_lex_sha256": hashes["test_lex"], "training": TRAIN}
    write_text(jpath, json.dumps({"meta": meta, "runs": runs}, indent=1))
    L = [f"# Hogwild training workers: {args.lang} vectors trained several ways, aligned to fixed {args.other_lang} vectors\n",
         f"- command: `{cmd}`", f"- commit: `{commit[:12]}`, date {meta['date']}, {meta['machine']['cores']} cores, "
         f"{meta['machine']['platform']}",
         f"- {args.lang} corpus `{args.corpus}` (sha256 {meta['corpus_sha256']}); {args.other_lang} side trained once "
         f"on `{args.other_corpus}` with one worker, batch 256, seed 0 ({other_rec['wall_s']} s, norms by band "
         f"{other_rec['norms']}); lexicons sha256 {meta['train_lex_sha256']} (train) / {meta['test_lex_sha256']} (test)",
         f"- training: skip-gram {TRAIN}; `WxB` = W workers, B centre words in flight, each worker stepping with "
         f"B // W (`2x512` steps like the trainer before the batch was shared: two workers of 256)",
         "- sup. P@1 = supervised Procrustes on the train lexicon + 5 refinement steps, top 20k words, test lexicon "
         "(the study's `procrustes` cell)\n",
         "| workers x batch | step batch | seed | words/s | wall s | epoch losses | mean norm, ranks 1-100 / 100-1k / 1k-5k / 5k-20k | sup. CSLS P@1 | sup. NN P@1 |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["workers"], r["batch"], r["seed"])):
        if "error" in r:
            L.append(f"| {r['workers']}x{r['batch']} | {step_batch(r['batch'], r['workers'])} | {r['seed']} | failed: {r['error']} |  |  |  |  |  |")
            continue
        L.append(f"| {r['workers']}x{r['batch']} | {r['step_batch']} | {r['seed']} | {r['words_per_s']:,} | {r['wall_s']} | "
                 f"{' '.join(f'{x:.4f}' for x in r['epoch_loss'])} | {' / '.join(f'{x:.2f}' for x in r['norms'])} | "
                 f"{r['sup_csls_p1']} | {r['sup_nn_p1']} |")
    write_text(mpath, "\n".join(L) + "\n")


if __name__ == "__main__":
    main()
