"""The BLI benchmark and study: how close does unsupervised distribution matching come to supervised translation?

One script regenerates every table and plot of experiments/results/bli.{md,json} and bli_*.png:

* settings = language pair x regime (cipher control, shared documents ``none``, disjoint halves ``half``,
  ``disjoint-sources``) x corpus fraction; corpora come from the corpora builder (``udm.corpora.build``),
  vectors from ``udm.train.train_embeddings`` (cached by corpus content hash + training parameters);
* cells = method x seed on one setting: every unsupervised aligner of the registry, supervised Procrustes
  (+ refinement) and RCSLS on the train lexicon, the identical-strings seed, and Procrustes + refinement
  seeded with the N most frequent train pairs (the "worth N labelled pairs" curve, N = 25 ... 5000);
* each cell runs in a forked child (crash isolation, wall time and peak RSS), its JSON result is cached under
  ``experiments/cache/cells/`` so an interrupted study resumes; a failing cell is recorded with its error.

Usage:
    python experiments/run_bli.py --quick                  # committed fixtures, minutes
    python experiments/run_bli.py --pairs en-es,en-fr --regimes none,half --seeds 3 --time-budget 300
    python experiments/run_bli.py ... --plan               # runs nothing: cached cells, cells left, estimated hours
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bli_core import (SUCCESS_P1, SUPERVISED_CELLS, cache_key, curve_sizes, file_sha256, files_sha256,  # noqa: E402
                      format_worth, format_worth_bounds, gap, read_cell, run_in_child, seed_summary, spearman,
                      script_command, vectors_key, worth_n, worth_n_bounds, write_json, write_report)

FIXTURES = ROOT / "corpora" / "fixtures"
UNSUPERVISED = ("gw", "wp", "adversarial", "selflearn", "auto")
SUPERVISED = ("procrustes", "rcsls", "identical", "weak", "curve")
ALL_METHODS = UNSUPERVISED + SUPERVISED
FULL_PAIRS = ("en-es", "en-fr", "en-de", "en-pt", "en-zh", "en-it", "en-ru")
COVERAGE_ONLY_PAIRS = ("en-it", "en-ru")  # run as full rows only if their test lexicon reaches MIN_TEST_WORDS
MIN_TEST_WORDS = 1000
REGIMES = ("cipher", "none", "half", "disjoint-sources")
WEAK_NS = (500, 1000)
TRAIN_CODE = ["udm/train.py", "udm/subwords.py", "udm/tokenize.py"]  # vectors are retrained when these change
# a cell's cache key hashes the code its fit depends on; the scoring code is recorded apart (``eval_code``), so a
# change to scoring alone rescores cached cells from their kept mappings instead of refitting them
FIT_CODE = ["udm/aligners/base.py", "udm/refinement.py", "udm/procrustes.py", "udm/normalize.py",
            "udm/retrieval.py", "udm/lexicon.py", "udm/criteria.py", "udm/reweighting.py", "udm/mapping.py"]
EVAL_CODE = ["udm/evaluate.py"]
METHOD_CODE = {"procrustes": ["udm/aligners/supervised.py"], "rcsls": ["udm/aligners/supervised.py"],
               "identical": ["udm/aligners/supervised.py"], "sup": ["udm/aligners/supervised.py"]}
for _m in UNSUPERVISED:
    METHOD_CODE[_m] = ["udm/aligners/unsupervised.py", "udm/ot.py", "udm/self_learning.py",
                       f"udm/aligners/{ {'wp': 'wasserstein_procrustes'}.get(_m, _m) }.py"]
METHOD_CODE["auto"] += sorted({f for _m in UNSUPERVISED for f in METHOD_CODE[_m]} - set(METHOD_CODE["auto"]))

# per-step records kept in each cell's JSON (refinement steps, restarts, adversarial epochs, auto's candidates)
TRACE_KEYS = ("refinement", "restarts", "adv_epochs", "candidates", "sl_history")

# ====================================================================== settings
@dataclass
class Setting:
    """One (pair, regime, fraction) with its corpora, lexicons and vectors once prepared."""

    pair: str
    regime: str
    fraction: float = 1.0
    src_lang: str = ""
    tgt_lang: str = ""
    corpora: dict = field(default_factory=dict)  # lang side -> path
    train_lex: Optional[Path] = None
    test_lex: Optional[Path] = None
    vectors: dict = field(default_factory=dict)  # side -> {"path", "key", ...}
    info: dict = field(default_factory=dict)
    status: str = "pending"
    reason: str = ""
    coverage_only: bool = False

    @property
    def id(self) -> str:
        return f"{self.pair}/{self.regime}/{self.fraction:g}"

    def fail(self, reason: str, status: str = "failed") -> None:
        self.status, self.reason = status, reason.strip().splitlines()[-1][:500] if reason else status


def plan_settings(args) -> list[Setting]:
    """Every (pair, regime, fraction) the options ask for; cipher is one setting (en vs ciphered en)."""
    out: list[Setting] = []
    for regime in args.regimes:
        if regime == "cipher":
            out.append(Setting("en-cipher", "cipher", 1.0, "en", "cipher"))
            continue
        for pair in args.pairs:
            s, t = pair.split("-")
            if args.quick and regime == "half" and pair not in args.fraction_pairs:
                continue  # quick mode: the fixture halves on --fraction-pairs only
            fracs = args.fractions if regime in args.fraction_regimes else [1.0]
            if args.quick and pair not in args.fraction_pairs:
                fracs = [1.0]  # quick mode: the fraction sweep on --fraction-pairs only
            for f in sorted(set(fracs), reverse=True):
                out.append(Setting(pair, regime, f, s, t))
    return out


# ====================================================================== corpora
def _fixture_blocks(path: Path, block: int = 50) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [lines[i:i + block] for i in range(0, len(lines), block)]


def _stable_unit(text: str) -> float:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big") / 2.0 ** 64


def derive_fixture_corpora(st: Setting, cache: Path) -> dict[str, Path]:
    """Quick-mode corpora from the committed Bible fixtures (verse-aligned, same books in every language).

    ``none`` keeps the same blocks of 50 verses on both sides (a stable hash chooses the ``fraction``);
    ``half`` gives each block to one side only (``udm.corpora.build.doc_owner``), so the texts are disjoint.
    """
    from udm.corpora.build import doc_owner

    if st.regime == "cipher":
        return {"src": FIXTURES / "bible.en.txt", "tgt": FIXTURES / "cipher.code.txt"}
    files = {"src": FIXTURES / f"bible.{st.src_lang}.txt", "tgt": FIXTURES / f"bible.{st.tgt_lang}.txt"}
    if st.regime == "none" and st.fraction >= 1.0:
        return files
    if st.regime not in ("none", "half"):
        raise RuntimeError(f"regime {st.regime} has no fixture version (the fixtures are one parallel text)")
    out = {}
    for side, lang in (("src", st.src_lang), ("tgt", st.tgt_lang)):
        keep = []
        for b, lines in enumerate(_fixture_blocks(files[side])):
            doc = f"fixture-block-{b}"
            if st.fraction < 1.0 and _stable_unit("fraction:" + doc) >= st.fraction:
                continue
            if st.regime == "half" and doc_owner(doc, [st.src_lang, st.tgt_lang]) != lang:
                continue
            keep.extend(lines)
        p = cache / "corpora" / f"fixture-{st.regime}-{st.pair}-f{st.fraction:g}.{lang}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(keep) + "\n"
        if not p.is_file() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
        out[side] = p
    return out


def _build_child(spec: dict) -> dict:
    from udm.corpora.build import build_corpora

    m = build_corpora(spec["langs"], spec["split"], spec["out"], sources=spec.get("sources"),
                      fraction=spec["fraction"], cache_dir=spec["cache_dir"], progress=False)
    return {"manifest_languages": {k: {x: v.get(x) for x in ("tokens", "vocab", "lines", "file")}
                                   for k, v in m["languages"].items()}, "failures": m.get("failures", [])}


def requested_sources(args) -> list[str]:
    """The corpora builder's sources a study uses: ``--sources`` (``all`` for every one) or its default set."""
    from udm.corpora.sources import resolve_sources

    return resolve_sources(getattr(args, "sources", None))


def _sources_tag(names: list[str]) -> str:
    """'' for the builder's default sources, else a readable suffix for the build folder."""
    from udm.corpora.sources import DEFAULT_SOURCES

    default = set(DEFAULT_SOURCES)
    if set(names) == default:
        return ""
    missing = [n for n in DEFAULT_SOURCES if n not in names]
    added = sorted(set(names) - default)
    if missing and not added:
        return f"-without-{'+'.join(missing)}"
    if added and not missing:
        return f"-with-{'+'.join(added)}"
    return f"-sources-{'+'.join(sorted(names))}"


def _use_build(st: Setting, build: Path, m: dict, sources: list[str]) -> dict[str, Path]:
    """Record which corpus build a setting uses (its folder, languages, sources) and return the pair's two texts."""
    st.info["corpus_build"] = str(build)
    st.info["corpus_langs"] = m.get("langs")
    st.info["corpus_sources"] = list(m.get("sources_requested") or sources)
    return {side: build / m["languages"][lang]["file"] for side, lang in (("src", st.src_lang), ("tgt", st.tgt_lang))}


def build_real_corpora(st: Setting, args) -> dict[str, Path]:
    """Corpora from the corpora builder, reusing any finished build under ``--data-dir`` (or ``--data-dir``/bli,
    where this function writes the builds it makes) with the same split, fraction and sources."""
    data = Path(args.data_dir)
    split = st.regime
    langs = [st.src_lang, st.tgt_lang]
    sources = requested_sources(args)
    default_sources = requested_sources(None)  # what a manifest that does not name its sources was built from
    # reuse: a finished build whose manifest has this split, fraction and set of sources and, for `none`, any
    # superset of the languages (every language gets the same documents); `half` and `disjoint-sources` depend on
    # the language set, so there exactly the pair: in `half` every parallel document goes to exactly one built
    # language, so only a pair-only build gives each side a true half (an 8-language build only about an eighth).
    # Among several, the build over the fewest languages wins.
    found: list[tuple[int, str, Path, dict]] = []
    for man in sorted([*data.glob("*/manifest.json"), *data.glob("bli/*/manifest.json")]):  # bli/: run_bli's own builds
        try:
            m = json.loads(man.read_text())
        except (OSError, ValueError):
            continue
        if m.get("split") != split or abs(float(m.get("fraction", 1)) - st.fraction) > 1e-9:
            continue
        if set(m.get("sources_requested") or default_sources) != set(sources):
            continue
        have = set(m.get("languages", {}))
        if set(langs) <= have and (split == "none" or set(m.get("langs", [])) == set(langs)):
            found.append((len(have), str(man), man, m))
    if found:
        _, _, man, m = min(found, key=lambda f: (f[0], f[1]))
        return _use_build(st, man.parent, m, sources)
    tag = _sources_tag(sources)
    if args.no_build:
        raise RuntimeError(f"no finished {split} build for {','.join(langs)} at fraction {st.fraction:g}"
                           f"{' with sources ' + ','.join(sources) if tag else ''} under {data} and --no-build given")
    blangs = sorted(set(args.none_langs)) if split == "none" else sorted(langs)
    out = data / "bli" / ((f"{split}-{'-'.join(blangs)}-f{st.fraction:g}" if split != "none" else f"none-all-f{st.fraction:g}") + tag)
    spec = {"kind": "corpora", "langs": blangs, "split": split, "out": str(out), "fraction": st.fraction,
            "cache_dir": str(Path(args.corpus_cache))}
    if tag:  # the default spec (and so the cached default builds' keys) stays as it was
        spec["sources"] = sources
    res = run_in_child(_build_child, spec, args.cache / "builds" / f"{cache_key(spec)}.json", timeout=args.build_timeout)
    if res["status"] != "ok":
        raise RuntimeError(f"corpus build failed: {res.get('error')}")
    m = json.loads((out / "manifest.json").read_text())
    missing = [x for x in langs if x not in m.get("languages", {})]
    if missing:
        raise RuntimeError(f"the corpora builder produced no {','.join(missing)} text for split {split} "
                           f"(failures: {'; '.join(map(str, m.get('failures', [])))[:300]})")
    return _use_build(st, out, m, sources)


# ====================================================================== vectors
def _train_child(spec: dict) -> dict:
    if spec.get("threads"):
        import torch
        torch.set_num_threads(int(spec["threads"]))
    from udm.train import train_embeddings

    stats: dict = {}
    emb = train_embeddings(spec["corpus"], lang=spec["lang"], progress=False, stats=stats, **spec["params"])
    emb.save(spec["out"])
    return {"words": len(emb), "dim": emb.dim,
            "train_stats": {k: v for k, v in stats.items() if isinstance(v, (int, float, str, bool))},
            "epoch_loss": [round(float(x), 5) for x in stats.get("epoch_loss", [])]}


def training_params(args) -> dict:
    """The parameters ``udm.train.train_embeddings`` gets for the study's vectors."""
    params = {"dim": args.dim, "window": 5, "negative": 5, "min_count": args.min_count, "epochs": args.epochs,
              "seed": args.vector_seed}
    if getattr(args, "shuffle_sentences", False):  # only when set, so the keys of unshuffled vectors stay as they were
        params["shuffle"] = True
    if getattr(args, "subwords", None):  # likewise: only fastText-style vectors get the extra key
        params["subwords"] = args.subwords
    return params


def vector_cache_key(corpus: Path, tlang: str, args) -> str:
    """Cache key of one side's vectors: corpus content, training parameters, language and trainer code."""
    return vectors_key(file_sha256(corpus), {**training_params(args), "lang": tlang,
                                             "code": files_sha256([ROOT / p for p in TRAIN_CODE], root=ROOT)})


def ensure_vectors(st: Setting, args) -> None:
    """Train (or reuse) one vector file per side, cached by corpus content hash + training parameters."""
    untrained = []
    for side, lang in (("src", st.src_lang), ("tgt", st.tgt_lang)):
        corpus = st.corpora[side]
        params = training_params(args)
        tlang = "en" if lang == "cipher" else lang
        key = vector_cache_key(corpus, tlang, args)
        out = args.cache / "vectors" / f"{lang}-{key}.npz"
        rec_path = args.cache / "vectors" / f"{lang}-{key}.json"
        rec = read_cell(rec_path)
        if not (out.is_file() and rec and rec.get("status") == "ok"):
            if args.report_only or args.plan:
                untrained.append(f"{lang} vectors for {corpus}")
                continue
            spec = {"kind": "train", "corpus": str(corpus), "lang": tlang, "params": params, "out": str(out),
                    "threads": args.threads}
            out.parent.mkdir(parents=True, exist_ok=True)
            args.log(f"training {lang} vectors on {corpus} ({args.dim}-d, {args.epochs} epochs"
                     f"{', n-grams ' + params['subwords'] if 'subwords' in params else ''})")
            rec = run_in_child(_train_child, spec, rec_path, timeout=args.train_timeout)
            if rec["status"] != "ok":
                raise RuntimeError(f"training {lang} vectors failed: {rec.get('error')}")
        # the key names the training inputs; the file's hash names the vectors (two-thread training is not deterministic)
        st.vectors[side] = {"path": str(out), "key": key, "sha256": file_sha256(out)[:16], "words": rec.get("words"),
                            "train_wall_s": rec.get("wall_s"),
                            **{f"train_{k}": (rec.get("train_stats") or {}).get(k) for k in ("workers", "step_batch", "words_per_s")},
                            "train_peak_rss_mb": rec.get("peak_rss_mb"), "corpus": str(corpus)}
    if untrained:
        st.info["untrained_vectors"] = len(untrained)
        raise RuntimeError(f"{' and '.join(untrained)} {'is' if len(untrained) == 1 else 'are'} not trained yet")


# ====================================================================== lexicons
def full_lexicon(pair: str, args) -> Path:
    """The pair's gold lexicon from ``udm.corpora.lexicons.build_lexicon`` (cached)."""
    for cand in (Path(args.data_dir) / "lexicons" / f"{pair}.txt", Path(args.data_dir) / f"{pair}.txt"):
        if cand.is_file():
            return cand
    out = args.cache / "lexicons" / f"{pair}.txt"
    if out.is_file():
        return out
    spec = {"kind": "lexicon", "pair": pair, "out": str(out), "cache_dir": str(Path(args.corpus_cache))}

    def fn(sp: dict) -> dict:
        from udm.corpora.lexicons import build_lexicon
        pairs = build_lexicon(sp["pair"], sp["out"], cache_dir=Path(sp["cache_dir"]))
        return {"pairs": len(pairs)}

    out.parent.mkdir(parents=True, exist_ok=True)
    res = run_in_child(fn, spec, args.cache / "lexicons" / f"{pair}.json", timeout=args.build_timeout)
    if res["status"] != "ok" or not out.is_file():
        raise RuntimeError(f"building the {pair} lexicon failed: {res.get('error')}")
    return out


def ensure_lexicons(st: Setting, args) -> None:
    """Train/test lexicons: the fixture splits in quick mode (and for the cipher), otherwise the corpora module's
    ``split_lexicon`` (MUSE-style, 1,500 test source words spread over the frequency range) on the vocabularies."""
    if st.regime == "cipher":
        st.train_lex, st.test_lex = FIXTURES / "cipher.train.txt", FIXTURES / "cipher.test.txt"
    elif getattr(args, "lexicon_split", None):  # the user's own split, the same for every setting of the run
        st.train_lex, st.test_lex = args.lexicon_split
        from udm.lexicon import Lexicon

        st.info["split"] = {"method": "given", "train": str(st.train_lex), "test": str(st.test_lex),
                            "train_words": len(Lexicon.load(st.train_lex).golds),
                            "test_words": len(Lexicon.load(st.test_lex).golds)}
    elif args.quick:
        st.train_lex, st.test_lex = FIXTURES / f"{st.pair}.train.txt", FIXTURES / f"{st.pair}.test.txt"
        if not st.train_lex.is_file():
            raise RuntimeError(f"no fixture lexicon for {st.pair} (fixtures hold en-es and en-fr)")
    else:
        from udm.corpora.lexicons import read_muse, split_lexicon, write_muse
        from udm.embeddings import Embeddings

        full = full_lexicon(st.pair, args)
        src = Embeddings.load(st.vectors["src"]["path"]).top(args.max_vocab)
        tgt = Embeddings.load(st.vectors["tgt"]["path"]).top(args.max_vocab)
        key = cache_key([file_sha256(full), st.vectors["src"]["key"], st.vectors["tgt"]["key"], args.max_vocab,
                         args.test_size])
        base = args.cache / "lexicons" / f"{st.pair}-{key}"
        st.train_lex, st.test_lex = base.with_suffix(".train.txt"), base.with_suffix(".test.txt")
        info_path = base.with_suffix(".split.json")
        if not (st.train_lex.is_file() and st.test_lex.is_file() and info_path.is_file()):
            train, test, info = split_lexicon(read_muse(full), src.words, tgt.words, args.test_size, "spread")
            if not test:
                raise RuntimeError(f"no {st.pair} lexicon word is inside the top-{args.max_vocab} vocabularies")
            write_muse(train, st.train_lex)
            write_muse(test, st.test_lex)
            write_json(info_path, {**info, "lexicon": str(full), "lexicon_pairs": len(read_muse(full))})
        st.info["split"] = json.loads(info_path.read_text())
        if st.pair in COVERAGE_ONLY_PAIRS and st.info["split"]["test_words"] < MIN_TEST_WORDS:
            st.coverage_only = True
    st.info["train_pairs"] = sum(1 for line in open(st.train_lex, encoding="utf-8") if line.strip())
    st.info["test_pairs"] = sum(1 for line in open(st.test_lex, encoding="utf-8") if line.strip())


# ====================================================================== cells
def _cell_inputs(spec: dict) -> tuple:
    """A cell's source and target vectors (top ``max_vocab`` words) and its test lexicon."""
    from udm.embeddings import Embeddings
    from udm.lexicon import Lexicon

    return (Embeddings.load(spec["src_vec"]).top(spec["max_vocab"]), Embeddings.load(spec["tgt_vec"]).top(spec["max_vocab"]),
            Lexicon.load(spec["test_lex"]))


def _score(mapping, src, tgt, test) -> dict:
    """The evaluated part of a cell's record: BLI scores, coverage, the per-word CSLS hits at 1 (packed, for the
    paired comparisons of the report) and the hash of the code that scored them."""
    from udm.evaluate import evaluate_mapping, pack_hits

    report = evaluate_mapping(mapping, src, tgt, test)
    d = report.to_dict()
    return {"scores": d["scores"], "coverage": d["coverage"], "hits": pack_hits(report, "csls", 1),
            "eval_code": eval_code_hash()}


def _child_threads(spec: dict) -> None:
    """Apply the cell's torch thread count in its forked child (before any torch work there)."""
    if spec.get("threads"):
        import torch
        torch.set_num_threads(int(spec["threads"]))


def _rescore_child(spec: dict) -> dict:
    """Score a cell's kept mapping (``mapping_out``) again with the current scoring code (runs in a forked child)."""
    from udm.mapping import Mapping

    _child_threads(spec)
    return _score(Mapping.load(spec["mapping_out"]), *_cell_inputs(spec))


def _align_child(spec: dict) -> dict:
    """Fit one method on one setting and evaluate it (runs in the forked child)."""
    _child_threads(spec)
    from udm.aligners import aligner_class
    from udm.aligners.supervised import ProcrustesAligner, RCSLSAligner
    from udm.criteria import muse_criterion
    from udm.lexicon import Lexicon, identical_strings

    src, tgt, test = _cell_inputs(spec)
    method, seed = spec["method"], spec["seed"]
    common = {"seed": seed, "progress": False, "refine_iters": spec["refine_iters"], "reweight": bool(spec.get("reweight"))}
    if spec.get("refine_rank"):
        common["refine_rank"] = int(spec["refine_rank"])
    extra: dict[str, Any] = {}
    if method in SUPERVISED_CELLS:
        train = Lexicon.load(spec["train_lex"])
        if method == "identical":
            lex = identical_strings(src, tgt)
            if len(lex.restrict(src, tgt)) < 2:
                raise RuntimeError(f"only {len(lex)} identically spelled words: no identical-strings seed here")
        elif method == "sup":
            lex = train.most_frequent(spec["seed_n"], src, tgt)
        else:
            lex = train
        extra["seed_pairs_used"] = len(lex.restrict(src, tgt))
        extra["seed_words_used"] = len(lex.restrict(src, tgt).golds)
        if method == "rcsls":
            aligner = RCSLSAligner(seed=seed, progress=False, refine_iters=0)
        else:
            aligner = ProcrustesAligner(**common)
        mapping = aligner.fit(src, tgt, lex)
    else:
        cls = aligner_class(method)
        self_learning = bool(spec.get("self_learning"))
        if self_learning and spec.get("sl_stochastic_cutoff"):
            from udm.self_learning import SelfLearningSchedule

            self_learning = SelfLearningSchedule(stochastic_cutoff=int(spec["sl_stochastic_cutoff"]))
        aligner = cls(**common, time_budget=spec.get("time_budget"), restarts=spec.get("restarts", 1),
                      self_learning=self_learning)
        mapping = aligner.fit(src, tgt)
    if spec.get("mapping_out"):  # kept beside the cell for paired comparisons and for rescoring without a refit
        mapping.save(spec["mapping_out"])
    crit = mapping.meta.get("criterion")
    if crit is None:  # supervised runs: the same dictionary-free criterion, for comparison
        crit = muse_criterion(mapping.transform(src.vectors), mapping.prepare_target(tgt.vectors))
    return {**_score(mapping, src, tgt, test), "criterion": float(crit),
            "aligner_failed": bool(mapping.failed), "fit_seconds": mapping.meta.get("fit_seconds"),
            "meta": {k: v for k, v in mapping.meta.items() if isinstance(v, (int, float, str, bool))},
            "trace": {k: mapping.meta[k] for k in TRACE_KEYS if k in mapping.meta}, **extra}


def effective_stochastic_cutoff(args) -> Optional[int]:
    """The self-learning stage's stochastic cutoff a run used (None without --self-learning), for the report."""
    if not args.self_learning:
        return None
    from udm.self_learning import STAGE_SCHEDULE

    return args.sl_stochastic_cutoff or STAGE_SCHEDULE.stochastic_cutoff


def fit_code_hash(method: str) -> str:
    """Hash of the code a ``method`` cell's fitted mapping depends on (part of the cell's cache key)."""
    return files_sha256([ROOT / p for p in FIT_CODE + METHOD_CODE[method]], root=ROOT)


def eval_code_hash() -> str:
    """Hash of the code that scores a mapping (recorded in each cell; not part of its key)."""
    return files_sha256([ROOT / p for p in EVAL_CODE], root=ROOT)


def seed_free_single_start(method: str) -> bool:
    """Whether the aligner says its single-start result does not depend on the seed."""
    from udm.aligners import aligner_class

    try:
        return bool(getattr(aligner_class(method), "seed_free_single_start", False))
    except Exception:  # noqa: BLE001 - a method that does not import is skipped elsewhere
        return False


def cell_specs(st: Setting, args, available: dict[str, str]) -> list[dict]:
    """The cells of one setting (skipped ones carry ``skip`` = the reason)."""
    base = {"pair": st.pair, "regime": st.regime, "fraction": st.fraction, "src_vec": st.vectors["src"]["path"],
            "tgt_vec": st.vectors["tgt"]["path"], "src_key": st.vectors["src"]["key"],
            "tgt_key": st.vectors["tgt"]["key"], "train_lex": str(st.train_lex), "test_lex": str(st.test_lex),
            "train_sha": file_sha256(st.train_lex), "test_sha": file_sha256(st.test_lex),
            "max_vocab": args.max_vocab, "refine_iters": args.refine_iters, "threads": args.threads}
    if args.refine_rank:  # only when given, so that the cache keys of default cells stay as they were
        base["refine_rank"] = args.refine_rank
    if args.reweight:  # only then, so that the cache keys of orthogonal cells stay as they were
        base["reweight"] = True
    if args.self_learning:  # the same: set only when asked for
        base["self_learning"] = True
        if args.sl_stochastic_cutoff:
            base["sl_stochastic_cutoff"] = args.sl_stochastic_cutoff
    full_setting = st.fraction >= 1.0
    specs = []

    def add(method: str, seed: int = 0, **kw) -> None:
        sp = {**base, "method": method, "seed": seed, "seed_n": None, "code": fit_code_hash(method), **kw}
        if method in UNSUPERVISED and method not in available:
            sp["skip"] = available.get("_why_" + method, "not available")
        specs.append(sp)

    m = set(args.methods)
    if "procrustes" in m:
        add("procrustes")
    if full_setting:  # the other baselines and the N sweep on the full corpora only
        if "rcsls" in m:
            add("rcsls")
        if "identical" in m:
            add("identical")
        n_train = st.info.get("train_words") or 0
        ns = set(curve_sizes(n_train)) if "curve" in m else set()
        for n in (WEAK_NS if "weak" in m else ()):
            if n <= n_train:
                ns.add(n)
            else:
                add("sup", seed_n=n, skip=f"the train lexicon covers only {n_train} source words (< {n})")
        for n in sorted(ns):
            add("sup", seed_n=n)
    for meth in UNSUPERVISED:
        if meth in m:
            # an aligner whose single start does not depend on the seed (gw) runs once without restarts, unless
            # the self-learning stage (seeded: it samples the dictionary) carries the start on
            seed_free = seed_free_single_start(meth) and (args.restarts or 1) == 1 and not args.self_learning
            n_seeds = 1 if seed_free else args.seeds
            # with K restarts, seed s runs the starts s..s+K-1: seeds K apart keep the runs independent
            stride = max(1, args.restarts or 1)
            first = getattr(args, "first_seed", 0) or 0
            for i in range(n_seeds):
                add(meth, first + i * stride, time_budget=args.time_budget, restarts=args.restarts)
    return specs


_STALE: Optional[dict] = None


def stale_index(args) -> dict:
    """Cached cells keyed by their spec without the code hash (for --report-only after code changed)."""
    global _STALE
    if _STALE is None:
        _STALE = {}
        for f in sorted((args.cache / "cells").glob("*.json"), key=lambda f: f.stat().st_mtime):
            rec = read_cell(f)
            if rec and rec.get("spec"):
                _STALE[cell_identity(rec["spec"], "code")] = rec
    return _STALE


# where files live is not what a cell is: vectors and lexicons enter its key by their content hashes
LOCATION_KEYS = ("threads", "src_vec", "tgt_vec", "train_lex", "test_lex", "mapping_out")


def cell_identity(spec: dict, *also_without: str) -> str:
    """Hash of a cell's spec without its thread count and file locations (and ``also_without``)."""
    drop = LOCATION_KEYS + also_without
    return cache_key({k: v for k, v in spec.items() if k not in drop})


def cell_path(spec: dict, args) -> Path:
    """Where a cell's result is cached: :func:`cell_identity` of its spec."""
    return args.cache / "cells" / f"{cell_identity(spec)}.json"


def mapping_path(spec: dict, args) -> Path:
    """Where a cell's fitted mapping is kept (``udm.Mapping`` .npz beside the cell's JSON)."""
    return cell_path(spec, args).with_suffix(".mapping.npz")


def reusable(rec: Optional[dict], args) -> bool:
    """Whether a run reuses this cached record: ok, or failed unless --retry-failed.

    With --need-mappings an ok cell whose mapping was not kept (cells run before mappings were kept) is rerun.
    """
    if not rec:
        return False
    if rec.get("status") == "ok":
        return not (args.need_mappings and not mapping_path(rec["spec"], args).is_file())
    return not args.retry_failed and rec.get("status") in ("error", "timeout")


def scored_by_older_code(rec: dict) -> bool:
    """Whether an ok cell's scores came from other scoring code than the current one (so it is rescored)."""
    return rec.get("status") == "ok" and rec.get("eval_code") != eval_code_hash()


def needs_fit(rec: Optional[dict], spec: dict, args) -> bool:
    """Whether a cell will be fitted (again): no reusable record, or one scored by older scoring code with no kept
    mapping to rescore it from (what ``--plan`` counts as still to run)."""
    if not reusable(rec, args):
        return True
    return scored_by_older_code(rec) and not mapping_path(spec, args).is_file()


def run_cell(spec: dict, args) -> dict:
    """Cached result of a cell, or run it now (in a child) and cache it."""
    if spec.get("skip"):
        return {"spec": spec, "status": "skipped", "error": spec["skip"]}
    path = cell_path(spec, args)
    rec = read_cell(path)
    if reusable(rec, args):
        if not scored_by_older_code(rec):
            rec["cached"] = True
            return rec
        if args.report_only:  # scored by older scoring code: shown as such, not rescored
            return {**rec, "cached": True, "stale_code": True}
        rescored = rescore_cell(rec, spec, args)
        if rescored is not None:
            return rescored
        # no kept mapping to rescore (or rescoring failed): the cell is fitted again below
    elif args.report_only:
        old = stale_index(args).get(cell_identity(spec, "code"))
        if old:
            return {**old, "cached": True, "stale_code": True}
        return {"spec": spec, "status": "skipped", "error": "not run yet (--report-only)"}
    spec = {**spec, "mapping_out": str(mapping_path(spec, args))}
    tb = spec.get("time_budget") or 0
    timeout = args.cell_timeout or max(900.0, 3 * tb * max(1, spec.get("restarts") or 1) + 600)
    return run_in_child(_align_child, spec, path, timeout=timeout)


def rescore_cell(rec: dict, spec: dict, args) -> Optional[dict]:
    """A cached cell scored again from its kept mapping with the current scoring code, or None without a kept
    mapping or when scoring fails. The fit's record (criterion, trace, wall time, peak RSS) is kept as it was."""
    kept = mapping_path(spec, args)
    if not kept.is_file():
        return None
    out = args.cache / "rescored" / cell_path(spec, args).name  # the child's result; the cell file is updated below
    out.parent.mkdir(parents=True, exist_ok=True)
    res = run_in_child(_rescore_child, {**spec, "mapping_out": str(kept)}, out, timeout=args.cell_timeout or 900)
    out.unlink(missing_ok=True)
    if res.get("status") != "ok":
        print(f"  rescoring cell {kept.name.split('.')[0]} failed ({res.get('error')}); fitting it again", flush=True)
        return None
    new = {**rec, "scores": res["scores"], "coverage": res["coverage"], "hits": res.get("hits"), "eval_code": res["eval_code"],
           "rescored": {"finished": res["finished"], "wall_s": res["wall_s"], "eval_code_before": rec.get("eval_code")}}
    write_json(cell_path(spec, args), new)
    return {**new, "cached": True}


def available_methods() -> dict[str, str]:
    """Unsupervised registry names that import here; ``_why_<name>`` keys hold the reasons for the others."""
    from udm.aligners import aligner_class

    out: dict[str, str] = {}
    for name in UNSUPERVISED:
        try:
            aligner_class(name)
            out[name] = "ok"
        except Exception as exc:  # noqa: BLE001
            out["_why_" + name] = f"method {name!r} not available in this checkout ({str(exc)[:200]})"
    return out


# ====================================================================== plan
def _corpus_class(spec: dict) -> str:
    """The cipher control aligns a few thousand fixture words however large ``max_vocab`` is: its cells never
    estimate a real-corpus cell's cost, nor the other way round."""
    return "cipher" if spec.get("regime") == "cipher" else "real"


def _cost_key(spec: dict) -> tuple:
    return (spec.get("method"), _corpus_class(spec), spec.get("max_vocab"), spec.get("time_budget"), spec.get("restarts"))


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def cost_model(args) -> dict:
    """Median wall seconds of the cached cells (by method, corpus class, vocabulary, budget and restarts; by method,
    corpus class and vocabulary) and of the cached vector trainings: what ``--plan`` estimates the work still to do
    from."""
    exact: dict[tuple, list[float]] = {}
    method: dict[tuple, list[float]] = {}
    train: list[float] = []
    for f in (args.cache / "cells").glob("*.json"):
        rec = read_cell(f)
        if rec and rec.get("status") == "ok" and rec.get("wall_s") and rec.get("spec"):
            sp = rec["spec"]
            exact.setdefault(_cost_key(sp), []).append(rec["wall_s"])
            method.setdefault((sp.get("method"), _corpus_class(sp), sp.get("max_vocab")), []).append(rec["wall_s"])
    for f in (args.cache / "vectors").glob("*.json"):  # trainings with this run's dimension and epochs
        rec = read_cell(f)
        params = ((rec or {}).get("spec") or {}).get("params") or {}
        if (rec and rec.get("status") == "ok" and rec.get("wall_s") and params.get("dim") == args.dim
                and params.get("epochs") == args.epochs):
            train.append(rec["wall_s"])
    return {"exact": {k: _median(v) for k, v in exact.items()}, "method": {k: _median(v) for k, v in method.items()},
            "train": _median(train) if train else None, "cells_measured": sum(len(v) for v in exact.values()),
            "trainings_measured": len(train)}


def estimate_cell_seconds(spec: dict, model: dict) -> float:
    """A cell's expected wall time: the median of cached cells with the same method, vocabulary, budget and
    restarts; else of the same method and vocabulary, capped by the time budget; else the budget itself."""
    if _cost_key(spec) in model["exact"]:
        return model["exact"][_cost_key(spec)]
    bound = (spec.get("time_budget") or 0) * max(1, spec.get("restarts") or 1) * 1.1 + 30
    guess = model["method"].get((spec.get("method"), _corpus_class(spec), spec.get("max_vocab")))
    if guess is not None:
        return min(guess, bound) if spec.get("time_budget") else guess
    return bound if spec.get("time_budget") else 60.0


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def render_plan(settings: list[Setting], specs: list[tuple[Setting, dict]], args, command: str) -> str:
    """What a run with these options would do: per setting the cells already cached and those still to run
    with their estimated wall time, and for settings not prepared yet the builds and trainings they need."""
    model = cost_model(args)
    L = ["# BLI study plan", "",
         f"- command: `{command}`",
         f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; commit `{git_info().get('commit', '')[:12]}`",
         f"- estimates: median wall time of the {model['cells_measured']} cached cells with the same method, "
         f"vocabulary, budget and restarts (else the same method, capped by the budget; else the budget) and of "
         f"the {model['trainings_measured']} cached {args.dim}-d, {args.epochs}-epoch vector trainings "
         f"({_hours(model['train'] or 0)} each); "
         "measured on this machine while it was shared, so a rough guide", "",
         "| setting | status | cells | cached | to run | estimated |", "|---|---|---:|---:|---:|---:|"]
    tot = {"cells": 0, "cached": 0, "todo": 0, "secs": 0.0, "builds": 0, "trainings": 0, "guessed": 0}
    by_method: dict[str, list] = {}

    def cost(cells: list[dict]) -> float:
        """Estimated seconds of cells still to run, also added to the per-method totals."""
        total = 0.0
        for sp in cells:
            sec = estimate_cell_seconds(sp, model)
            by_method.setdefault(sp["method"], [0, 0.0])
            by_method[sp["method"]][0] += 1
            by_method[sp["method"]][1] += sec
            total += sec
        return total

    cells_of = {id(st): [sp for s2, sp in specs if s2 is st and not sp.get("skip")] for st in settings}
    templates: dict[tuple, list[dict]] = {}
    for st in settings:
        if st.status == "ok" and cells_of[id(st)]:
            templates.setdefault((st.regime, st.fraction >= 1.0), cells_of[id(st)])
            templates.setdefault(("any", st.fraction >= 1.0), cells_of[id(st)])
    for st in settings:
        mine = cells_of[id(st)]
        if st.status == "ok":
            todo = [sp for sp in mine if needs_fit(read_cell(cell_path(sp, args)), sp, args)]
            secs = cost(todo)
            L.append(f"| {st.id} | ready | {len(mine)} | {len(mine) - len(todo)} | {len(todo)} | {_hours(secs)} |")
            tot["cells"] += len(mine)
            tot["cached"] += len(mine) - len(todo)
            tot["todo"] += len(todo)
            tot["secs"] += secs
        elif st.status == "coverage-only":
            L.append(f"| {st.id} | coverage only ({st.reason}) | - | - | - | - |")
        else:
            template = templates.get((st.regime, st.fraction >= 1.0)) or templates.get(("any", st.fraction >= 1.0))
            build = "no finished" in st.reason
            trainings = 2 if build else int(st.info.get("untrained_vectors") or 0)
            secs = trainings * (model["train"] or 0)
            need = (["a corpus build"] if build else []) + ([f"{trainings} vector training(s)"] if trainings else [])
            if template is None or not need:
                L.append(f"| {st.id} | not ready: {st.reason} | ? | 0 | ? | ? |")
                continue
            cells_secs = cost(template)
            L.append(f"| {st.id} | needs {' and '.join(need)} | ~{len(template)} | 0 | ~{len(template)} | "
                     f"~{_hours(secs + cells_secs)} |")
            tot["cells"] += len(template)
            tot["todo"] += len(template)
            tot["secs"] += secs + cells_secs
            tot["builds"] += build
            tot["trainings"] += trainings
            tot["guessed"] += 1
    L += ["", f"**Total:** {tot['cells']} cells, {tot['cached']} cached, {tot['todo']} to run; "
              f"estimated **{_hours(tot['secs'])}** on this machine"
              + (f", including {tot['builds']} corpus build(s) (not timed) and {tot['trainings']} vector trainings; "
                 f"the cells of the {tot['guessed']} settings not ready yet are estimated from a ready setting of "
                 "the same regime and fraction class" if tot["guessed"] else "") + ".",
          "", "| method | cells to run | estimated |", "|---|---:|---:|"]
    L += [f"| {m} | {n} | {_hours(sec)} |" for m, (n, sec) in sorted(by_method.items(), key=lambda kv: -kv[1][1])]
    return "\n".join(L) + "\n"


# ====================================================================== aggregation
def p1(rec: dict, retrieval: str = "csls", k: int = 1) -> Optional[float]:
    if rec.get("status") != "ok":
        return None
    return rec["scores"].get(retrieval, {}).get(f"p@{k}")


def summarize_setting(st: Setting, cells: list[dict]) -> dict:
    """Per-setting numbers: supervised baselines, per-method seed summaries, the best unsupervised, gap, worth-N."""
    ok = [c for c in cells if c.get("status") == "ok"]
    by = lambda meth, **kw: [c for c in ok if c["spec"]["method"] == meth and all(c["spec"].get(k) == v for k, v in kw.items())]  # noqa: E731
    one = lambda meth, **kw: (by(meth, **kw) or [None])[0]  # noqa: E731
    sup = one("procrustes")
    out: dict[str, Any] = {"sup_p1": p1(sup) if sup else None, "rcsls_p1": p1(one("rcsls")) if one("rcsls") else None,
                           "identical_p1": p1(one("identical")) if one("identical") else None}
    for n in WEAK_NS:
        c = one("sup", seed_n=n)
        out[f"seed{n}_p1"] = p1(c) if c else None
    out["curve"] = sorted((c["spec"]["seed_n"], p1(c)) for c in by("sup"))
    methods = {}
    for meth in UNSUPERVISED:
        runs = by(meth)
        if not runs:
            continue
        vals = [p1(c) for c in runs]
        summ = seed_summary(vals)
        sel = max(runs, key=lambda c: c.get("criterion") if c.get("criterion") is not None else -1e9)
        summ["criterion_selected_p1"] = p1(sel)
        summ["flag_agreement"] = sum((c["aligner_failed"]) == (p1(c) <= SUCCESS_P1) for c in runs) / len(runs)
        summ["spearman_criterion_p1"] = spearman([c.get("criterion") for c in runs], vals)
        summ["gap"] = gap(summ["mean"], out["sup_p1"])
        summ["wall_s_median"] = sorted(c["wall_s"] for c in runs)[len(runs) // 2]
        summ["peak_rss_mb_max"] = max(c.get("peak_rss_mb") or 0 for c in runs)
        methods[meth] = summ
    out["methods"] = methods
    if methods:
        best = max(methods, key=lambda mm: methods[mm]["mean"])
        out["best_method"] = best
        out["best_unsup_p1"] = methods[best]["mean"]
        out["best_unsup_max_p1"] = max(m["max"] for m in methods.values())
        out["gap"] = gap(out["best_unsup_p1"], out["sup_p1"])
        out["worth_n"] = worth_n(out["curve"], out["best_unsup_p1"]) if out["curve"] else {"n": None, "relation": None}
        tests = worth_tests(by(best), by("sup"))
        if tests:
            out["worth_n"].update({"tests": tests, "bounds": worth_n_bounds(tests)})
    return out


def worth_tests(runs: list[dict], curve_cells: list[dict]) -> Optional[list[dict]]:
    """The best method's runs pooled against each point of the worth-N curve, word by word (the cells' packed
    CSLS hits; ``udm.significance.compare_hits``), or None when a cell has no hits or they cover other words."""
    from udm.evaluate import unpack_hits
    from udm.significance import compare_hits

    cells = runs + curve_cells
    if not runs or not curve_cells or any(not c.get("hits") for c in cells):
        return None
    if len({(c["hits"].get("words_sha256"), c["hits"].get("n")) for c in cells}) != 1:
        return None
    a = [unpack_hits(c["hits"]) for c in runs]
    out = []
    for c in sorted(curve_cells, key=lambda c: c["spec"]["seed_n"]):
        cmp = compare_hits(a, unpack_hits(c["hits"]))
        out.append({"n": c["spec"]["seed_n"], "difference": cmp.difference, "ci95": list(cmp.ci95), "p": cmp.p_value})
    return out


def summarize_all(settings: list[Setting], cells: dict[str, list[dict]]) -> dict:
    allruns = [c for cs in cells.values() for c in cs if c.get("status") == "ok" and c["spec"]["method"] in UNSUPERVISED]
    crit = [c.get("criterion") for c in allruns]
    vals = [p1(c) for c in allruns]
    per_method = {}
    for meth in UNSUPERVISED:
        rs = [c for c in allruns if c["spec"]["method"] == meth]
        if rs:
            per_method[meth] = {"runs": len(rs), "spearman": spearman([c.get("criterion") for c in rs], [p1(c) for c in rs]),
                                **{k: v for k, v in seed_summary([p1(c) for c in rs]).items() if k in ("success_rate", "mean")}}
    # within one setting the criterion's scale is comparable; across settings it is not: report both
    within = []
    for sid, cs in cells.items():
        rs = [c for c in cs if c.get("status") == "ok" and c["spec"]["method"] in UNSUPERVISED]
        r = spearman([c.get("criterion") for c in rs], [p1(c) for c in rs])
        if r is not None:
            within.append({"setting": sid, "runs": len(rs), "spearman": r})
    return {"unsupervised_runs": len(allruns), "spearman_all": spearman(crit, vals), "per_method": per_method,
            "within_setting": within}


# ====================================================================== reporting
def machine_info() -> dict:
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    import numpy
    import torch
    return {"cores": os.cpu_count(), "ram": mem, "platform": platform.platform(), "python": platform.python_version(),
            "numpy": numpy.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def git_info() -> dict:
    def git(*a: str) -> str:
        try:  # rstrip, not strip: a porcelain line starts with a space (" M path")
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = git("status", "--porcelain", "--untracked-files=all", "udm", "experiments/run_bli.py", "experiments/bli_core.py")
    return {"commit": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "uncommitted_code_files": [ln[3:] for ln in dirty.splitlines()]}


def pct(x: Optional[float], nd: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{nd}f}"


def ratio(x: Optional[float], nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def save_figure(fig, path: Path) -> str:
    """Write a matplotlib figure atomically (a temporary file in the same folder, then a rename), close it and
    return its file name, so an interrupted report never leaves half a PNG."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path.name


def write_plots(results: dict, out_dir: Path, name: str = "bli") -> list[str]:
    """Worth-N curve per pair, scaling and regime ratios, criterion vs P@1 (matplotlib, imported only here)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError as exc:
        return [f"(plots skipped: matplotlib not installed: {exc}; pip install 'udm[bench]')"]
    written = []
    settings = results["settings"]
    # 1. worth-N, one PNG per pair (all regimes of the pair at fraction 1)
    for pair in sorted({s["pair"] for s in settings}):
        rows = [s for s in settings if s["pair"] == pair and s["fraction"] == 1.0 and s.get("summary", {}).get("curve")]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, s in enumerate(rows):
            sm = s["summary"]
            ns, ps = zip(*sm["curve"])
            line, = ax.plot(ns, [100 * p for p in ps], "o-", label=f"{s['regime']}: Procrustes+refine, N seed pairs")
            if sm.get("best_unsup_p1") is not None:
                ax.axhline(100 * sm["best_unsup_p1"], color=line.get_color(), ls="--",
                           label=f"{s['regime']}: best unsupervised ({sm['best_method']}, mean)")
                w = sm.get("worth_n") or {}
                if w.get("relation") == "=":
                    ax.axvline(w["n"], color=line.get_color(), ls=":", lw=1)
        ax.set_xscale("log")
        ticks = sorted({n for s in rows for n, _ in s["summary"]["curve"]})
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("labelled seed pairs N (log scale)")
        ax.set_ylabel("CSLS P@1 (%)")
        ax.set_title(f"{pair}: how many labelled pairs is unsupervised worth?")
        ax.legend(fontsize=7)
        written.append(save_figure(fig, out_dir / f"{name}_worth_n_{pair}.png"))
    # 2. scaling: ratio vs fraction, and ratio vs regime
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    groups: dict = {}
    for s in settings:
        g = s.get("summary", {}).get("gap")
        if g is not None:
            groups.setdefault((s["pair"], s["regime"]), []).append((s["fraction"], g))
    for (pair, regime), pts in sorted(groups.items()):
        if len(pts) > 1:
            pts.sort()
            a1.plot([100 * f for f, _ in pts], [g for _, g in pts], "o-", label=f"{pair} {regime}")
    a1.set_xlabel("corpus fraction (%)")
    a1.set_ylabel("unsupervised / supervised P@1")
    a1.set_title("scaling with corpus size")
    if a1.get_legend_handles_labels()[0]:
        a1.legend(fontsize=7)
    regimes = [r for r in REGIMES if any(k[1] == r for k in groups)]
    pairs = sorted({k[0] for k in groups})
    width = 0.8 / max(1, len(pairs))
    for i, pair in enumerate(pairs):
        xs, ys = [], []
        for j, r in enumerate(regimes):
            g = dict(groups.get((pair, r), [])).get(1.0)
            if g is not None:
                xs.append(j + i * width)
                ys.append(g)
        a2.bar(xs, ys, width=width, label=pair)
    a2.set_xticks([j + 0.4 - width / 2 for j in range(len(regimes))], regimes)
    a2.set_ylabel("unsupervised / supervised P@1")
    a2.set_title("by regime (full corpora)")
    if pairs:
        a2.legend(fontsize=7)
    written.append(save_figure(fig, out_dir / f"{name}_scaling.png"))
    # 3. criterion vs P@1 over all unsupervised runs
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in settings:
        pts = [(c["criterion"], c["p1"]) for c in s.get("cells", []) if c.get("status") == "ok"
               and c["method"] in UNSUPERVISED and c.get("criterion") is not None]
        if pts:
            ax.scatter([x for x, _ in pts], [100 * y for _, y in pts], s=14, label=s["id"])
    ax.axhline(100 * SUCCESS_P1, color="grey", ls=":", lw=1)
    ax.set_xlabel("dictionary-free criterion (MUSE, higher = better)")
    ax.set_ylabel("CSLS P@1 (%)")
    ax.set_title("can the criterion be trusted?")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    written.append(save_figure(fig, out_dir / f"{name}_criterion.png"))
    return written


def worth_cell(w: Optional[dict]) -> str:
    """The headline's worth N: the interpolated reading and, where the cells hold per-word hits, what the paired
    tests against the curve allow ('~2201 (N > 100)')."""
    b = format_worth_bounds((w or {}).get("bounds"))
    return format_worth(w) + (f" ({b})" if b else "")


def compact_cell(c: dict) -> dict:
    sp = c["spec"]
    d = {"method": sp["method"], "seed": sp["seed"], "seed_n": sp.get("seed_n"), "status": c.get("status"),
         "wall_s": c.get("wall_s"), "peak_rss_mb": c.get("peak_rss_mb"),
         "cell": cell_identity(sp)}  # <cache>/cells/<cell>.json, and <cell>.mapping.npz where the mapping was kept
    if c.get("status") == "ok":
        d.update({"p1": p1(c), "scores": c["scores"], "coverage": c["coverage"], "criterion": c.get("criterion"),
                  "aligner_failed": c.get("aligner_failed"), "fit_seconds": c.get("fit_seconds"),
                  "seed_pairs_used": c.get("seed_pairs_used")})
        if c.get("hits"):  # per-word CSLS hits at 1, packed (udm.evaluate.unpack_hits)
            d["hits"] = c["hits"]
        if c.get("meta"):  # the mapping's scalar metadata (failure-check terms, stage times, budget stops)
            d["meta"] = c["meta"]
        if c.get("trace"):  # per-step records of unsupervised runs (refinement, restarts, adversarial epochs)
            d["trace"] = c["trace"]
    else:
        d["error"] = c.get("error")
    return d


def method_label(c: dict) -> str:
    return f"sup-{c['seed_n']}" if c["method"] == "sup" else c["method"]


def self_learning_text(params: dict) -> str:
    """The report's words for the self-learning stage of a run ('' without --self-learning)."""
    if not params.get("self_learning"):
        return ""
    cutoff = params.get("sl_stochastic_cutoff")
    where = f"; induced among the top {cutoff} words while p < 1" if cutoff else ""
    return f"stochastic self-learning from each start before the refinement (--self-learning{where}); "


def failure_check_lines(settings: list[dict]) -> list[str]:
    """The failure check's terms per unsupervised run (from each cell's mapping metadata): criterion, the refined
    null and the share of the headroom cleared, and for self-learned runs the self-learned null, its share, how many
    iterations it ran (of how many allowed; `cut` when the time budget stopped it) and the translations it shares."""
    rows = []
    for s in settings:
        for c in s.get("cells", []):
            m = c.get("meta") or {}
            if c.get("status") != "ok" or c["method"] not in UNSUPERVISED or "failed" not in m:
                continue
            if m.get("criterion_sl_null") is not None:
                its = f"{m.get('sl_null_iterations')}" + (f"/{m['sl_null_max_iter']}" if "sl_null_max_iter" in m else "")
                sl = (f"{ratio(m['criterion_sl_null'], 4)} | {ratio(m.get('criterion_sl_null_share'), 3)} | {its}"
                      f"{' cut' if m.get('sl_null_stopped_by_time') else ''} | {ratio(m.get('sl_null_agreement'), 3)}")
            else:
                sl = "- | - | - | -"
            run_its = "-" if "sl_iterations" not in m else (
                f"{m['sl_iterations']}{' cut' if m.get('sl_stopped_by_time') else ''}")
            rows.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {method_label(c)} | {c.get('seed', 0)} | "
                        f"{pct(c['p1'])} | {ratio(c.get('criterion'), 4)} | {ratio(m.get('criterion_refined_null'), 4)} | "
                        f"{ratio(m.get('criterion_headroom_share'), 3)} | {ratio(m.get('criterion_lift_ratio'), 2)} | "
                        f"{run_its} | {sl} | "
                        f"{'failed' if m['failed'] else 'ok'} |")
    if not rows:
        return []
    from udm.aligners.unsupervised import UnsupervisedAligner as U  # the thresholds the current code applies
    return ["## Failure check per run\n",
            "What each unsupervised run's own failure check measured (`udm/aligners/unsupervised.py`): the criterion "
            "of the refined orthogonal map; a random orthogonal start put through the same refinement (`refined null`) "
            f"and the share of the headroom above it the run cleared (needs {U.refined_null_margin:g}, unless `lift`, "
            f"how many times as far above random maps' criterion the run rises as the refined null, is "
            f"{U.refined_null_lift:g} or more; `-` where the code of the run's day did not record it); for self-learned "
            "runs the run's self-learning iterations (`cut`: stopped by the time budget) and a random start put through "
            f"the same self-learning and refinement (`SL null`; needs {U.sl_null_margin:g} of the headroom above it unless "
            f"`agree`, the share of the top {U.agreement_words:,} CSLS translations the two share, is "
            f"{U.sl_null_agreement:g} or more), with its iterations / the most it was allowed (the run's own count when "
            "the budget stopped the run). The thresholds are the current code's; a run was flagged by those of its "
            "day.\n",
            "| pair | regime | frac | method | seed | CSLS P@1 | criterion | refined null | share | lift | SL iters | "
            "SL null | SL share | SL null iters | agree | flag |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows, ""]


def render_markdown(results: dict) -> str:
    R = results
    meta = R["meta"]
    L: list[str] = []
    L.append("# BLI study: how close does unsupervised distribution matching come to supervised translation?\n")
    L.append("Every number below is written by `experiments/run_bli.py`; nothing is edited by hand.\n")
    L.append(f"- command: `{meta['command']}`")
    L.append(f"- date: {meta['date']} (study wall time {meta['wall_s']:.0f} s)")
    g = meta["git"]
    L.append(f"- commit: `{g['commit'][:12]}` ({g['subject']})" + (f"; uncommitted code files at run time: {', '.join(g['uncommitted_code_files'])}" if g["uncommitted_code_files"] else ""))
    m = meta["machine"]
    L.append(f"- machine: {m['cores']} cores, {m['ram']} RAM, {m['platform']}, Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}; "
             f"load average (1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in m['load_average_start'])}, at end "
             f"{'/'.join(f'{x:.1f}' for x in m['load_average_end'])} (the machine is shared: wall times scale with it)")
    if meta.get("rescored_cells"):
        L.append(f"- {meta['rescored_cells']} cached cell(s) were scored again from their kept mappings after the scoring "
                 "code changed (their fits, criteria and wall times are the original runs')")
    if meta.get("stale_cells"):
        L.append(f"- {meta['stale_cells']} cell result(s) were computed with an older version of the aligner code, or scored with an older version of the scoring code (report rebuilt with --report-only)")
    p = meta["params"]
    L.append(f"- mode: {'quick (committed fixtures)' if p['quick'] else 'full'}; vectors {p['dim']}-d skip-gram, {p['epochs']} epochs, "
             f"window 5, negative 5, min_count {p['min_count']}, training seed {p.get('vector_seed', 0)}"
             f"{', sentences reshuffled every epoch' if p.get('shuffle_sentences') else ''}"
             f"{', character n-grams ' + p['subwords'] + ' (fastText-style)' if p.get('subwords') else ''} (`udm.train.train_embeddings`); alignment on "
             f"{'the top ' + str(p['max_vocab']) if p['max_vocab'] else 'all'} words; refinement {p['refine_iters']} iterations"
             f"{' among the top ' + str(p['refine_rank']) + ' words' if p.get('refine_rank') else ''}"
             f"{' then the multi-step final map (--reweight: whitening, re-weighting, de-whitening; RCSLS excepted)' if p.get('reweight') else ''}; unsupervised: "
             f"{self_learning_text(p)}{p['seeds']} seed(s)"
             f"{' from seed ' + str(p['first_seed']) if p.get('first_seed') else ''}, "
             f"time budget {p['time_budget']} s, {p['restarts']} restart(s)")
    given = p.get("lexicon_split")
    L.append(f"- metric: CSLS P@1 on the test lexicon (test source words disjoint from the train lexicon"
             f"{'; train and test lexicons given: `--lexicon-split ' + ','.join(given) + '`' if given else ''}); "
             f"success = P@1 > {100 * SUCCESS_P1:.0f}%. Supervised = Procrustes on the whole train lexicon + refinement.\n")
    settings = R["settings"]
    # headline
    L.append("## Headline: supervised vs unsupervised\n")
    L.append("Unsupervised P@1 is the mean over seeds of the best method (by mean); `gap` = that / supervised P@1; "
             "`sel.` = P@1 of the run the dictionary-free criterion picks among all unsupervised runs of the row; "
             "`worth N` = labelled pairs at which Procrustes+refinement reaches the best unsupervised mean (log-interpolated; "
             "in brackets, the range the paired tests of the worth-N section allow).\n")
    L.append("| pair | regime | frac | test words (cov.) | sup. P@1 | RCSLS | identical | seed 500 | seed 1000 | best unsup. (method) | max | sel. | gap | worth N |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in settings:
        sm = s.get("summary") or {}
        cov = s.get("coverage") or {}
        covtxt = f"{cov.get('covered_words', '-')}/{cov.get('source_words', '-')}" if cov else "-"
        if s["status"] != "ok":
            L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {covtxt} | {s['status']}: {s['reason']} |||||||||")
            continue
        best = f"{pct(sm.get('best_unsup_p1'))} ({sm.get('best_method', '-')})" if sm.get("best_method") else "-"
        sel = None
        runs = [c for c in s["cells"] if c.get("status") == "ok" and c["method"] in UNSUPERVISED]
        if runs:
            sel = max(runs, key=lambda c: c["criterion"] if c.get("criterion") is not None else -1e9)["p1"]
        L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {covtxt} | {pct(sm.get('sup_p1'))} | {pct(sm.get('rcsls_p1'))} | "
                 f"{pct(sm.get('identical_p1'))} | {pct(sm.get('seed500_p1'))} | {pct(sm.get('seed1000_p1'))} | {best} | "
                 f"{pct(sm.get('best_unsup_max_p1'))} | {pct(sel)} | {ratio(sm.get('gap'))} | {worth_cell(sm.get('worth_n'))} |")
    L.append("")
    # gap per method
    L.append("## Gap to supervised, per method (mean P@1 over seeds / supervised P@1)\n")
    L.append("| pair | regime | frac | " + " | ".join(UNSUPERVISED) + " |")
    L.append("|---|---|---|" + "---|" * len(UNSUPERVISED))
    for s in settings:
        if s["status"] != "ok":
            continue
        ms = s["summary"].get("methods", {})
        L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | " +
                 " | ".join(f"{ratio(ms[mm]['gap'])} ({pct(ms[mm]['mean'])})" if mm in ms else "-" for mm in UNSUPERVISED) + " |")
    L.append("")
    # all cells detail
    L.append("## All results (P@1/5/10, NN and CSLS, %)\n")
    L.append("Unsupervised rows are means over seeds. Coverage = covered test source words / test source words.\n")
    L.append("| pair | regime | frac | method | runs | NN P@1 | NN P@5 | NN P@10 | CSLS P@1 | CSLS P@5 | CSLS P@10 | coverage |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in settings:
        if s["status"] != "ok":
            continue
        groups: dict[str, list] = {}
        for c in s["cells"]:
            if c.get("status") == "ok":
                groups.setdefault(method_label(c), []).append(c)
        def order(lbl: str) -> tuple:
            if lbl.startswith("sup-"):
                return (2, int(lbl[4:]))
            return (0 if lbl in UNSUPERVISED else 1, (UNSUPERVISED + SUPERVISED).index(lbl) if lbl in UNSUPERVISED + SUPERVISED else 99)
        for lbl in sorted(groups, key=order):
            cs = groups[lbl]
            mean = lambda r, k: sum(c["scores"][r][f"p@{k}"] for c in cs) / len(cs)  # noqa: E731
            cov = cs[0]["coverage"]
            L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {lbl} | {len(cs)} | " +
                     " | ".join(pct(mean(r, k)) for r in ("nn", "csls") for k in (1, 5, 10)) +
                     f" | {cov['covered_words']}/{cov['source_words']} |")
    L.append("")
    # worth N
    L.append("## Worth N labelled pairs\n")
    L.append("Supervised CSLS P@1 (Procrustes + refinement seeded with the N most frequent train pairs) against N.\n")
    ns_all = sorted({n for s in settings for n, _ in (s.get("summary") or {}).get("curve", [])})
    if ns_all:
        L.append("| pair | regime | frac | " + " | ".join(f"N={n}" for n in ns_all) + " | best unsup. | worth N | paired |")
        L.append("|---|---|---|" + "---|" * (len(ns_all) + 3))
        for s in settings:
            sm = s.get("summary") or {}
            if not sm.get("curve"):
                continue
            cv = dict(sm["curve"])
            L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | " + " | ".join(pct(cv.get(n)) for n in ns_all) +
                     f" | {pct(sm.get('best_unsup_p1'))} | {format_worth(sm.get('worth_n'))} |"
                     f" {format_worth_bounds((sm.get('worth_n') or {}).get('bounds')) or '-'} |")
        L.append("")
        tested = [s for s in settings if ((s.get("summary") or {}).get("worth_n") or {}).get("tests")]
        if tested:
            L.append("`paired`: what the word-by-word tests allow. The best method's runs pooled against each point of the "
                     "curve on the same test words (`udm.significance.compare_hits`; normal approximation, two-sided): "
                     "unsupervised minus supervised-N in points, and p. `N > a` = the runs beat supervised significantly "
                     "(p < 0.05) at N = a and at no larger point; `N < b` = supervised is significantly better from N = b. "
                     "Between the two the curve cannot tell them apart, so the interpolated worth N is only one reading.\n")
            L.append("| pair | regime | frac | " + " | ".join(f"N={n}" for n in ns_all) + " |")
            L.append("|---|---|---|" + "---|" * len(ns_all))
            for s in tested:
                by_n = {t["n"]: t for t in s["summary"]["worth_n"]["tests"]}
                cells = [f"{100 * by_n[n]['difference']:+.1f} (p {by_n[n]['p']:.2g})" if n in by_n else "-" for n in ns_all]
                L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | " + " | ".join(cells) + " |")
            L.append("")
    for pl in R["plots"]:
        if "_worth_n_" in pl:
            L.append(f"![{pl}]({pl})")
    L.append("")
    # robustness
    L.append("## Robustness over seeds\n")
    L.append(f"Success = CSLS P@1 > {100 * SUCCESS_P1:.0f}%. `flag ok` = share of runs where the aligner's own `failed` flag "
             "agrees with the outcome (failed <=> P@1 <= 5%). `rho` = Spearman(criterion, P@1) over the row's runs.\n")
    L.append("| pair | regime | frac | method | runs | success | mean | std | min | median | max | sel. by criterion | flag ok | rho |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in settings:
        for mm, d in (s.get("summary") or {}).get("methods", {}).items():
            L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {mm} | {d['runs']} | {pct(d['success_rate'], 0)}% | "
                     f"{pct(d['mean'])} | {pct(d['std'])} | {pct(d['min'])} | {pct(d['median'])} | {pct(d['max'])} | "
                     f"{pct(d['criterion_selected_p1'])} | {pct(d['flag_agreement'], 0)}% | {ratio(d['spearman_criterion_p1'])} |")
    A = R["criterion"]
    L.append("")
    L.append(f"Dictionary-free criterion vs P@1 over all {A['unsupervised_runs']} unsupervised runs: Spearman "
             f"{ratio(A['spearman_all'])} (criterion values are not on one scale across settings, so the within-setting "
             "correlations below are the fairer test).\n")
    if A["per_method"]:
        L.append("| method | runs | success | mean P@1 | Spearman (all settings) |")
        L.append("|---|---|---|---|---|")
        for mm, d in A["per_method"].items():
            L.append(f"| {mm} | {d['runs']} | {pct(d.get('success_rate'), 0)}% | {pct(d.get('mean'))} | {ratio(d['spearman'])} |")
        L.append("")
    if A["within_setting"]:
        L.append("| setting | runs | Spearman within setting |")
        L.append("|---|---|---|")
        for w in A["within_setting"]:
            L.append(f"| {w['setting']} | {w['runs']} | {ratio(w['spearman'])} |")
        L.append("")
    for pl in R["plots"]:
        if pl.endswith("_criterion.png"):
            L.append(f"![criterion vs P@1]({pl})\n")
    L.extend(failure_check_lines(settings))
    # scaling
    L.append("## Scaling: unsupervised / supervised ratio vs corpus fraction and regime\n")
    L.append("| pair | regime | fraction | sup. P@1 | best unsup. P@1 | ratio |")
    L.append("|---|---|---|---|---|---|")
    for s in sorted(settings, key=lambda s: (s["pair"], REGIMES.index(s["regime"]), s["fraction"])):
        sm = s.get("summary") or {}
        if s["status"] == "ok":
            L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {pct(sm.get('sup_p1'))} | {pct(sm.get('best_unsup_p1'))} | {ratio(sm.get('gap'))} |")
    L.append("")
    for pl in R["plots"]:
        if pl.endswith("_scaling.png"):
            L.append(f"![scaling]({pl})\n")
    # data
    L.append("## Data: corpus build, vectors and lexicon split per setting\n")
    L.append("Which finished build each setting used (run_bli reuses a build with the same split, fraction and sources: "
             "for `none` the one over the fewest languages, for `half` and `disjoint-sources` only the pair's own; a "
             "rerun on a machine with other builds under `--data-dir` may pick another), its vector files and the "
             "lexicon split.\n")
    L.append("| pair | regime | frac | corpus build (languages) | vectors src / tgt (words) | train words | test words |")
    L.append("|---|---|---|---|---|---|---|")
    for s in settings:
        info, vec = s.get("info") or {}, s.get("vectors") or {}
        build = info.get("corpus_build")
        build = os.path.relpath(build, ROOT) if build and os.path.isabs(build) else (build or "-")
        langs = ",".join(info.get("corpus_langs") or []) or "-"
        if info.get("corpus_sources") and _sources_tag(info["corpus_sources"]):
            langs += "; sources " + ",".join(info["corpus_sources"])
        vs = " / ".join(f"{Path(v['path']).name} ({v.get('words')})" for v in (vec.get("src"), vec.get("tgt")) if v and v.get("path"))
        split = info.get("split") or {}
        L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {build} ({langs}) | {vs or '-'} | "
                 f"{split.get('train_words', '-')} | {split.get('test_words', '-')} |")
    L.append("")
    # cost
    L.append("## Cost: wall time and peak RSS per method and pair\n")
    L.append("Median wall seconds per run (fit + evaluation, in its own process) and maximum peak RSS (MiB, whole process "
             "including Python and torch). Training rows: one vector file each.\n")
    L.append("| pair | regime | frac | method | runs | wall s (median) | peak RSS MiB (max) |")
    L.append("|---|---|---|---|---|---|---|")
    for s in settings:
        if s["status"] != "ok" and not s.get("vectors"):
            continue
        for side, v in (s.get("vectors") or {}).items():
            if v.get("train_wall_s") is not None:
                L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | train {side} ({v.get('words')} words) | 1 | "
                         f"{v['train_wall_s']:.1f} | {v.get('train_peak_rss_mb') or 0:.0f} |")
        groups = {}
        for c in s.get("cells", []):
            if c.get("status") == "ok":
                groups.setdefault(method_label(c) if c["method"] != "sup" else "sup-N (all N)", []).append(c)
        for lbl, cs in groups.items():
            walls = sorted(c["wall_s"] for c in cs)
            L.append(f"| {s['pair']} | {s['regime']} | {s['fraction']:g} | {lbl} | {len(cs)} | {walls[len(walls) // 2]:.1f} | "
                     f"{max(c.get('peak_rss_mb') or 0 for c in cs):.0f} |")
    L.append("")
    # not run
    L.append("## What did not run, and why\n")
    miss = []
    for s in settings:
        if s["status"] != "ok":
            miss.append(f"- {s['id']}: {s['status']}: {s['reason']}")
        reasons: dict[str, list] = {}
        for c in s.get("cells", []):
            if c.get("status") != "ok":
                reasons.setdefault(f"{c['status']}: {c.get('error')}", []).append(
                    method_label(c) + (f"#{c['seed']}" if c["method"] in UNSUPERVISED else ""))
        for why, who in reasons.items():
            miss.append(f"- {s['id']}: {', '.join(who[:12])}{' ...' if len(who) > 12 else ''} ({len(who)} cell(s)) {why}")
    L.extend(miss or ["- everything requested ran."])
    for note in meta.get("notes", []):
        L.append(f"- {note}")
    L.append("")
    return "\n".join(L)


# ====================================================================== main
def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="committed fixtures only (Bible en-es, en-fr, cipher)")
    ap.add_argument("--pairs", default=None, help=f"comma-separated (default quick: en-es,en-fr; full: {','.join(FULL_PAIRS)})")
    ap.add_argument("--regimes", default=None, help=f"comma-separated from {','.join(REGIMES)} (quick: cipher,none,half)")
    ap.add_argument("--methods", default=",".join(ALL_METHODS),
                    help="comma-separated from " + ",".join(ALL_METHODS) + " (weak = seeds of 500 and 1,000 pairs, curve = N sweep)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per unsupervised method (default 10; quick 1)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="aligner seed of the first run (default 0): seeds first, first+K, ... with K restarts")
    ap.add_argument("--fractions", default=None, help="corpus fractions for the scaling study (default 0.25,0.5,1; quick 1)")
    ap.add_argument("--fraction-regimes", default="none", help="regimes that get the fraction sweep")
    ap.add_argument("--fraction-pairs", default="en-es", help="quick mode: pairs that get the fraction sweep and the half regime")
    ap.add_argument("--time-budget", type=float, default=None, help="seconds per unsupervised fit (default 300; quick 15)")
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--vector-seed", type=int, default=0,
                    help="training seed of the vectors (robustness over vector training: run once per value)")
    ap.add_argument("--shuffle-sentences", action="store_true",
                    help="train the vectors with the sentences in a new order every epoch (udm.train's shuffle); the "
                         "built corpora hold their sources in blocks")
    ap.add_argument("--subwords", default=None, metavar="MIN-MAX",
                    help="train fastText-style vectors with character n-grams of these lengths (e.g. 3-6; "
                         "udm.train's subwords); default: plain skip-gram")
    ap.add_argument("--dim", type=int, default=None, help="vector dimension (default 300; quick 100)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="training epochs (default 5; quick 15: the 180k-token fixtures need more passes)")
    ap.add_argument("--min-count", type=int, default=None, help="default 5; quick 3 (the fixture lexicons' threshold)")
    ap.add_argument("--max-vocab", type=int, default=None, help="align/evaluate on the top N words (default 20000; quick all)")
    ap.add_argument("--test-size", type=int, default=1500)
    ap.add_argument("--lexicon-split", metavar="TRAIN,TEST", default=None,
                    help="MUSE-format train and test lexicons to use instead of splitting the gold lexicon on each "
                         "setting's vocabularies (one pair only; the cipher keeps its fixtures): compares vectors "
                         "whose frequency order differs on the same test words")
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--refine-rank", type=int, default=None, metavar="N",
                    help="the shared refinement induces its dictionary among the top N words of each side (default: "
                         "the aligners', 15000); every method but RCSLS; cached apart")
    ap.add_argument("--self-learning", action="store_true",
                    help="every unsupervised method carries its start on with stochastic self-learning before the "
                         "refinement (udm.self_learning); cached apart")
    ap.add_argument("--sl-stochastic-cutoff", type=int, default=None, metavar="N",
                    help="with --self-learning: induce among the top N words while the keep-probability is below 1 "
                         "(SelfLearningSchedule.stochastic_cutoff; default: the stage's, udm.self_learning.STAGE_SCHEDULE, "
                         "10000; 20000 gives the former schedule, all 20k words throughout); cached apart")
    ap.add_argument("--reweight", action="store_true",
                    help="every aligner but RCSLS ends with the multi-step final map (udm.reweighting); cached apart")
    ap.add_argument("--threads", type=int, default=None, help="torch threads inside each cell (default: left alone)")
    ap.add_argument("--data-dir", default=str(ROOT / "data"), help="where corpora builds live / are written")
    ap.add_argument("--corpus-cache", default=str(ROOT / "data" / "cache"), help="download cache of the corpora builder")
    ap.add_argument("--cache-dir", default=str(ROOT / "experiments" / "cache"))
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    ap.add_argument("--name", default="bli", help="basename of the result files (bli.md, bli.json)")
    ap.add_argument("--no-build", action="store_true", help="never build corpora; use finished builds only")
    ap.add_argument("--sources", default=None,
                    help="comma-separated corpus sources of the real-corpus builds, or all (default: the default "
                         "sources of `udm corpora build`); only builds made from exactly these sources are reused, new "
                         "ones are written under <data-dir>/bli/ with a suffix naming what was left out or added")
    ap.add_argument("--retry-failed", action="store_true", help="rerun cached failed cells")
    ap.add_argument("--need-mappings", action="store_true",
                    help="rerun cached cells whose fitted mapping was not kept (every cell run now keeps it, as "
                         "<cache>/cells/<key>.mapping.npz, for paired comparisons with `udm eval --compare`)")
    ap.add_argument("--cell-timeout", type=float, default=None)
    ap.add_argument("--train-timeout", type=float, default=7200)
    ap.add_argument("--build-timeout", type=float, default=7200)
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rebuild the report from cached cells (cells cached under older code are used "
                         "and counted as such)")
    ap.add_argument("--plan", action="store_true", help="print (and write <name>_plan.md) what would run: cached cells, cells to run, estimated time; runs nothing")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--note", action="append", default=[], help="a line added to 'what did not run' (e.g. time limits)")
    args = ap.parse_args(argv)
    q = args.quick
    args.pairs = [p for p in (args.pairs or ("en-es,en-fr" if q else ",".join(FULL_PAIRS))).split(",") if p]
    args.regimes = [r for r in (args.regimes or ("cipher,none,half" if q else ",".join(REGIMES))).split(",") if r]
    args.methods = [m for m in args.methods.split(",") if m]
    for r in args.regimes:
        if r not in REGIMES:
            ap.error(f"unknown regime {r}; choose from {','.join(REGIMES)}")
    for m in args.methods:
        if m not in ALL_METHODS:
            ap.error(f"unknown method {m}; choose from {','.join(ALL_METHODS)}")
    if args.refine_rank is not None and args.refine_rank < 2:
        ap.error(f"--refine-rank {args.refine_rank}: needs at least 2 words")
    if args.sl_stochastic_cutoff is not None and (not args.self_learning or args.sl_stochastic_cutoff < 2):
        ap.error(f"--sl-stochastic-cutoff {args.sl_stochastic_cutoff}: needs --self-learning and a value of at least 2")
    if args.subwords is not None:
        from udm.errors import UdmError
        from udm.subwords import parse_ngram_range

        try:
            ng = parse_ngram_range(args.subwords)
        except UdmError as e:
            ap.error(str(e))
        args.subwords = f"{ng[0]}-{ng[1]}" if ng else None  # one spelling per range, so the cache key is too
    args.seeds = args.seeds if args.seeds is not None else (1 if q else 10)
    args.time_budget = args.time_budget if args.time_budget is not None else (15.0 if q else 300.0)
    args.epochs = args.epochs or (15 if q else 5)
    args.dim = args.dim or (100 if q else 300)
    args.min_count = args.min_count or (3 if q else 5)
    args.max_vocab = args.max_vocab if args.max_vocab is not None else (None if q else 20000)
    args.fractions = [float(f) for f in (args.fractions or ("1" if q else "0.25,0.5,1")).split(",") if f]
    args.fraction_regimes = [r for r in args.fraction_regimes.split(",") if r]
    args.fraction_pairs = [p for p in args.fraction_pairs.split(",") if p]
    args.supervised_only_on_full = True
    args.none_langs = sorted({x for p in args.pairs for x in p.split("-")})
    args.sources = [x for x in args.sources.split(",") if x] if args.sources else None
    try:
        requested_sources(args)
    except ValueError as e:
        ap.error(str(e))
    if args.lexicon_split:
        files = [Path(x) for x in args.lexicon_split.split(",")]
        if len(files) != 2 or not all(f.is_file() for f in files):
            ap.error(f"--lexicon-split {args.lexicon_split}: give two existing files, TRAIN,TEST")
        if len(args.pairs) != 1:
            ap.error(f"--lexicon-split holds one pair's lexicons; run one --pairs at a time, not {len(args.pairs)}")
        args.lexicon_split = tuple(files)
    args.cache = Path(args.cache_dir)
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    from tqdm.auto import tqdm

    t_start = time.time()
    load_start = list(os.getloadavg())
    args.cache.mkdir(parents=True, exist_ok=True)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    def log(msg: str) -> None:
        tqdm.write(f"[bli {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr)
    args.log = log

    available = available_methods()
    for m in UNSUPERVISED:
        if m in args.methods and m not in available:
            log(available["_why_" + m])
    settings = plan_settings(args)
    cells: dict[str, list[dict]] = {}
    # 1. prepare every setting (corpora, vectors, lexicons); 2. run its cells
    for st in settings:
        if args.report_only or args.plan:
            args.no_build = True
        try:
            if args.quick or st.regime == "cipher":
                st.corpora = derive_fixture_corpora(st, args.cache)
            else:
                st.corpora = build_real_corpora(st, args)
            ensure_vectors(st, args)
            ensure_lexicons(st, args)
            from udm.embeddings import Embeddings
            from udm.lexicon import Lexicon
            src = Embeddings.load(st.vectors["src"]["path"]).top(args.max_vocab)
            tgt = Embeddings.load(st.vectors["tgt"]["path"]).top(args.max_vocab)
            has_train = st.info["train_pairs"] > 0  # a small lexicon can go entirely to the test split
            st.info["train_words"] = len(Lexicon.load(st.train_lex).covered_sources_by_rank(src, tgt)) if has_train else 0
            st.info["coverage"] = Lexicon.load(st.test_lex).coverage(src, tgt).to_dict()
            st.status = "ok"
            if not has_train and not st.coverage_only:
                st.fail(f"the {st.pair} lexicon leaves no train pairs beside {st.info['test_pairs']} test pairs", "coverage-only")
            if st.coverage_only:
                st.fail(f"{st.info['split']['test_words']} test words < {MIN_TEST_WORDS}, too few to score", "coverage-only")
        except Exception as exc:  # noqa: BLE001 - a setting that cannot be prepared is recorded, not fatal
            st.fail(f"{type(exc).__name__}: {exc}")
            log(f"{st.id}: {st.reason}")
    ready = [st for st in settings if st.status == "ok"]
    specs = [(st, sp) for st in ready for sp in cell_specs(st, args, available)]
    command = script_command(__file__, argv)
    if args.plan:
        text = render_plan(settings, specs, args, command)
        from udm.atomic import atomic_open
        with atomic_open(out_dir / f"{args.name}_plan.md") as fh:
            fh.write(text)
        print(text, end="")
        log(f"wrote {out_dir / (args.name + '_plan.md')}")
        return 0
    bar = tqdm(specs, desc="BLI cells", unit="cell", disable=not progress, file=sys.stderr)
    for st, sp in bar:
        label = f"{st.id} {sp['method']}{'-' + str(sp['seed_n']) if sp.get('seed_n') else ''}#{sp['seed']}"
        bar.set_postfix_str(label)
        rec = run_cell(sp, args)
        if rec.get("status") != "ok" and rec.get("status") != "skipped" and not rec.get("cached"):
            log(f"{label}: {rec.get('status')}: {rec.get('error')}")
        cells.setdefault(st.id, []).append(rec)
    # 3. aggregate and write
    out_settings = []
    for st in settings:
        cs = cells.get(st.id, [])
        d = {"id": st.id, "pair": st.pair, "regime": st.regime, "fraction": st.fraction, "status": st.status,
             "reason": st.reason, "corpora": {k: str(v) for k, v in st.corpora.items()},
             "train_lexicon": str(st.train_lex) if st.train_lex else None,
             "test_lexicon": str(st.test_lex) if st.test_lex else None,
             "vectors": st.vectors, "info": st.info, "coverage": st.info.get("coverage"),
             "cells": [compact_cell(c) for c in cs]}
        if st.status == "ok":
            d["summary"] = summarize_setting(st, cs)
        out_settings.append(d)
    results = {
        "meta": {"command": command,
                 "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "wall_s": time.time() - t_start,
                 "git": git_info(), "machine": {**machine_info(), "load_average_start": load_start,
                                                 "load_average_end": list(os.getloadavg())},
                 "stale_cells": sum(1 for cs in cells.values() for c in cs if c.get("stale_code")),
                 "rescored_cells": sum(1 for cs in cells.values() for c in cs if c.get("rescored")),
                 "params": {**{k: getattr(args, k) for k in ("quick", "pairs", "regimes", "methods", "seeds", "first_seed", "fractions",
                                                           "time_budget", "restarts", "dim", "epochs", "min_count",
                                                           "max_vocab", "test_size", "refine_iters", "threads", "vector_seed", "shuffle_sentences", "subwords",
                                                              "reweight", "self_learning", "refine_rank")},
                            "sl_stochastic_cutoff": effective_stochastic_cutoff(args),
                            "lexicon_split": [str(f) for f in args.lexicon_split] if args.lexicon_split else None},
                 "methods_available": {m: available.get(m, available.get("_why_" + m)) for m in UNSUPERVISED},
                 "notes": args.note},
        "settings": out_settings,
    }
    results["criterion"] = summarize_all(settings, cells)
    results["plots"] = [] if args.no_plots else write_plots(results, out_dir, args.name)
    write_report(out_dir, args.name, results, render_markdown(results))
    log(f"wrote {out_dir / (args.name + '.md')} and .json ({time.time() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
