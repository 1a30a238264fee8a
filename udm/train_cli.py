"""The ``udm train`` verb: skip-gram word vectors from a text corpus (``python -m udm.train_cli`` works too)."""
from __future__ import annotations

import argparse
import logging
import contextlib
import sys
from pathlib import Path

from .errors import UdmError
from .subwords import DEFAULT_BUCKETS

FORMATS = ("vec", "npz")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("corpus", help="UTF-8 text file (optionally .gz), one sentence per line")
    p.add_argument("-o", "--output", required=True, help="output vectors: .vec (text) or .npz (binary)")
    p.add_argument("--format", choices=FORMATS, action="append",
                   help="also/instead write this format next to OUT (repeatable: --format vec --format npz); "
                        "default: from the suffix of OUT")
    p.add_argument("--lang", default="en", help="corpus language for the tokenizer (ISO 639-1, default en)")
    p.add_argument("--dim", type=int, default=300, help="vector size (default 300)")
    p.add_argument("--window", type=int, default=5, help="max context window, randomly shrunk (default 5)")
    p.add_argument("--negative", type=int, default=5, help="negative samples per centre word (default 5)")
    p.add_argument("--min-count", type=int, default=5, help="ignore words rarer than this (default 5)")
    p.add_argument("--max-vocab", type=int, default=None, help="keep only the N most frequent words")
    p.add_argument("--epochs", type=int, default=5, help="passes over the corpus (default 5)")
    p.add_argument("--lr", type=float, default=0.025, help="initial learning rate, decays linearly (default 0.025)")
    p.add_argument("--sample", type=float, default=1e-3, help="frequent-word subsampling threshold (default 1e-3; 0 = off)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own setting)")
    p.add_argument("--seed", type=int, default=0, help="random seed (with --threads 1 runs are bit-identical)")
    p.add_argument("--subwords", default=None, metavar="MIN-MAX",
                   help="fastText character n-grams, e.g. 3-6 (default: off)")
    p.add_argument("--buckets", type=int, default=DEFAULT_BUCKETS,
                   help=f"hash buckets for subwords (default {DEFAULT_BUCKETS:,}; only used ones take memory)")
    p.add_argument("--batch", type=int, default=None, help="centre words in flight per update round, split among the --threads workers (default 256)")
    p.add_argument("--shuffle", action="store_true",
                   help="read the sentences in a new seeded order every epoch (for corpora that are concatenated sources)")
    p.add_argument("--no-lower", action="store_true", help="keep case (default: lowercase)")
    p.add_argument("--checkpoint-dir", default=None, help="where to keep per-epoch checkpoints (default OUT.ckpt/)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the checkpoint folder after success")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``train`` on an ``argparse`` subparsers object; the handler is stored as ``func``."""
    p = subparsers.add_parser("train", help="train skip-gram word vectors on a monolingual corpus",
                              description="Train skip-gram (negative sampling) word vectors, optionally with "
                                          "fastText subwords; writes OUT atomically, checkpoints every epoch.")
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def _outputs(out: Path, formats: list[str] | None) -> list[Path]:
    suffix = out.suffix.lstrip(".")
    if not formats:
        if suffix not in FORMATS:
            raise UdmError(f"output {out} must end in .vec or .npz (or pass --format vec|npz)")
        return [out]
    paths = []
    for f in dict.fromkeys(formats):
        paths.append(out if suffix == f else (out.with_suffix("." + f) if suffix in FORMATS else Path(f"{out}.{f}")))
    return paths


def run(args: argparse.Namespace) -> int:
    from .train import CHECKPOINT_NAME, DEFAULT_BATCH, TrainConfig, train_model
    from .subwords import parse_ngram_range

    out = Path(args.output)
    outputs = _outputs(out, args.format)
    for o in outputs:
        if o.exists() and o.is_dir():
            raise UdmError(f"output {o} is a directory; give a file name ending in .vec or .npz")
    ckpt = Path(args.checkpoint_dir) if args.checkpoint_dir else out.with_name(out.name + ".ckpt")
    cfg = TrainConfig(lang=args.lang, dim=args.dim, window=args.window, negative=args.negative,
                      min_count=args.min_count, max_vocab=args.max_vocab, epochs=args.epochs, seed=args.seed,
                      lr=args.lr, sample=args.sample, subwords=parse_ngram_range(args.subwords),
                      buckets=args.buckets, batch=args.batch or DEFAULT_BATCH, lower=not args.no_lower,
                      shuffle=args.shuffle)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = train_model(args.corpus, cfg, threads=args.threads, checkpoint_dir=ckpt, resume=args.resume,
                            progress=not args.quiet)
    except KeyboardInterrupt:
        done = (ckpt / CHECKPOINT_NAME).is_file()
        raise UdmError("interrupted; " + (f"the last finished epoch is checkpointed in {ckpt}: rerun with --resume"
                                          if done else "no epoch had finished, nothing was written")) from None
    emb = model.embeddings()
    for o in outputs:
        emb.save(o)
        if not args.quiet:
            print(f"wrote {len(emb)} vectors of dim {emb.dim} to {o}", file=sys.stderr)
    if not args.keep_checkpoints:
        (ckpt / CHECKPOINT_NAME).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            ckpt.rmdir()  # only when empty: never delete anything else a user keeps there
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="udm train", description="Train skip-gram word vectors on a monolingual corpus.")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except UdmError as exc:
        print(f"udm: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
