"""How far each run's map sends identically spelled words to themselves, against its P@1 and failure flag.

A dictionary-free second opinion for the failure check: on two Latin-script vocabularies a right map translates
many shared names, numbers and loanwords to themselves, a wrong one almost none (chance is 1 / vocabulary).
This scores the mapping of every run of the given studies whose cell is still in the local cache (the cache is
not committed: a fresh checkout reruns the studies first) with ``udm.criteria.orthographic_agreement``::

    python experiments/orthographic_probe.py --study experiments/results/bli_half_balanced_enes.json ... \
        --name orthographic_probe     # -> experiments/results/orthographic_probe.md and .json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bli_core import SUCCESS_P1, SUPERVISED_CELLS, write_report  # noqa: E402
from probe_common import find_cached  # noqa: E402

from udm import Embeddings  # noqa: E402
from udm.aligners.unsupervised import UnsupervisedAligner  # noqa: E402
from udm.criteria import orthographic_agreement  # noqa: E402
from udm.mapping import Mapping  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "experiments" / "cache"


def study_runs(path: Path) -> list[dict]:
    """The scored cells of one study JSON with the vector files and mapping they need."""
    study = json.loads(path.read_text(encoding="utf-8"))
    max_vocab = int(((study.get("meta") or {}).get("params") or {}).get("max_vocab") or 20000)
    runs = []
    for st in study.get("settings", []):
        vec = st.get("vectors") or {}
        if "src" not in vec or "tgt" not in vec:
            continue
        for c in st.get("cells", []):
            if c.get("status") != "ok" or not c.get("cell") or c.get("p1") is None:
                continue
            m = c.get("meta") or {}
            runs.append({"study": path.stem, "pair": st["pair"], "regime": st["regime"], "fraction": st["fraction"],
                         "method": c["method"], "seed": c.get("seed"), "seed_n": c.get("seed_n"), "p1": c["p1"],
                         "flagged": bool(c.get("aligner_failed") or m.get("failed")),
                         "unsupervised": c.get("seed_n") is None and c["method"] not in SUPERVISED_CELLS,
                         "sl_null_share": m.get("criterion_sl_null_share"), "cell": c["cell"], "max_vocab": max_vocab,
                         "src": vec["src"]["path"], "tgt": vec["tgt"]["path"],
                         "vectors": f"{vec['src']['key'][:8]}/{vec['tgt']['key'][:8]}"})
    return runs


def score(runs: list[dict], cache: Path = CACHE) -> list[dict]:
    """Each run's orthographic agreement (None where its mapping or vectors are not in the cache)."""
    spaces: dict[tuple[str, int], Embeddings] = {}

    def space(path: str, sub: str, n: int) -> Embeddings:
        key = (path, n)
        if key not in spaces:
            spaces[key] = Embeddings.load(find_cached(path, cache, sub)).top(n)
        return spaces[key]

    for r in runs:
        mapping_file = cache / "cells" / f"{r['cell']}.mapping.npz"
        src_file, tgt_file = find_cached(r["src"], cache, "vectors"), find_cached(r["tgt"], cache, "vectors")
        if not (mapping_file.is_file() and src_file.is_file() and tgt_file.is_file()):
            r["agreement"], r["identical_words"] = None, None
            continue
        src, tgt = space(r["src"], "vectors", r["max_vocab"]), space(r["tgt"], "vectors", r["max_vocab"])
        mapping = Mapping.load(mapping_file)
        r["agreement"], r["identical_words"] = orthographic_agreement(
            mapping.transform(src.vectors), mapping.prepare_target(tgt.vectors), src, tgt)
    return runs


def markdown(runs: list[dict], threshold: float, command: str, seconds: float) -> str:
    scored = [r for r in runs if r["agreement"] is not None]
    L = ["# Orthographic agreement of the studies' maps against their outcome", "",
         f"- command: `{command}`", f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({seconds:.0f} s)",
         "- agreement = share of the words spelled identically in both top-20k vocabularies whose CSLS translation "
         "under the run's map (the mapping the study saved) is the same word (`udm.criteria.orthographic_agreement`); "
         f"success = P@1 > {100 * SUCCESS_P1:.0f}%; `rule` = agreement >= {threshold} "
         "(`UnsupervisedAligner.orthographic_min`); `flag` = the aligner's own failure flag when the run was made.",
         f"- {len(scored)} of {len(runs)} runs scored (the others' mappings or vectors are not in this checkout's cache).", "",
         "| study | pair | regime | vectors | method | seed | seed pairs | P@1 % | identical words | agreement | rule | flag |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in scored:
        rule = "pass" if r["agreement"] >= threshold else "fail"
        flag = "failed" if r["flagged"] else "ok" if r["unsupervised"] else "-"
        L.append(f"| {r['study']} | {r['pair']} | {r['regime']} {r['fraction']:g} | {r['vectors']} | {r['method']} | "
                 f"{r['seed']} | {r['seed_n'] if r['seed_n'] is not None else '-'} | {100 * r['p1']:.1f} | "
                 f"{r['identical_words']} | {r['agreement']:.3f} | {rule} | {flag} |")
    L += ["", "## Unsupervised runs: outcome against the two checks", ""]
    uns = [r for r in scored if r["unsupervised"]]
    for name, judged in (("aligner flag", lambda r: not r["flagged"]), ("orthographic rule", lambda r: r["agreement"] >= threshold),
                         ("both", lambda r: not r["flagged"] and r["agreement"] >= threshold)):
        right = sum(judged(r) == (r["p1"] > SUCCESS_P1) for r in uns)
        fa = sum(judged(r) and r["p1"] <= SUCCESS_P1 for r in uns)
        fr = sum(not judged(r) and r["p1"] > SUCCESS_P1 for r in uns)
        L.append(f"- {name}: {right}/{len(uns)} right ({fa} false accepts, {fr} false rejects)")
    ok = [r["agreement"] for r in scored if r["p1"] > SUCCESS_P1]
    bad = [r["agreement"] for r in scored if r["p1"] <= SUCCESS_P1]
    if ok and bad:
        L.append(f"- all scored maps (supervised ones too): successes {min(ok):.3f}-{max(ok):.3f}, failures {min(bad):.3f}-{max(bad):.3f}")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="append", required=True, help="a study JSON written by run_bli.py (repeatable)")
    ap.add_argument("--name", default="orthographic_probe")
    ap.add_argument("--cache-dir", default=str(CACHE), help="run_bli's cache (cells/ and vectors/)")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    t0 = time.time()
    runs = []
    for s in args.study:
        path = Path(s)
        if not path.is_file():
            raise SystemExit(f"error: {path}: no such study file")
        runs += study_runs(path)
    runs = score(runs, Path(args.cache_dir))
    threshold = UnsupervisedAligner.orthographic_min
    shown = [Path(s).resolve().relative_to(ROOT) if Path(s).resolve().is_relative_to(ROOT) else s for s in args.study]
    command = "python experiments/orthographic_probe.py " + " ".join(f"--study {s}" for s in shown) + f" --name {args.name}"
    write_report(Path(args.out_dir), args.name, {"threshold": threshold, "runs": runs},
                 markdown(runs, threshold, command, time.time() - t0))
    print(f"{sum(r['agreement'] is not None for r in runs)} of {len(runs)} runs scored -> {Path(args.out_dir) / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
