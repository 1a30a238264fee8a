"""Shared set-up of the single-pair probes (``gw_landscape.py``, ``final_step_probe.py``): their common options,
loading one pair of vector files with its train/test split, CSLS P@1 of a map, and the report's provenance header.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bli_core import script_command, write_report  # noqa: E402
from udm import Embeddings, Lexicon, evaluate_mapping, get_aligner  # noqa: E402
from udm.aligners.supervised import ProcrustesAligner  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.mapping import Mapping  # noqa: E402
from udm.normalize import normalize  # noqa: E402


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard overlap of two index-pair dictionaries."""
    sa, sb = set(map(tuple, a.tolist())), set(map(tuple, b.tolist()))
    return len(sa & sb) / max(1, len(sa | sb))


def add_pair_args(ap: argparse.ArgumentParser, name: str) -> None:
    """The options every probe takes: the two vector files, the split prefix, vocabulary, refinement, seed, output."""
    ap.add_argument("--src", required=True)
    ap.add_argument("--tgt", required=True)
    ap.add_argument("--lexicon", required=True, help="prefix of <prefix>.train.txt / <prefix>.test.txt")
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default=name)
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))


@dataclass
class PairData:
    """One pair's top-``max_vocab`` embeddings, train/test lexicons, and their matrices normalised as ``gw`` does."""

    src: Embeddings
    tgt: Embeddings
    train: Lexicon
    test: Lexicon
    spec: str
    x: np.ndarray
    y: np.ndarray

    def p1(self, w: np.ndarray) -> float:
        """CSLS P@1 of the map ``w`` (acting on the normalised source) on the test lexicon."""
        return evaluate_mapping(Mapping(w, self.spec, self.spec, {}), self.src, self.tgt, self.test).get("csls", 1)


def load_pair(args: argparse.Namespace) -> PairData:
    """The pair named by ``--src/--tgt/--lexicon``; a missing or malformed input exits with one line."""
    try:
        src = Embeddings.load(args.src).top(args.max_vocab)
        tgt = Embeddings.load(args.tgt).top(args.max_vocab)
        train, test = Lexicon.load(args.lexicon + ".train.txt"), Lexicon.load(args.lexicon + ".test.txt")
    except UdmError as exc:
        raise SystemExit(f"error: {exc}") from None
    return pair_data(src, tgt, train, test)


def pair_data(src: Embeddings, tgt: Embeddings, train: Lexicon, test: Lexicon) -> PairData:
    """A loaded pair with its matrices normalised as ``gw`` does."""
    spec = get_aligner("gw").normalize
    return PairData(src, tgt, train, test, spec, normalize(src.vectors, spec), normalize(tgt.vectors, spec))


def find_cached(path: str, cache: Path, sub: str) -> Path:
    """A file a study names by absolute path, or the file of the same name under ``<cache>/<sub>`` (the study
    may have run in another checkout or worktree)."""
    p = Path(path)
    return p if p.is_file() else cache / sub / p.name


def read_study(path: str) -> dict:
    """A run_bli study JSON (a ``settings`` list); one line and a non-zero exit when it cannot be read."""
    try:
        study = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: cannot read study {path}: {exc}") from None
    if not isinstance(study, dict) or not isinstance(study.get("settings"), list):
        raise SystemExit(f"error: {path} is not a run_bli study (no settings list)")
    return study


def first_setting(study: dict, path: str, sid: Optional[str] = None) -> dict:
    """The study's setting ``sid`` (default: its first); one line and an exit when it has none such."""
    for s in study["settings"]:
        if sid is None or s.get("id") == sid:
            return s
    raise SystemExit(f"error: {path} has no setting {sid!r}" if sid else f"error: {path} has no settings")


def vector_paths(setting: dict) -> tuple[str, str]:
    """A study setting's two vector files (source, target): they identify the vectors its mappings were fitted on."""
    return setting["vectors"]["src"]["path"], setting["vectors"]["tgt"]["path"]


def vector_names(setting: dict) -> str:
    """The file names of a study setting's two vector sets (the same in any checkout's cache), for keys and reports."""
    return " / ".join(path.rsplit("/", 1)[-1] for path in vector_paths(setting))


def study_vectors(study: dict, setting: dict, cache: Path) -> tuple[Embeddings, Embeddings]:
    """A run_bli setting's source and target vectors (found in ``cache``), its top ``max_vocab`` words as the
    study loaded them."""
    n = study["meta"]["params"]["max_vocab"]
    return tuple(Embeddings.load(find_cached(setting["vectors"][side]["path"], cache, "vectors")).top(n)
                 for side in ("src", "tgt"))


def study_procrustes(params: dict, seed: int = 0, *, final: bool = True) -> ProcrustesAligner:
    """Procrustes configured as a run_bli study's supervised cell (its refinement steps and rank, ``--reweight``);
    ``final=False`` gives plain Procrustes, no refinement and no final map."""
    if not final:
        return ProcrustesAligner(seed=seed, progress=False, refine_iters=0, reweight=False)
    return ProcrustesAligner(seed=seed, progress=False, refine_iters=params["refine_iters"],
                             reweight=bool(params.get("reweight")),
                             **({"refine_rank": params["refine_rank"]} if params.get("refine_rank") else {}))


def gold_translations(lexicon: Lexicon) -> dict[str, set[str]]:
    """Each source word's gold translations (to count a coupling's or dictionary's correct pairs)."""
    gold: dict[str, set[str]] = {}
    for a, b in lexicon.pairs:
        gold.setdefault(a, set()).add(b)
    return gold


def count_correct(pairs, gold: dict[str, set[str]]) -> int:
    """How many (source, target) word pairs ``gold`` (:func:`gold_translations`) lists: a dictionary's correct pairs."""
    return sum(t in gold.get(s, ()) for s, t in pairs)


def probe_meta(script: str, argv: Optional[list[str]], t_start: float, **extra: Any) -> dict:
    """Provenance of a probe run: command, date, commit, machine, load, wall time (plus ``extra``)."""
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                            text=True).stdout.strip()
    return {"command": script_command(script, argv),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "machine": f"{os.cpu_count()} cores, {platform.platform()}, torch {torch.__version__}",
            "load_average_end": list(os.getloadavg()), "wall_s": time.time() - t_start, **extra}


def run_meta(script: str, argv: Optional[list[str]], t_start: float, args: argparse.Namespace,
             data: Optional[PairData], **extra: Any) -> dict:
    """Provenance of a single-pair probe run: :func:`probe_meta` plus its inputs."""
    return probe_meta(script, argv, t_start, src=args.src, tgt=args.tgt,
                      **({"words": [len(data.src), len(data.tgt)]} if data else {}), **extra)


def log_row(row: dict) -> None:
    """One finished row as a JSON line on stderr (floats rounded to 4 places): progress for long probe runs."""
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), file=sys.stderr, flush=True)


def fmt(v: Any, p: int) -> str:
    """One table cell: ``-`` for None, a float with ``p`` decimals, anything else as text."""
    return "-" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))


def difference_cells(cmp: dict) -> tuple[str, str]:
    """A paired comparison's difference and its 95% CI in P@1 points, as text: ``("+0.35", "-0.70 to +1.41")``."""
    lo, hi = cmp["ci95"]
    return f"{100 * cmp['difference']:+.2f}", f"{100 * lo:+.2f} to {100 * hi:+.2f}"


def write_probe_report(args: argparse.Namespace, meta: dict, rows: list[dict], lines: list[str]) -> None:
    """Write ``<out-dir>/<name>.md`` and ``.json`` (provenance + rows, atomically) and print the Markdown."""
    write_report(Path(args.out_dir), args.name, {"meta": meta, "rows": rows}, "\n".join(lines) + "\n")
    print("\n".join(lines))


def report_header(title: str, script: str, meta: dict) -> list[str]:
    """The first lines of a probe's Markdown report (title, provenance)."""
    return [f"# {title}\n", f"Written by `experiments/{script}`; nothing edited by hand.\n",
            f"- command: `{meta['command']}`", f"- date: {meta['date']}; commit `{meta['commit']}`",
            f"- machine: {meta['machine']}; load average at end {meta['load_average_end'][0]:.1f}; wall {meta['wall_s']:.0f} s"]
