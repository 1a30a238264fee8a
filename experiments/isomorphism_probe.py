"""How isomorphic are two vector spaces, measured on the gold lexicon, next to whether matching found the map?

For each ``run_bli.py`` study JSON given (one setting each: a vector pair and its CSLS P@1 for supervised
Procrustes and the unsupervised methods), takes one gold translation per source word (the first gold target
not already used, source words in frequency order) among the ``--top`` most frequent words of each side, keeps
the ``--pairs`` most frequent such pairs, normalises both sides as ``gw`` does and reports three standard
measures of how alike the two spaces' geometries are (they use the gold lexicon: analysis, not a criterion):

* ``relational``: Pearson correlation between the pairs' source cosines and their target cosines, over all
  pairs of pairs (relational similarity, Vulic et al. 2020);
* ``knn``: mean Jaccard overlap of each pair's ``--k`` nearest neighbours among the pairs, source side against
  target side (the neighbourhood view of isomorphism, Sogaard et al. 2018);
* ``fit``: mean cosine of the gold pairs after the orthogonal Procrustes map fitted on them (in sample: how
  much of the pairing one rotation can explain);
* ``start_order``: Spearman correlation of the gold pairs' projections on each side's mean over its top
  ``--coarse`` normalised words. gw's deterministic start is the independent coupling, whose linearised cost is
  rank one, ``-2 (x . mean_x)(y . mean_y)``: its first step matches words by these projections, so this is how
  right that first step is;
* ``freq_rank``: Spearman correlation of the gold pairs' frequency ranks on the two sides (do the two corpora
  rank the same concepts alike? two corpora mixing their domains in different proportions do not);
* ``spectral`` (no lexicon): mean absolute difference of the log singular values of the two sides' top-``--top``
  normalised matrices, the input gw sees (lower = more alike; the spectral view of Dubossarsky et al. 2020).

Written for the line-order controls: the same texts in other source orders give vectors on which gw finds the
en-de map or not; is that a difference in how isomorphic the two trainings are? ::

    python experiments/isomorphism_probe.py --lexicon 'experiments/cache/lexicons/{pair}.txt' \\
        --study experiments/results/bli_none_ende_order_built.json \\
        --study experiments/results/bli_none_ende_order_reversed.json --name isomorphism_ende_orders
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bli_core import SUCCESS_P1, spearman  # noqa: E402
from probe_common import ROOT, find_cached, fmt, log_row, probe_meta, report_header, write_probe_report  # noqa: E402

from udm import Embeddings, Lexicon, get_aligner  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.normalize import normalize  # noqa: E402
from udm.procrustes import procrustes  # noqa: E402


def one_to_one_pairs(lexicon: Lexicon, src: Embeddings, tgt: Embeddings, top: int, n_pairs: int) -> np.ndarray:
    """Index pairs (source rank, target rank) of gold translations within the top ``top`` words of each side:
    source words in frequency order, each given its first gold target not used yet; the ``n_pairs`` first."""
    s_index = {w: i for i, w in enumerate(src.words[:top])}
    t_index = {w: i for i, w in enumerate(tgt.words[:top])}
    golds: dict[int, list[int]] = {}
    for s, t in lexicon.pairs:
        if s in s_index and t in t_index:
            golds.setdefault(s_index[s], []).append(t_index[t])
    used: set[int] = set()
    out = []
    for i in sorted(golds):
        j = next((j for j in golds[i] if j not in used), None)
        if j is not None:
            used.add(j)
            out.append((i, j))
        if len(out) == n_pairs:
            break
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def isomorphism(xs: np.ndarray, ys: np.ndarray, k: int) -> dict[str, float]:
    """Relational similarity, k-NN overlap and in-sample Procrustes fit of row-aligned, unit-normalised pairs."""
    cx, cy = xs @ xs.T, ys @ ys.T
    iu = np.triu_indices(len(xs), 1)
    relational = float(np.corrcoef(cx[iu], cy[iu])[0, 1])
    np.fill_diagonal(cx, -np.inf)
    np.fill_diagonal(cy, -np.inf)
    nx = np.argpartition(-cx, k, axis=1)[:, :k]
    ny = np.argpartition(-cy, k, axis=1)[:, :k]
    knn = float(np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(nx, ny)]))
    w = procrustes(xs, ys)
    mapped = xs @ w
    fit = float(np.mean(np.sum(mapped * ys, axis=1) / (np.linalg.norm(mapped, axis=1) * np.linalg.norm(ys, axis=1))))
    return {"relational": relational, "knn": knn, "fit": fit}


def spectral_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Mean |log s_x - log s_y| over the singular values of two matrices of the same shape (0 = same spectrum)."""
    sx = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    sy = np.linalg.svd(y.astype(np.float64), compute_uv=False)
    return float(np.mean(np.abs(np.log(sx) - np.log(sy))))


def study_row(study: Path, args: argparse.Namespace, spec: str, lexicons: dict[str, Lexicon]) -> dict:
    """One study's first setting: its P@1s and the isomorphism of its vector pair (``lexicons``: loaded per path)."""
    setting = json.loads(study.read_text())["settings"][0]
    lex_path = args.lexicon.replace("{pair}", setting["pair"])
    if lex_path not in lexicons:
        lexicons[lex_path] = Lexicon.load(lex_path)
    lexicon = lexicons[lex_path]
    p1 = {}
    for cell in sorted(setting["cells"], key=lambda c: c.get("seed", 0)):  # each method's lowest seed
        if cell.get("status") == "ok":
            p1.setdefault(cell["method"], cell["p1"])
    cache = ROOT / "experiments" / "cache"
    src_path, tgt_path = (find_cached(setting["vectors"][side]["path"], cache, "vectors") for side in ("src", "tgt"))
    src = Embeddings.load(src_path).top(args.max_vocab)
    tgt = Embeddings.load(tgt_path).top(args.max_vocab)
    pairs = one_to_one_pairs(lexicon, src, tgt, args.top, args.pairs)
    if len(pairs) < 2 * args.k:
        raise SystemExit(f"{study.name}: only {len(pairs)} gold pairs in the top {args.top} words; need {2 * args.k}")
    x, y = normalize(src.vectors, spec), normalize(tgt.vectors, spec)
    row = {"study": study.stem, "pair": setting["pair"], "src": src_path.name, "tgt": tgt_path.name,
           "pairs": int(len(pairs)),
           "procrustes": p1.get("procrustes"), "gw": p1.get("gw"), "wp": p1.get("wp")}
    row.update(isomorphism(x[pairs[:, 0]], y[pairs[:, 1]], args.k))
    m = min(args.coarse, len(x), len(y))
    row["freq_rank"] = spearman(pairs[:, 0].astype(float), pairs[:, 1].astype(float))
    row["start_order"] = spearman(x[pairs[:, 0]] @ x[:m].mean(0), y[pairs[:, 1]] @ y[:m].mean(0))
    n = min(args.top, len(x), len(y))
    row["spectral"] = spectral_distance(x[:n], y[:n])
    return row


def separation(rows: list[dict], key: str) -> list[str]:
    """Per pair, the measure's range over the studies where gw found the map and where it did not."""
    rng = lambda v: f"{min(v):.4f}-{max(v):.4f} ({len(v)})" if v else "none"  # noqa: E731
    out = []
    for pair in dict.fromkeys(r["pair"] for r in rows):
        mine = [r for r in rows if r["pair"] == pair and r["gw"] is not None]
        ok = [r[key] for r in mine if r["gw"] > SUCCESS_P1]
        bad = [r[key] for r in mine if r["gw"] <= SUCCESS_P1]
        out.append(f"| {key} | {pair} | {rng(ok)} | {rng(bad)} |")
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", action="append", required=True, help="a run_bli.py results JSON (repeatable)")
    ap.add_argument("--lexicon", required=True,
                    help="the whole gold lexicon (MUSE format); {pair} in it is replaced by each study's pair")
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--top", type=int, default=5000, help="gold pairs among this many most frequent words a side")
    ap.add_argument("--pairs", type=int, default=2000, help="the most frequent one-to-one gold pairs used")
    ap.add_argument("--k", type=int, default=10, help="neighbours for the k-NN overlap")
    ap.add_argument("--coarse", type=int, default=2000, help="words whose mean gives start_order (gw's coarse stage)")
    ap.add_argument("--name", default="isomorphism")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    t_start = time.time()
    try:
        spec = get_aligner("gw").normalize
        rows: list[dict] = []
        lexicons: dict[str, Lexicon] = {}
        for study in args.study:
            rows.append(study_row(Path(study), args, spec, lexicons))
            log_row(rows[-1])
    except (UdmError, OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    meta = probe_meta("isomorphism_probe.py", argv, t_start, lexicon=args.lexicon, top=args.top,
                      pairs=args.pairs, k=args.k, coarse=args.coarse, normalize=spec)
    lines = report_header("Isomorphism of the vector pairs, next to what matching found", "isomorphism_probe.py", meta)
    lines += [f"- gold pairs: one-to-one, among the top {args.top} words a side, the {args.pairs} most frequent "
              f"source words; normalisation `{spec}`; k = {args.k}",
              "- P@1: CSLS, from each study's cells (each method's lowest seed); `relational` = Pearson r of the pairs' cosines across "
              "the two sides; `knn` = mean Jaccard of the k nearest neighbours; `fit` = mean cosine after the "
              "orthogonal Procrustes map fitted on the same pairs (in sample); `freq_rank` = Spearman of the pairs' "
              "frequency ranks on the two sides; `start_order` = Spearman of the "
              f"pairs' projections on each side's mean over its top {args.coarse} words (what gw's first step "
              "matches by); `spectral` = mean |difference| of "
              f"the log singular values of the top {args.top} normalised words (no lexicon; lower = more alike)\n",
              "| study | pair | vectors (src / tgt) | pairs | supervised P@1 | gw P@1 | wp P@1 | relational | knn | fit "
              "| freq_rank | start_order | spectral |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['study']} | {r['pair']} | {r['src']} / {r['tgt']} | {r['pairs']} "
                     f"| {pct(r['procrustes'])} | {pct(r['gw'])} | {pct(r['wp'])} | {fmt(r['relational'], 4)} | {fmt(r['knn'], 4)} "
                     f"| {fmt(r['fit'], 4)} | {fmt(r['freq_rank'], 4)} | {fmt(r['start_order'], 4)} | {fmt(r['spectral'], 4)} |")
    lines += ["", f"Range of each measure where gw found the map (P@1 > {100 * SUCCESS_P1:.0f}%) and where it did not "
              "(number of studies), per pair:\n", "| measure | pair | gw succeeded | gw failed |", "|---|---|---|---|"]
    lines += [line for key in ("relational", "knn", "fit", "freq_rank", "start_order", "spectral") for line in separation(rows, key)]
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
