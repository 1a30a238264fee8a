"""Which side's vectors decide whether unsupervised matching finds the map? Every source x target combination.

``--normalize`` (repeatable) runs every combination under each normalisation spec (e.g. ``renorm``, iterative
normalisation, or ``unit,center,unit,whiten,unit``) to ask whether a more isometric preprocessing helps.


On en-fr, ``wp`` finds the map on the disjoint halves of the two-language build (10 of 10 seeds) and never on
the shared-documents build (0 of 10; experiments/results/bli_wp_seeds_*.md). The two builds differ on both sides
(corpus sizes, Bible share, test words), so this probe crosses them: it aligns every ``--src`` vector file with
every ``--tgt`` vector file, each combination with its own MUSE-style split of the same gold lexicon (as
``run_bli.py`` makes it), and reports supervised Procrustes + refinement next to each unsupervised method::

    python experiments/cross_vectors_probe.py --lexicon experiments/cache/lexicons/en-fr.txt \\
        --src none=experiments/cache/vectors/en-8f4f....npz --src half=experiments/cache/vectors/en-7db9....npz \\
        --tgt none=experiments/cache/vectors/fr-7e77....npz --tgt half=experiments/cache/vectors/fr-b9a2....npz \\
        --methods wp --name cross_vectors_enfr
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import ROOT, fmt, report_header, run_meta, write_probe_report  # noqa: E402

from udm import Embeddings, Lexicon, evaluate_mapping, get_aligner  # noqa: E402
from udm.corpora.lexicons import read_muse, split_lexicon  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.normalize import DEFAULT_SPEC, parse_spec  # noqa: E402


def named_paths(values: list[str], option: str) -> dict[str, str]:
    """``NAME=PATH`` options as an ordered dict; a malformed one exits with one line."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise SystemExit(f"error: {option} takes NAME=PATH with an existing vector file, got {v!r}")
        out[name] = path
    return out


def train_pair_cosine(mapping, src: Embeddings, tgt: Embeddings, lex: Lexicon) -> float:
    """Mean cosine of the train pairs after a map: how well one linear map fits the two spaces on this pair."""
    idx = lex.index_pairs(src, tgt)
    a = mapping.transform(src.vectors[idx[:, 0]])
    b = mapping.prepare_target(tgt.vectors[idx[:, 1]])
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.sum(a * b, axis=1)))


def run_combination(base: dict, src: Embeddings, tgt: Embeddings, train: Lexicon, test: Lexicon,
                    methods: list[str], spec: str, args: argparse.Namespace) -> list[dict]:
    """Supervised Procrustes + refinement, then each unsupervised method, on one pair with one normalisation."""
    rows = []
    t0 = time.time()
    sup = get_aligner("procrustes", refine_iters=args.refine_iters, normalize=spec, progress=False).fit(src, tgt, train)
    rows.append({**base, "method": "procrustes (train lexicon) + refinement",
                 "p1": evaluate_mapping(sup, src, tgt, test).get("csls", 1), "criterion": None, "failed": False,
                 "seconds": time.time() - t0, "train_cosine": train_pair_cosine(sup, src, tgt, train)})
    print(rows[-1], file=sys.stderr, flush=True)
    for m in methods:
        t0 = time.time()
        mp = get_aligner(m, seed=args.seed, time_budget=args.time_budget, refine_iters=args.refine_iters,
                         normalize=spec, progress=False).fit(src, tgt)
        rows.append({**base, "method": m, "p1": evaluate_mapping(mp, src, tgt, test).get("csls", 1),
                     "criterion": mp.meta.get("criterion"), "failed": bool(mp.failed), "seconds": time.time() - t0,
                     "train_cosine": train_pair_cosine(mp, src, tgt, train)})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", action="append", required=True, help="NAME=PATH of a source vector file (repeat)")
    ap.add_argument("--tgt", action="append", required=True, help="NAME=PATH of a target vector file (repeat)")
    ap.add_argument("--lexicon", required=True, help="the full gold lexicon (MUSE format); split per combination")
    ap.add_argument("--methods", default="wp", help="comma-separated unsupervised methods")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-budget", type=float, default=240.0)
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--test-size", type=int, default=1500)
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--normalize", action="append", default=None,
                    help=f"normalisation spec for every aligner (repeat to compare; default {DEFAULT_SPEC})")
    ap.add_argument("--name", default="cross_vectors")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    srcs, tgts = named_paths(args.src, "--src"), named_paths(args.tgt, "--tgt")
    methods = [m for m in args.methods.split(",") if m]
    specs = args.normalize or [DEFAULT_SPEC]
    try:
        for spec in specs:
            parse_spec(spec)
    except UdmError as exc:
        raise SystemExit(f"error: {exc}") from None

    t_start = time.time()
    try:
        gold = read_muse(args.lexicon)
        loaded_t = {k: Embeddings.load(p).top(args.max_vocab) for k, p in tgts.items()}
    except UdmError as exc:
        raise SystemExit(f"error: {exc}") from None
    rows: list[dict] = []
    for sname, spath in srcs.items():
        try:
            src = Embeddings.load(spath).top(args.max_vocab)
        except UdmError as exc:
            raise SystemExit(f"error: {exc}") from None
        for tname, tgt in loaded_t.items():
            try:  # a lexicon that misses the vocabularies, or an aligner's bad-input error: one line, no report
                train_pairs, test_pairs, info = split_lexicon(gold, src.words, tgt.words, args.test_size, "spread")
                train, test = Lexicon(train_pairs), Lexicon(test_pairs)
                for spec in specs:
                    base = {"src": sname, "tgt": tname, "normalize": spec, "train_pairs": len(train_pairs),
                            "test_pairs": len(test_pairs), "test_words": info.get("test_words")}
                    rows += run_combination(base, src, tgt, train, test, methods, spec, args)
            except UdmError as exc:
                raise SystemExit(f"error: src {sname} x tgt {tname}: {exc}") from None

    meta = run_meta("cross_vectors_probe.py", argv, t_start, args, None, methods=methods, seed=args.seed,
                    time_budget=args.time_budget)
    lines = report_header("Cross-vector probe: every source x target vector file", "cross_vectors_probe.py", meta) + [
        "- vectors: " + "; ".join(f"src {k} = `{v}`" for k, v in srcs.items()) + "; "
        + "; ".join(f"tgt {k} = `{v}`" for k, v in tgts.items()),
        f"- top {args.max_vocab} words per side; each combination gets its own split of `{args.lexicon}` "
        f"({args.test_size} test source words spread over the frequency range, the rest train); P@1 = CSLS P@1 (%) "
        "on that test split; train cosine = mean cosine of the train pairs after the map\n",
        "| src | tgt | normalisation | method | P@1 | flagged failed | criterion | train cosine | train pairs | "
        "test pairs | seconds |",
        "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['src']} | {r['tgt']} | {r['normalize']} | {r['method']} | {fmt(100 * r['p1'], 1)} | "
                     f"{'yes' if r['failed'] else 'no'} | {fmt(r['criterion'], 3)} | {fmt(r['train_cosine'], 3)} | "
                     f"{r['train_pairs']} | {r['test_pairs']} | {fmt(r['seconds'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
