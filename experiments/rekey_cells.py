"""Carry cached ``run_bli.py`` cells over to the current cache keys when the code their fit runs is unchanged.

A cell's cache key hashes the code its fit depends on (``run_bli.FIT_CODE`` and the method's files). Before that
split the key also hashed ``udm/evaluate.py``, so any change to scoring made every cached cell stale and a study
had to refit hours of cells. Given the revision the cells were computed at, this recomputes that revision's key
hash (the old way and the current way), checks that the fit code there is today's, and copies each matching cell
(and its kept mapping) to its current key with ``eval_code`` set to that revision's scoring hash: ``run_bli`` then
rescores it from the kept mapping, or refits it when none was kept. Cells whose fit code changed are left stale.
Nothing is deleted.

With ``--ignore-docstrings`` a fit file may also differ in its docstrings and comments only: each file's syntax
tree, docstrings removed, must equal today's (no fit code reads a docstring), so an edit of the prose in an aligner
module does not cost hours of refits. The carried cell records that basis (``rekey_basis``).

    python experiments/rekey_cells.py --from-rev ed70422 [--ignore-docstrings] [--cache-dir experiments/cache] [--dry-run]
"""
from __future__ import annotations

import argparse
import ast
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
sys.path.insert(0, str(ROOT))

import run_bli  # noqa: E402
from bli_core import files_sha256, read_cell, write_json  # noqa: E402

# the aligner code list of the keys before the fit/scoring split (ed70422 and earlier): scoring hashed in
PRE_SPLIT_ALIGN_CODE = ["udm/aligners/base.py", "udm/refinement.py", "udm/procrustes.py", "udm/normalize.py",
                        "udm/evaluate.py", "udm/retrieval.py", "udm/lexicon.py", "udm/criteria.py",
                        "udm/reweighting.py", "udm/mapping.py"]


def code_files() -> list[str]:
    """Every file an old or a current cell key hashes."""
    return sorted(set(PRE_SPLIT_ALIGN_CODE + run_bli.FIT_CODE + run_bli.EVAL_CODE
                      + [f for fs in run_bli.METHOD_CODE.values() for f in fs]))


def checkout_code(rev: str, dest: Path) -> None:
    """Write the code files as they were at git revision ``rev`` under ``dest`` (files absent there stay absent)."""
    for rel in code_files():
        res = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=ROOT, capture_output=True)
        if res.returncode == 0:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(res.stdout)


def _hash(tree: Path, files: list[str]) -> str:
    return files_sha256([tree / f for f in files], root=tree)


def code_without_docstrings(source: str) -> str:
    """A Python file's syntax tree with every module, class and function docstring removed, as text: two files
    with the same value run the same code (comments and layout never reach the tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def same_code_apart_from_docstrings(old_tree: Path, files: list[str]) -> bool:
    """Whether every file of ``files`` under ``old_tree`` runs the same code as today's (absent on both sides counts
    as the same; a file that does not parse on either side does not)."""
    for rel in files:
        old, now = old_tree / rel, ROOT / rel
        if old.is_file() != now.is_file():
            return False
        if not old.is_file():
            continue
        try:
            if code_without_docstrings(old.read_text()) != code_without_docstrings(now.read_text()):
                return False
        except SyntaxError:
            return False
    return True


def rekey(cache: Path, old_tree: Path, *, dry_run: bool = False,
          ignore_docstrings: bool = False) -> dict[str, list[str]]:
    """Copy the cells of ``cache`` computed with the code under ``old_tree`` (a revision's files; keyed the
    pre-split or the current way) to their current keys when their fit code is today's (with
    ``ignore_docstrings``: today's apart from docstrings and comments). Returns the cell keys by outcome: carried,
    already (a current cell exists), fit_changed, other (computed with yet other code, or not a cell)."""
    out: dict[str, list[str]] = {"carried": [], "already": [], "fit_changed": [], "other": []}
    eval_then = _hash(old_tree, run_bli.EVAL_CODE)

    @functools.cache
    def method_code(method: str) -> tuple[tuple[str, str], str, Optional[str]]:
        """Per method, once: the keys it had at the old revision, today's key, and the basis for carrying."""
        fit_files = run_bli.FIT_CODE + run_bli.METHOD_CODE[method]
        fit_then, fit_now = _hash(old_tree, fit_files), run_bli.fit_code_hash(method)
        if fit_then == fit_now:
            basis: Optional[str] = "the same fit code"
        elif ignore_docstrings and same_code_apart_from_docstrings(old_tree, fit_files):
            basis = "the same fit code apart from docstrings and comments"
        else:
            basis = None
        return (_hash(old_tree, PRE_SPLIT_ALIGN_CODE + run_bli.METHOD_CODE[method]), fit_then), fit_now, basis

    for path in sorted((cache / "cells").glob("*.json")):
        rec = read_cell(path)
        spec = (rec or {}).get("spec") or {}
        method = spec.get("method")
        if method not in run_bli.METHOD_CODE:
            out["other"].append(path.stem)
            continue
        keys_then, fit_now, basis = method_code(method)
        if spec.get("code") not in keys_then or spec["code"] == fit_now:  # other code, or today's key already
            out["other"].append(path.stem)
            continue
        if basis is None:
            out["fit_changed"].append(path.stem)
            continue
        new_spec = {**spec, "code": fit_now}
        new_path = cache / "cells" / f"{run_bli.cell_identity(new_spec)}.json"
        if new_path.exists():
            out["already"].append(path.stem)
            continue
        out["carried"].append(path.stem)
        if dry_run:
            continue
        kept = path.with_suffix(".mapping.npz")
        if kept.is_file():  # copied before the cell, so a current cell never lacks the mapping it names
            tmp = new_path.with_name(new_path.stem + ".mapping.tmp.npz")
            shutil.copy2(kept, tmp)
            tmp.replace(new_path.with_suffix(".mapping.npz"))
        new = {**rec, "spec": new_spec, "rekeyed_from": path.stem, "rekey_basis": basis}
        if rec.get("status") == "ok":
            new["eval_code"] = rec.get("eval_code") or eval_then
        write_json(new_path, new)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from-rev", required=True, help="git revision the cached cells were computed at")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "experiments" / "cache")
    ap.add_argument("--dry-run", action="store_true", help="only count what would be carried")
    ap.add_argument("--ignore-docstrings", action="store_true",
                    help="also carry cells whose fit code differs from today's in docstrings and comments only")
    args = ap.parse_args(argv)
    if not (args.cache_dir / "cells").is_dir():
        print(f"error: no cell cache at {args.cache_dir / 'cells'}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        checkout_code(args.from_rev, Path(tmp))
        if not any(Path(tmp).rglob("*.py")):
            print(f"error: revision {args.from_rev!r} has none of the code files (is it a commit of this repository?)",
                  file=sys.stderr)
            return 2
        out = rekey(args.cache_dir, Path(tmp), dry_run=args.dry_run, ignore_docstrings=args.ignore_docstrings)
    verb = "would carry" if args.dry_run else "carried"
    print(f"{verb} {len(out['carried'])} cell(s) computed at {args.from_rev} to their current keys; "
          f"{len(out['already'])} already there; {len(out['fit_changed'])} left stale (their fit code changed since); "
          f"{len(out['other'])} computed with other code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
