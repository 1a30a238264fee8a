"""The ``udm`` command line: a few verbs with sensible defaults (align, eval, translate, demo, train, corpora)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import UdmError

EXIT_BAD_INPUT = 2
EXIT_FAILED_ALIGNMENT = 3


def _add_common_io(p: argparse.ArgumentParser) -> None:
    p.add_argument("--src", required=True, help="source embeddings (.vec text or .npz)")
    p.add_argument("--tgt", required=True, help="target embeddings (.vec text or .npz)")
    p.add_argument("--max-vocab", type=int, default=200000, help="read at most this many words per side (default 200000)")
    p.add_argument("--lower", action="store_true", help="lowercase words, keeping the first (most frequent) casing")
    p.add_argument("--skip-bad-lines", action="store_true", help="skip malformed .vec lines (logged) instead of stopping")


def _load_pair(args):
    from .embeddings import Embeddings

    on_error = "skip" if args.skip_bad_lines else "raise"
    src = Embeddings.load(args.src, max_vocab=args.max_vocab, lower=args.lower, on_error=on_error)
    tgt = Embeddings.load(args.tgt, max_vocab=args.max_vocab, lower=args.lower, on_error=on_error)
    return src, tgt


def _write_report(report, args) -> None:
    from .atomic import atomic_open

    print(report.to_table())
    if getattr(args, "json", None):
        with atomic_open(args.json) as fh:
            fh.write(report.to_json() + "\n")
    if getattr(args, "markdown", None):
        with atomic_open(args.markdown) as fh:
            fh.write(report.to_markdown())


# -- align ---------------------------------------------------------------------------------------
def _cmd_align(args) -> int:
    from .aligners import aligner_class
    from .atomic import atomic_open
    from .evaluate import evaluate_mapping
    from .lexicon import Lexicon
    from .seeds import seed_dictionary

    cls = aligner_class(args.method)
    src, tgt = _load_pair(args)
    params = dict(normalize=args.normalize, csls_k=args.csls_k, seed=args.seed, progress=not args.quiet,
                  refine_rank=args.refine_rank, reweight=args.reweight)
    if args.refine is not None:
        params["refine_iters"] = args.refine
    if not cls.needs_dictionary:
        params.update(restarts=args.restarts, time_budget=args.time_budget, device=args.device,
                      self_learning=args.self_learning, orthographic_check=args.orthographic_check)
    elif args.self_learning:
        raise UdmError(f"--self-learning applies to the unsupervised methods, not {args.method}")
    aligner = cls(**params)
    seeds = None
    if cls.needs_dictionary:
        lexicon = Lexicon.load(args.dict) if args.dict else None
        seeds = seed_dictionary(args.seed_dict, src, tgt, lexicon, max_rank=args.refine_rank)
        print(f"seed dictionary: {len(seeds)} pairs ({args.seed_dict})", file=sys.stderr)
    mapping = aligner.fit(src, tgt, seeds)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "align.json") as fh:
        json.dump(mapping.meta, fh, indent=2, default=str)
    if mapping.failed:
        mapping.save(out / "failed_mapping.npz")
        if mapping.meta.get("failed_by") == "orthography":  # every criterion check passed; the spellings did not
            why = (f"passes the criterion checks, but the map sends only {mapping.meta['orthographic_agreement']:.1%} of the "
                   f"{mapping.meta['orthographic_words']} identically spelled words to themselves (needs "
                   f"{mapping.meta['orthographic_needed']:.1%}; --no-orthographic-check turns this off where shared "
                   f"spellings mean different things)")
        elif "criterion_sl_null" in mapping.meta:  # only computed when the refined-random-map check passed
            why = (f"clears a self-learned random start's {mapping.meta['criterion_sl_null']:.4f} by only "
                   f"{mapping.meta['criterion_sl_null_share']:.3f} of the headroom (needs {mapping.meta['criterion_sl_null_needed']:.3f})")
        elif "criterion_refined_null" in mapping.meta:
            why = (f"clears a refined random map's {mapping.meta['criterion_refined_null']:.4f} by only "
                   f"{mapping.meta['criterion_headroom_share']:.2f} of the headroom (needs {mapping.meta['criterion_headroom_needed']:.2f}) "
                   f"and rises only {mapping.meta['criterion_lift_ratio']:.2f} times as far above random maps' as it "
                   f"(needs {mapping.meta['criterion_lift_needed']:.1f})")
        else:
            why = f"is not above random maps' {mapping.meta.get('criterion_null_mean'):.4f}"
        print(f"udm: alignment FAILED: dictionary-free criterion {mapping.meta.get('criterion'):.4f} {why}; "
              f"no mapping.npz written "
              f"(inspect {out / 'failed_mapping.npz'}; try --restarts, another --method, or more data)", file=sys.stderr)
        return EXIT_FAILED_ALIGNMENT
    mapping.save(out / "mapping.npz")
    if args.export:
        mapping.export_vec(src, out / "src.mapped.vec")
        tgt.with_vectors(mapping.prepare_target(tgt)).save(out / "tgt.normalized.vec")
        mapping.induced_lexicon(src, tgt, max_rank=args.refine_rank, csls_k=args.csls_k).save(out / "dictionary.txt")
    summary = {k: v for k, v in mapping.meta.items() if k not in ("refinement", "restarts", "rcsls_loss")}
    print(json.dumps(summary, default=str))
    print(f"mapping written to {out / 'mapping.npz'}", file=sys.stderr)
    if args.eval:
        report = evaluate_mapping(mapping, src, tgt, Lexicon.load(args.eval), csls_k=args.csls_k, progress=not args.quiet)
        args.json, args.markdown = str(out / "bli.json"), str(out / "bli.md")
        _write_report(report, args)
    return 0


# -- eval / translate ----------------------------------------------------------------------------
def _identity_or_load(path: Optional[str], dim: int, normalize_spec: str):
    import numpy as np

    from .mapping import Mapping

    if path:
        return Mapping.load(path)
    return Mapping(np.eye(dim, dtype=np.float32), normalize_spec, normalize_spec, {"method": "identity"})


def _cmd_eval(args) -> int:
    from .evaluate import evaluate_mapping
    from .lexicon import Lexicon

    src, tgt = _load_pair(args)
    methods = [m.strip() for m in args.retrieval.split(",") if m.strip()]
    test = Lexicon.load(args.dict)

    def load(path: Optional[str]):
        mapping = _identity_or_load(path, src.dim, args.normalize)
        if mapping.W.shape != (src.dim, tgt.dim):
            raise UdmError(f"{path or 'the identity map'} is {mapping.W.shape[0]}x{mapping.W.shape[1]} but the vectors "
                           f"are {src.dim}- and {tgt.dim}-dimensional")
        return mapping

    # both mappings are read (and checked) before either is evaluated: a bad --compare file fails at once
    mappings = [load(args.mapping)] + ([load(args.compare)] if args.compare else [])
    report, *others = [evaluate_mapping(m, src, tgt, test, methods=methods, csls_k=args.csls_k, progress=not args.quiet)
                       for m in mappings]
    if args.compare:
        from .significance import compare_reports

        paired = [compare_reports(report, others[0], m, 1) for m in methods]
        report.meta["compare"] = {"a": args.mapping or "identity", "b": args.compare,
                                  "p@1": {c.method: c.to_dict() for c in paired}}
    _write_report(report, args)
    if args.compare:
        print(f"paired test, A = {args.mapping or 'identity'}, B = {args.compare}:")
        for c in paired:
            print("  " + str(c))
    return 0


def _cmd_translate(args) -> int:
    from .retrieval import retrieve

    src, tgt = _load_pair(args)
    mapping = _identity_or_load(args.mapping, src.dim, args.normalize)
    x = mapping.transform(src.vectors)
    y = mapping.prepare_target(tgt.vectors)
    missing = [w for w in args.words if w not in src]
    for w in missing:
        print(f"{w}\t(not in the source vocabulary)")
    words = [w for w in args.words if w in src]
    if not words:
        return 1 if missing else 0
    idx, scores = retrieve(x[src.indices(words)], y, k=args.k, method=args.retrieval, csls_k=args.csls_k, source_pool=x)
    for w, row, sc in zip(words, idx, scores):
        print(w + "\t" + "  ".join(f"{tgt.words[j]} ({s:.3f})" for j, s in zip(row, sc)))
    return 0


# -- demo ----------------------------------------------------------------------------------------
def _cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(out=args.output, quick=args.quick, progress=not args.quiet, methods=args.methods, pairs=args.pairs)


def build_parser() -> argparse.ArgumentParser:
    from .normalize import DEFAULT_SPEC

    parser = argparse.ArgumentParser(prog="udm", description="Unsupervised distribution-matching translation: "
                                     "align two monolingual embedding spaces, with or without a dictionary.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("align", help="fit a mapping from source to target embeddings")
    _add_common_io(p)
    p.add_argument("--method", default="auto", help="gw, wp, adversarial, selflearn, auto (unsupervised), "
                   "procrustes or rcsls (need --dict or --seed-dict identical); default auto")
    p.add_argument("-o", "--output", required=True, help="output folder (mapping.npz, align.json)")
    p.add_argument("--dict", help="seed dictionary for supervised methods (MUSE format: 'src tgt' per line)")
    p.add_argument("--seed-dict", default="all", help="all | frequent:N | identical (default all)")
    p.add_argument("--normalize", default=DEFAULT_SPEC, help=f"normalisation spec (default {DEFAULT_SPEC})")
    p.add_argument("--refine", type=int, default=None, help="refinement iterations (default: the method's)")
    p.add_argument("--refine-rank", type=int, default=15000, help="words per side used for dictionary induction")
    p.add_argument("--restarts", type=int, default=1, help="unsupervised restarts; the criterion keeps the best")
    p.add_argument("--reweight", action="store_true",
                   help="end with the multi-step map (whitening, re-weighting, de-whitening; Artetxe et al. 2018) "
                        "fitted on the dictionary the refined map induces; it transforms both spaces")
    p.add_argument("--self-learning", action="store_true",
                   help="unsupervised methods: carry the start on with stochastic self-learning (Artetxe et al. "
                        "2018) before the refinement (its stochastic iterations on the top 10k words, then all "
                        "20k: udm.self_learning.STAGE_SCHEDULE); slower, but it gets rough starts out of the "
                        "refinement's fixed points")
    p.add_argument("--no-orthographic-check", dest="orthographic_check", action="store_false",
                   help="unsupervised methods: do not fail a run for sending too few identically spelled words to "
                        "themselves (the share is still reported; use it where shared spellings mean different things)")
    p.add_argument("--time-budget", type=float, default=None, help="seconds the whole unsupervised fit may take (search 85%%, then refinement and the failure check)")
    p.add_argument("--device", default=None, help="torch device for methods that support one (e.g. cuda)")
    p.add_argument("--csls-k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", action="store_true", help="also write src.mapped.vec, tgt.normalized.vec (the target as the mapping compares it) and dictionary.txt (the map's induced dictionary: CSLS mutual nearest neighbours among the --refine-rank words, MUSE format)")
    p.add_argument("--eval", metavar="TEST_DICT", help="evaluate BLI on this test dictionary afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_align)

    p = sub.add_parser("eval", help="BLI evaluation of a mapping on a test dictionary")
    _add_common_io(p)
    p.add_argument("--mapping", help="mapping.npz from 'udm align' (default: identity, for pre-aligned vectors)")
    p.add_argument("--dict", required=True, help="test dictionary (MUSE format)")
    p.add_argument("--compare", metavar="MAPPING_B",
                   help="a second mapping.npz scored on the same test words: prints each retrieval's P@1 difference "
                        "with the exact McNemar test on the words only one of the two gets right")
    p.add_argument("--retrieval", default="nn,csls", help="comma list of nn, csls, isf (default nn,csls)")
    p.add_argument("--normalize", default=DEFAULT_SPEC, help="normalisation used with --mapping absent")
    p.add_argument("--csls-k", type=int, default=10)
    p.add_argument("--json", help="also write the report as JSON here")
    p.add_argument("--markdown", help="also write the report as Markdown here")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("translate", help="top-k translations of words with scores")
    p.add_argument("words", nargs="+", metavar="WORD")
    _add_common_io(p)
    p.add_argument("--mapping", help="mapping.npz from 'udm align' (default: identity)")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--retrieval", default="csls", help="nn, csls or isf (default csls)")
    p.add_argument("--normalize", default=DEFAULT_SPEC)
    p.add_argument("--csls-k", type=int, default=10)
    p.set_defaults(func=_cmd_translate)

    p = sub.add_parser("demo", help="train vectors on the shipped Bible fixture, align them, print the BLI table")
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--methods", default=None, help="comma list of methods (default procrustes,selflearn,gw,wp)")
    p.add_argument("--pairs", default=None, help="comma list of en-cipher, en-es, en-fr (default en-cipher,en-es)")
    p.add_argument("--quick", action="store_true", help="fewer epochs and shorter time budgets")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)

    from .corpora import cli as corpora_cli
    from . import train_cli

    train_cli.add_subparser(sub)
    corpora_cli.add_subparser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except UdmError as exc:
        print(f"udm: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("udm: interrupted; outputs written so far are complete, nothing partial was left", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
