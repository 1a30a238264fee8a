"""Pure logic of the BLI study (experiments/run_bli.py): cache keys, cell execution in a forked child,
gap / worth-N / robustness / rank-correlation arithmetic. No plotting, no corpus building here.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

SUCCESS_P1 = 0.05  # an unsupervised run "succeeds" when CSLS P@1 > 5%
SUPERVISED_CELLS = ("procrustes", "rcsls", "identical", "sup")  # cell methods fitted on labelled pairs
CURVE_NS = (25, 50, 100, 250, 500, 1000, 2500, 5000)


# ------------------------------------------------------------------ hashing / cache keys
def stable_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) used for cache keys."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(obj: Any, length: int = 16) -> str:
    """Hex key of a JSON-able object: equal objects (whatever the key order) give equal keys."""
    return hashlib.sha256(stable_json(obj).encode("utf-8")).hexdigest()[:length]


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's content (memoised on path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[memo] = h.hexdigest()
    return _FILE_HASHES[memo]


def files_sha256(paths: Iterable[str | os.PathLike], root: Optional[str | os.PathLike] = None) -> str:
    """One hash over several files' contents (missing files hash as their name): a code-version key.

    With ``root`` the names are hashed relative to it, so a checkout moved elsewhere keeps its keys."""
    h = hashlib.sha256()
    for p in paths:
        h.update(str(Path(p).relative_to(root) if root is not None else p).encode())
        h.update(file_sha256(p).encode() if Path(p).is_file() else b"missing")
    return h.hexdigest()[:16]


def vectors_key(corpus_sha: str, params: dict) -> str:
    """Cache key of trained vectors: the corpus content hash plus every training parameter."""
    return cache_key({"corpus": corpus_sha, "params": params})


# ------------------------------------------------------------------ cell results (JSON files)
def read_cell(path: Path) -> Optional[dict]:
    """A cached cell result, or None when absent or unreadable (a half-written file is ignored)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (``udm.atomic``: temp file + rename)."""
    from udm.atomic import atomic_open

    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=1, sort_keys=True, default=str)


def script_command(script: str | os.PathLike, argv: Optional[Sequence[str]] = None) -> str:
    """The shell command that reruns an ``experiments/`` script with ``argv`` (default: this process's
    arguments), each argument quoted so that the line runs as printed from the repository root."""
    return shlex.join(["python", f"experiments/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)])


def write_report(out_dir: Path, name: str, obj: Any, markdown: str) -> None:
    """A results pair, each file atomically: ``<name>.json`` (the data) and ``<name>.md`` (the report)."""
    from udm.atomic import atomic_open

    write_json(Path(out_dir) / f"{name}.json", obj)
    with atomic_open(Path(out_dir) / f"{name}.md") as fh:
        fh.write(markdown)


def failure_record(spec: dict, reason: str, *, status: str = "error", **extra: Any) -> dict:
    """The record of a cell that did not produce scores: ``status`` is error, timeout or skipped."""
    return {"spec": spec, "status": status, "error": str(reason).strip().splitlines()[-1][:500] if reason else "",
            "detail": str(reason)[-4000:], **extra}


def peak_rss_mb_self() -> float:
    """Peak resident set size of this process in MiB (VmHWM, falls back to getrusage)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_in_child(fn: Callable[[dict], dict], spec: dict, out_path: Path, *, timeout: Optional[float]) -> dict:
    """Run ``fn(spec)`` in a forked child that writes its JSON result to ``out_path``.

    The result gets ``wall_s`` and ``peak_rss_mb`` (the child's own high-water mark); an exception, a crash
    (signal, out of memory) or a timeout gives a failure record instead, so one bad cell never stops a study.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    tmp = out_path.with_name(out_path.name + ".child")
    if tmp.exists():
        tmp.unlink()

    def target() -> None:
        t0 = time.perf_counter()
        try:
            res = fn(spec)
            res = {"spec": spec, "status": "ok", **res}
        except BaseException as exc:  # noqa: BLE001 - recorded, not raised
            res = failure_record(spec, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            res["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        res["wall_s"] = round(time.perf_counter() - t0, 3)
        res["peak_rss_mb"] = round(peak_rss_mb_self(), 1)
        write_json(tmp, res)
        os._exit(0)

    t0 = time.perf_counter()
    proc = ctx.Process(target=target, daemon=False)
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        res = failure_record(spec, f"timed out after {timeout:.0f} s", status="timeout")
        res["wall_s"] = round(time.perf_counter() - t0, 3)
    else:
        res = read_cell(tmp)
        if res is None:
            code = proc.exitcode
            why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            res = failure_record(spec, f"the cell's process died without a result ({why}; out of memory?)")
            res["wall_s"] = round(time.perf_counter() - t0, 3)
    if tmp.exists():
        tmp.unlink()
    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_json(out_path, res)
    return res


# ------------------------------------------------------------------ arithmetic of the tables
def gap(unsup: Optional[float], sup: Optional[float]) -> Optional[float]:
    """Unsupervised P@1 / supervised P@1; None when either is missing or the supervised score is 0."""
    if unsup is None or sup is None or sup <= 0:
        return None
    return unsup / sup


def rankdata(values: Sequence[float]) -> list[float]:
    """Ranks starting at 1, ties given their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    n = len(x)
    if n < 2 or n != len(y):
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Spearman rank correlation (Pearson on average ranks); None with fewer than 3 points or a constant side."""
    pts = [(a, b) for a, b in zip(x, y) if a is not None and b is not None
           and not (isinstance(a, float) and math.isnan(a)) and not (isinstance(b, float) and math.isnan(b))]
    if len(pts) < 3:
        return None
    return pearson(rankdata([p[0] for p in pts]), rankdata([p[1] for p in pts]))


def seed_summary(p1s: Sequence[float], threshold: float = SUCCESS_P1) -> dict:
    """Success rate (P@1 > threshold), mean, standard deviation, min, median and max over seeds."""
    vals = sorted(float(v) for v in p1s)
    n = len(vals)
    if n == 0:
        return {"runs": 0}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    med = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    return {"runs": n, "success_rate": sum(v > threshold for v in vals) / n, "mean": mean, "std": std,
            "min": vals[0], "median": med, "max": vals[-1]}


def worth_n(curve: Sequence[tuple[int, float]], target: Optional[float]) -> dict:
    """Seed-dictionary size at which supervised P@1 first reaches ``target``, interpolated on log N.

    ``curve`` holds (N, P@1) points. Returns ``{"n": value, "relation": "="|"<="|">"}``: ``"<="`` when the
    smallest N already reaches the target, ``">"`` (n = largest N) when no point does, n None without data.
    """
    pts = sorted((int(n), float(p)) for n, p in curve if p is not None)
    if target is None or not pts:
        return {"n": None, "relation": None}
    if pts[0][1] >= target:
        return {"n": float(pts[0][0]), "relation": "<="}
    for (n0, p0), (n1, p1) in zip(pts, pts[1:]):
        if p1 >= target > p0:
            t = (target - p0) / (p1 - p0)
            return {"n": float(math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0)))), "relation": "="}
    return {"n": float(pts[-1][0]), "relation": ">"}


def worth_n_bounds(tests: Sequence[dict], alpha: float = 0.05) -> dict:
    """What the paired tests against the curve say about the worth N: ``above`` = the largest N whose supervised
    P@1 the unsupervised runs beat significantly (worth more than that), ``below`` = the smallest N whose
    supervised P@1 is significantly higher (worth less); each None when no point is significant that way.

    ``tests`` holds ``{"n", "difference" (unsupervised - supervised), "p"}`` per curve point."""
    significant = [t for t in tests if t.get("p") is not None and t["p"] < alpha]
    above = [int(t["n"]) for t in significant if t["difference"] > 0]
    below = [int(t["n"]) for t in significant if t["difference"] < 0]
    return {"above": max(above) if above else None, "below": min(below) if below else None, "alpha": alpha}


def format_worth_bounds(b: Optional[dict]) -> str:
    """'100 < N < 1000', 'N > 100', 'N < 250', 'no N differs' or '' without tests."""
    if not b:
        return ""
    lo, hi = b.get("above"), b.get("below")
    if lo is not None and hi is not None:
        return f"{lo} < N < {hi}"
    if lo is not None:
        return f"N > {lo}"
    if hi is not None:
        return f"N < {hi}"
    return "no N differs"


def format_worth(w: dict) -> str:
    """'~730', '<=25', '>5000' or '-'."""
    if not w or w.get("n") is None:
        return "-"
    n = w["n"]
    return {"=": f"~{n:.0f}", "<=": f"<={n:.0f}", ">": f">{n:.0f}"}[w["relation"]]


def curve_sizes(n_available: int, sizes: Sequence[int] = CURVE_NS) -> list[int]:
    """The standard seed sizes up to what the train lexicon has (plus the full size when it falls between)."""
    out = [n for n in sizes if n <= n_available]
    if n_available > 0 and (not out or out[-1] < n_available) and n_available < max(sizes):
        out.append(n_available)
    return out
