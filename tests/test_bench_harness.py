"""Fast tests of the BLI study harness's pure logic (experiments/bli_core.py): keys, gap, failures, Spearman, worth-N."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))

import bli_core as bc  # noqa: E402


def test_cache_key_is_order_independent_and_content_sensitive():
    a = {"method": "gw", "seed": 1, "params": {"x": 1, "y": [1, 2]}}
    b = {"params": {"y": [1, 2], "x": 1}, "seed": 1, "method": "gw"}
    assert bc.cache_key(a) == bc.cache_key(b)
    assert bc.cache_key(a) != bc.cache_key({**a, "seed": 2})
    assert len(bc.cache_key(a)) == 16


def test_vectors_key_follows_corpus_content_and_params(tmp_path):
    f1, f2 = tmp_path / "a.txt", tmp_path / "b.txt"
    f1.write_text("the cat sat\n")
    f2.write_text("the cat sat\n")
    params = {"dim": 300, "epochs": 5}
    k1 = bc.vectors_key(bc.file_sha256(f1), params)
    assert k1 == bc.vectors_key(bc.file_sha256(f2), dict(reversed(list(params.items()))))  # same content, other file
    assert k1 != bc.vectors_key(bc.file_sha256(f1), {**params, "dim": 100})
    f2.write_text("the dog sat\n")
    assert k1 != bc.vectors_key(bc.file_sha256(f2), params)
    assert bc.files_sha256([f1, tmp_path / "missing.py"]) != bc.files_sha256([f1])


def test_cache_keys_do_not_depend_on_where_the_checkout_lives(tmp_path):
    """A clone in another folder reuses the cache: code keys hash names relative to the root, cell keys skip paths."""
    import run_bli

    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "udm").mkdir(parents=True)
        (root / "udm" / "x.py").write_text("x = 1\n")
    assert bc.files_sha256([a / "udm" / "x.py"], root=a) == bc.files_sha256([b / "udm" / "x.py"], root=b)
    assert bc.files_sha256([a / "udm" / "x.py"]) != bc.files_sha256([b / "udm" / "x.py"])
    spec = {"method": "gw", "seed": 0, "src_key": "k1", "train_sha": "s1", "threads": None}
    here = {**spec, "src_vec": "/a/cache/v.npz", "train_lex": "/a/train.txt"}
    there = {**spec, "src_vec": "/b/cache/v.npz", "train_lex": "/b/train.txt", "threads": 2}
    assert run_bli.cell_identity(here) == run_bli.cell_identity(there)
    assert run_bli.cell_identity(here) != run_bli.cell_identity({**here, "src_key": "k2"})


def test_script_command_reruns_as_printed():
    """A report's command line quotes each argument, so a value with spaces or quotes runs as printed."""
    import shlex

    argv = ["--holdout-after", "2026-11-30 03:10 UTC", "--note", "it's"]
    cmd = bc.script_command("/elsewhere/experiments/criterion_audit.py", argv)
    assert cmd.startswith("python experiments/criterion_audit.py ")
    assert shlex.split(cmd) == ["python", "experiments/criterion_audit.py", *argv]
    assert bc.script_command("run_bli.py", ["--seeds", "10"]) == "python experiments/run_bli.py --seeds 10"


def test_gap():
    assert bc.gap(0.2, 0.4) == pytest.approx(0.5)
    assert bc.gap(None, 0.4) is None
    assert bc.gap(0.2, None) is None
    assert bc.gap(0.2, 0.0) is None


def test_spearman_matches_definition_with_ties():
    assert bc.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert bc.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert bc.rankdata([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    # with ties: Pearson on average ranks (scipy.stats.spearmanr gives 0.8 here)
    assert bc.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9486832980505138)
    assert bc.spearman([1, 2], [1, 2]) is None
    assert bc.spearman([1, 1, 1], [1, 2, 3]) is None
    assert bc.spearman([1, None, 2, 3], [1, 5, 2, 3]) == pytest.approx(1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    x, y = [0.3, 0.1, 0.5, 0.5, 0.2, 0.9], [0.01, 0.0, 0.4, 0.2, 0.02, 0.6]
    assert bc.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)


def test_seed_summary_success_rate_and_spread():
    s = bc.seed_summary([0.0, 0.01, 0.30, 0.40])
    assert s["runs"] == 4 and s["success_rate"] == 0.5
    assert s["mean"] == pytest.approx(0.1775)
    assert s["std"] == pytest.approx(math.sqrt(sum((v - 0.1775) ** 2 for v in [0.0, 0.01, 0.3, 0.4]) / 3))
    assert (s["min"], s["median"], s["max"]) == (0.0, pytest.approx(0.155), 0.40)
    assert bc.seed_summary([])["runs"] == 0
    assert bc.seed_summary([0.05])["success_rate"] == 0.0  # strictly above 5%


def test_worth_n_interpolates_on_log_scale():
    curve = [(25, 0.05), (100, 0.15), (1000, 0.35)]
    w = bc.worth_n(curve, 0.25)  # halfway between 100 and 1000 on log scale -> sqrt(100 * 1000)
    assert w["relation"] == "=" and w["n"] == pytest.approx(math.sqrt(1e5))
    assert bc.worth_n(curve, 0.15) == {"n": pytest.approx(100.0), "relation": "="}
    assert bc.worth_n(curve, 0.01) == {"n": 25.0, "relation": "<="}
    assert bc.worth_n(curve, 0.50) == {"n": 1000.0, "relation": ">"}
    assert bc.worth_n(list(reversed(curve)), 0.25)["n"] == pytest.approx(math.sqrt(1e5))  # order-free
    assert bc.worth_n([], 0.2)["n"] is None and bc.worth_n(curve, None)["n"] is None
    assert bc.format_worth(bc.worth_n(curve, 0.25)) == "~316"
    assert bc.format_worth({"n": 25.0, "relation": "<="}) == "<=25"
    assert bc.format_worth({"n": None, "relation": None}) == "-"


def test_worth_n_bounds_read_the_paired_tests_against_the_curve():
    """The range of N the word-by-word tests allow: beaten significantly up to `above`, significantly behind
    from `below`; a non-monotone curve (the en-fr ninth training's) keeps the largest and the smallest."""
    tests = [{"n": 25, "difference": 0.35, "p": 1e-90}, {"n": 100, "difference": 0.25, "p": 1e-50},
             {"n": 250, "difference": 0.008, "p": 0.2}, {"n": 1000, "difference": 0.007, "p": 0.21},
             {"n": 2977, "difference": -0.004, "p": 0.39}]
    b = bc.worth_n_bounds(tests)
    assert (b["above"], b["below"]) == (100, None) and bc.format_worth_bounds(b) == "N > 100"
    tests.append({"n": 5000, "difference": -0.03, "p": 0.001})
    assert bc.format_worth_bounds(bc.worth_n_bounds(tests)) == "100 < N < 5000"
    assert bc.format_worth_bounds(bc.worth_n_bounds([{"n": 25, "difference": -0.1, "p": 0.01},
                                                     {"n": 50, "difference": -0.2, "p": 0.001}])) == "N < 25"
    assert bc.format_worth_bounds(bc.worth_n_bounds(tests[2:4])) == "no N differs"
    assert bc.format_worth_bounds(None) == ""


def test_worth_tests_pool_the_best_runs_against_each_curve_cell():
    """run_bli's worth-N tests from the cells' packed hits; none when a cell lacks hits or covers other words."""
    import numpy as np
    import run_bli

    def cell(hits, seed_n=None, digest="w1"):
        h = np.array(hits, dtype=bool)
        return {"spec": {"seed_n": seed_n}, "hits": {"n": len(h), "words_sha256": digest,
                                                     "bits": np.packbits(h.astype(np.uint8)).tobytes().hex()}}

    rng = np.random.default_rng(0)
    runs = [cell(rng.random(400) < 0.4) for _ in range(3)]
    weak, strong = cell(rng.random(400) < 0.05, 25), cell(rng.random(400) < 0.45, 1000)
    tests = run_bli.worth_tests(runs, [strong, weak])
    assert [t["n"] for t in tests] == [25, 1000]
    assert tests[0]["difference"] > 0.3 and tests[0]["p"] < 1e-10
    assert tests[1]["ci95"][0] < tests[1]["difference"] < tests[1]["ci95"][1]
    assert run_bli.worth_tests(runs, [weak, cell(rng.random(400) < 0.4, 50, digest="other")]) is None
    assert run_bli.worth_tests(runs, [{"spec": {"seed_n": 25}}]) is None
    assert tests[1]["difference"] < 0 and tests[1]["p"] < 0.05  # 45% against the runs' 40% on 400 words
    assert run_bli.worth_cell({"n": 2201.0, "relation": "=", "bounds": bc.worth_n_bounds(tests)}) == "~2201 (25 < N < 1000)"
    assert run_bli.worth_cell({"n": 25.0, "relation": "<="}) == "<=25"


def test_curve_sizes_stop_at_the_train_lexicon():
    assert bc.curve_sizes(10000) == list(bc.CURVE_NS)
    assert bc.curve_sizes(700) == [25, 50, 100, 250, 500, 700]
    assert bc.curve_sizes(500) == [25, 50, 100, 250, 500]
    assert bc.curve_sizes(0) == []


def _ok_cell(spec):
    return {"scores": {"csls": {"p@1": spec["x"] / 10}}}


def _raising_cell(spec):
    raise ValueError("no usable pairs")


def _dying_cell(spec):
    import os
    os._exit(3)


def _slow_cell(spec):
    import time
    time.sleep(30)
    return {}


def test_run_in_child_records_results_and_failures(tmp_path):
    res = bc.run_in_child(_ok_cell, {"x": 3}, tmp_path / "ok.json", timeout=60)
    assert res["status"] == "ok" and res["scores"]["csls"]["p@1"] == pytest.approx(0.3)
    assert res["wall_s"] >= 0 and res["peak_rss_mb"] > 0
    assert bc.read_cell(tmp_path / "ok.json")["status"] == "ok"  # cached for resumption

    res = bc.run_in_child(_raising_cell, {"x": 1}, tmp_path / "err.json", timeout=60)
    assert res["status"] == "error" and res["error"] == "ValueError: no usable pairs"
    assert "Traceback" in res["detail"]

    res = bc.run_in_child(_dying_cell, {}, tmp_path / "dead.json", timeout=60)
    assert res["status"] == "error" and "exit code 3" in res["error"]

    res = bc.run_in_child(_slow_cell, {}, tmp_path / "slow.json", timeout=0.5)
    assert res["status"] == "timeout" and "timed out" in res["error"]
    assert bc.read_cell(tmp_path / "slow.json")["status"] == "timeout"


def test_read_cell_ignores_broken_files(tmp_path):
    p = tmp_path / "c.json"
    assert bc.read_cell(p) is None
    p.write_text("{half")
    assert bc.read_cell(p) is None
    bc.write_json(p, {"a": 1})
    assert bc.read_cell(p) == {"a": 1}


def test_failure_record_keeps_the_last_line_as_error():
    r = bc.failure_record({"m": 1}, "Traceback...\nline\nUdmError: bad input")
    assert r["status"] == "error" and r["error"] == "UdmError: bad input" and "Traceback" in r["detail"]
    assert bc.failure_record({}, "x", status="skipped")["status"] == "skipped"


def _fake_result(path: Path, vector_seed: int, sup: float, gw: float, gw_failed: bool,
                 refinement: Optional[list[dict]] = None, build: str = "data/corpora-none",
                 date: str = "2026-01-01 00:00 UTC") -> None:
    import json

    cell = lambda method, p1, failed: {"method": method, "seed": 0, "status": "ok", "p1": p1,  # noqa: E731
                                       "criterion": 0.5, "aligner_failed": failed, "wall_s": 1.0}
    gw_cell = cell("gw", gw, gw_failed)
    if refinement is not None:
        gw_cell["trace"] = {"refinement": refinement}
    path.write_text(json.dumps({
        "meta": {"params": {"vector_seed": vector_seed}, "git": {"commit": "abc" * 5}, "date": date},
        "settings": [{"id": "en-de/none/1", "status": "ok", "info": {"corpus_build": build},
                      "cells": [cell("procrustes", sup, False), gw_cell]}]}))


def test_robustness_over_vector_seeds_counts_success_ratio_and_flags(tmp_path):
    import robustness_vectors as rv

    _fake_result(tmp_path / "r_vs0.json", 0, 0.20, 0.16, False)   # success, flag right
    _fake_result(tmp_path / "r_vs1.json", 1, 0.20, 0.01, False)   # failure the flag missed
    _fake_result(tmp_path / "r_vs2.json", 2, 0.10, 0.12, False)   # success at or above supervised
    _fake_result(tmp_path / "r_vs0_older.json", 0, 0.20, 0.02, True, date="2025-01-01 00:00 UTC")  # same run, older
    _fake_result(tmp_path / "r_vs0_ablation.json", 0, 0.30, 0.01, True, build="data/ablation/none-ende")
    assert rv.main(["--prefix", "r_vs", "--results-dir", str(tmp_path), "--name", "out"]) == 0
    lines = (tmp_path / "out.md").read_text().splitlines()
    summary = [ln for ln in lines if ln.startswith("| en-de/none/1 | data/corpora-none | gw |")]
    assert summary == ["| en-de/none/1 | data/corpora-none | gw | 3 | 2/3 | 9.7 | 6.3 | 1.0 | 16.0 | 0.68 | 1/3 | 2/3 |"]
    assert "| en-de/none/1 | data/ablation/none-ende | gw | 1 | 0/1 |" in "\n".join(lines)  # another corpus: its own row
    assert rv.main(["--prefix", "r_vs", "--results-dir", str(tmp_path), "--name", "out2", "--build", "data/ablation/none-ende"]) == 0
    assert "data/corpora-none" not in (tmp_path / "out2.md").read_text().split("| wall s |")[1]
    assert rv.main(["--prefix", "r_vs", "--results-dir", str(tmp_path), "--name", "out3", "--build", "data/nothing"]) == 2
    assert not (tmp_path / "out3.md").exists()  # a filter that matches nothing: an error, not an empty report
    assert rv.main(["--prefix", "nothing_", "--results-dir", str(tmp_path)]) == 2


def test_robustness_keeps_aligner_seeds_apart_and_names_the_method_options(tmp_path):
    """Runs from other aligner seeds (--first-seed) on the same vectors are rows of their own; restarts,
    self-learning and reweight make another method."""
    import json

    import robustness_vectors as rv

    for name, seed, p1 in (("r_s1.json", 1, 0.19), ("r_s3.json", 3, 0.21)):
        _fake_result(tmp_path / name, 0, 0.20, p1, False)
        d = json.loads((tmp_path / name).read_text())
        d["meta"]["params"].update({"restarts": 2, "self_learning": True, "reweight": True})
        d["settings"][0]["cells"][1]["seed"] = seed
        (tmp_path / name).write_text(json.dumps(d))
    _fake_result(tmp_path / "r_plain.json", 0, 0.20, 0.10, False)
    assert rv.main(["--prefix", "r_", "--results-dir", str(tmp_path), "--name", "out"]) == 0
    md = (tmp_path / "out.md").read_text()
    assert "| gw (2 restarts, self-learning, reweight) | 3 | 20.0 | 21.0 | 1.05 |" in md
    assert "| gw (2 restarts, self-learning, reweight) | 2 | 2/2 | 20.0 | 1.0 | 19.0 | 21.0 | 1.00 | 1/2 | 2/2 |" in md
    assert "| data/corpora-none | gw | 1 | 1/1 | 10.0 |" in md


def test_robustness_sets_each_restarts_run_beside_its_starts_single_runs(tmp_path):
    """A --restarts 2 run from seed 3 (starts 3 and 4) is compared with the single-start runs of seeds 3 and 4:
    the criterion kept the worse start here, and the run equals that start alone."""
    import json

    import robustness_vectors as rv

    for name, seed, p1 in (("r_single3.json", 3, 0.30), ("r_single4.json", 4, 0.10)):
        _fake_result(tmp_path / name, 0, 0.20, p1, False)
        d = json.loads((tmp_path / name).read_text())
        d["settings"][0]["cells"][1]["seed"] = seed
        (tmp_path / name).write_text(json.dumps(d))
    _fake_result(tmp_path / "r_restarts.json", 0, 0.20, 0.10, False)
    d = json.loads((tmp_path / "r_restarts.json").read_text())
    d["meta"]["params"]["restarts"] = 2
    cell = d["settings"][0]["cells"][1]
    cell.update({"seed": 3, "meta": {"chosen_restart": 1},
                 "trace": {"restarts": [{"seed": 3, "criterion": 0.51}, {"seed": 4, "criterion": 0.52, "sl_stopped_by_time": True}]}})
    (tmp_path / "r_restarts.json").write_text(json.dumps(d))
    assert rv.main(["--prefix", "r_", "--results-dir", str(tmp_path), "--name", "out"]) == 0
    md = (tmp_path / "out.md").read_text()
    assert ("| en-de/none/1 | gw (2 restarts) | 3 | 3: 0.5100 -> 30.0; 4: 0.5200 (kept) (stage cut by the time budget) "
            "-> 10.0 | 10.0 | no | yes |") in md


def test_criterion_audit_counts_each_run_once_and_finds_false_accepts(tmp_path):
    import shutil

    import criterion_audit as ca

    _fake_result(tmp_path / "bli_a.json", 0, 0.20, 0.16, False)   # success, flag right
    _fake_result(tmp_path / "bli_b.json", 1, 0.20, 0.01, False)   # failure the flag missed
    _fake_result(tmp_path / "bli_c.json", 2, 0.10, 0.02, True)    # failure, flagged
    shutil.copy(tmp_path / "bli_a.json", tmp_path / "bli_a_again.json")  # the same cached cell in a second report
    (tmp_path / "bli_probe.json").write_text('{"rows": []}')           # not a study file: skipped
    assert ca.main(["--results-dir", str(tmp_path), "--name", "audit"]) == 0
    md = (tmp_path / "audit.md").read_text()
    assert "| 3 | 1 | 1 | 2/3 | 1 | 0 |" in md
    assert "en-de/none/1 gw seed 0 (restarts 1, bli_b.json): P@1 1.0" in md
    assert ca.main(["--results-dir", str(tmp_path), "--glob", "none*.json"]) == 2


def test_criterion_audit_keeps_reweighted_runs_apart(tmp_path):
    """A --reweight study on the same vectors is another final map: its runs are not the orthogonal runs again."""
    import json

    import criterion_audit as ca

    _fake_result(tmp_path / "bli_a.json", 0, 0.20, 0.16, False)
    d = json.loads((tmp_path / "bli_a.json").read_text())
    d["meta"]["params"]["reweight"] = True
    (tmp_path / "bli_a_reweight.json").write_text(json.dumps(d))
    assert ca.main(["--results-dir", str(tmp_path), "--name", "audit"]) == 0
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert sorted(r["method"] for r in audit["runs"]) == ["gw", "gw+reweight"]


def test_criterion_audit_tells_two_trainings_under_one_vector_key_apart(tmp_path):
    """Vectors retrained under the same cache key (two threads are not deterministic) are other vectors: a cell on
    them is not a rerun of the first one."""
    import json

    import criterion_audit as ca

    for name, wall, p1 in (("bli_first.json", 56.7, 0.29), ("bli_retrained.json", 344.2, 0.28)):
        _fake_result(tmp_path / name, 0, 0.30, p1, False)
        d = json.loads((tmp_path / name).read_text())
        d["settings"][0]["vectors"] = {side: {"key": "k" + side, "train_wall_s": wall} for side in ("src", "tgt")}
        d["settings"][0]["cells"][1]["wall_s"] = wall  # a different run of the gw cell, not a cache reuse
        (tmp_path / name).write_text(json.dumps(d))
    assert ca.main(["--results-dir", str(tmp_path), "--name", "audit"]) == 0
    assert json.loads((tmp_path / "audit.json").read_text())["reruns"]["cells_rerun"] == 0


def test_criterion_audit_replays_the_stability_check_on_refinement_traces(tmp_path):
    import criterion_audit as ca

    steps = lambda last_change, last_overlap, n=3: [{"change": 1.0, "pairs": 9}] + [  # noqa: E731
        {"change": last_change, "overlap": last_overlap, "pairs": 9}] * (n - 1)
    _fake_result(tmp_path / "bli_a.json", 0, 0.20, 0.16, False, steps(0.05, 0.99))    # success, at a fixed point
    _fake_result(tmp_path / "bli_b.json", 1, 0.20, 0.01, False, steps(0.50, 0.70))    # false accept, still moving
    _fake_result(tmp_path / "bli_c.json", 2, 0.20, 0.02, False, steps(0.50, 0.70, 2))  # too short to judge
    assert ca.main(["--results-dir", str(tmp_path), "--name", "audit"]) == 0
    md = (tmp_path / "audit.md").read_text()
    assert "| criterion flag alone | 1/3 | 2 | 0 |" in md
    assert "| criterion flag, or final change > 0.4 | 2/3 | 1 | 0 |" in md
    assert "| criterion flag, or final overlap < 0.8 | 2/3 | 1 | 0 |" in md
    assert "| real corpora | success | change | 1 | 0.0500 | 0.0500 | 0.0500 |" in md
    assert not ca.unstable(None, max_change=0.1) and not ca.unstable(steps(0.5, 0.5), max_change=0.6, min_overlap=0.4)


def test_criterion_audit_checks_that_recomputed_cells_reproduce(tmp_path):
    import json
    import shutil

    import criterion_audit as ca

    _fake_result(tmp_path / "bli_a.json", 0, 0.20, 0.16, False)
    shutil.copy(tmp_path / "bli_a.json", tmp_path / "bli_a_cached.json")  # a cache reuse: same wall time, not a rerun
    d = json.loads((tmp_path / "bli_a.json").read_text())
    d["settings"][0]["cells"][1]["wall_s"] = 2.0                         # recomputed, same result
    (tmp_path / "bli_a_rerun.json").write_text(json.dumps(d))
    d["settings"][0]["cells"][1].update(wall_s=3.0, p1=0.15)             # recomputed, different result
    (tmp_path / "bli_a_changed.json").write_text(json.dumps(d))
    assert ca.main(["--results-dir", str(tmp_path), "--name", "audit"]) == 0
    md = (tmp_path / "audit.md").read_text()
    assert "not a cache reuse): 1," in md and "**0/1**" in md
    assert "P@1 15.0, criterion 0.5000 (bli_a_changed.json" in md


def _cipher_cell_spec(refine_iters: int) -> dict:
    """A gw cell on the cipher fixture vectors (seconds to fit)."""
    root = Path(__file__).resolve().parents[1]
    return {"src_vec": str(root / "tests/data/as_cipher_en.npz"), "tgt_vec": str(root / "tests/data/as_cipher_code.npz"),
            "test_lex": str(root / "corpora/fixtures/cipher.test.txt"), "max_vocab": 500, "method": "gw", "seed": 0,
            "refine_iters": refine_iters, "time_budget": None, "restarts": 1, "threads": 1}


def test_align_cell_keeps_per_step_trace():
    """An unsupervised cell's record keeps the refinement steps and restarts, not only scalar metadata."""
    import run_bli

    spec = _cipher_cell_spec(refine_iters=2)
    rec = run_bli._align_child(spec)
    assert rec["scores"]["csls"]["p@1"] > 0.9
    assert rec["trace"]["refinement"] and rec["trace"]["restarts"][0]["restart"] == 0
    assert not any(isinstance(v, (list, dict)) for v in rec["meta"].values())
    # --refine-rank reaches the aligner's shared refinement (it induces among that many words)
    narrow = run_bli._align_child({**spec, "refine_rank": 100})
    assert narrow["scores"]["csls"]["p@1"] > 0.9 and narrow["trace"]["refinement"] != rec["trace"]["refinement"]


def test_cells_keep_their_mapping_and_need_mappings_reruns_cells_without_one(tmp_path):
    """A cell run keeps its fitted mapping beside its JSON (same key); --need-mappings reruns one that lacks it."""
    import argparse
    import run_bli
    from udm import Mapping

    spec = _cipher_cell_spec(refine_iters=1)
    args = argparse.Namespace(cache=tmp_path, retry_failed=False, report_only=False, cell_timeout=600, need_mappings=False)
    (tmp_path / "cells").mkdir()
    rec = run_bli.run_cell(spec, args)
    kept = run_bli.mapping_path(spec, args)
    assert rec["status"] == "ok" and kept.is_file() and kept.name == run_bli.cell_path(spec, args).stem + ".mapping.npz"
    assert Mapping.load(kept).W.shape[0] == Mapping.load(kept).W.shape[1]
    kept.unlink()
    assert run_bli.run_cell(spec, args).get("cached")  # without the flag the cached record is enough
    args.need_mappings = True
    again = run_bli.run_cell(spec, args)
    assert not again.get("cached") and kept.is_file()
    assert again["scores"]["csls"]["p@1"] == rec["scores"]["csls"]["p@1"]  # seeded: the rerun reproduces


def test_a_scoring_change_rescores_cached_cells_from_their_kept_mappings(tmp_path):
    """When only the scoring code changed, a cached cell with a kept mapping is scored again (the fit and its wall
    time kept); --report-only shows it as stale instead; without a kept mapping the cell is fitted again."""
    import argparse

    import run_bli
    from bli_core import read_cell, write_json

    spec = _cipher_cell_spec(refine_iters=1)
    args = argparse.Namespace(cache=tmp_path, retry_failed=False, report_only=False, cell_timeout=600, need_mappings=False)
    (tmp_path / "cells").mkdir()
    rec = run_bli.run_cell(spec, args)
    path = run_bli.cell_path(spec, args)
    assert rec["status"] == "ok" and rec["eval_code"] == run_bli.eval_code_hash()
    older = {**rec, "eval_code": "older", "scores": {"csls": {"p@1": -1.0}}}  # as if scored by older scoring code
    write_json(path, older)
    again = run_bli.run_cell(spec, args)
    assert again["cached"] and again["scores"] == rec["scores"] and again["wall_s"] == rec["wall_s"]
    assert again["rescored"]["eval_code_before"] == "older" and again["rescored"]["wall_s"] > 0
    assert read_cell(path)["eval_code"] == run_bli.eval_code_hash() and not list((tmp_path / "rescored").iterdir())
    assert run_bli.run_cell(spec, args)["rescored"] == again["rescored"]  # rescored once, then reused as it is

    write_json(path, older)
    args.report_only = True
    stale = run_bli.run_cell(spec, args)
    assert stale["stale_code"] and stale["scores"]["csls"]["p@1"] == -1.0
    args.report_only = False
    run_bli.mapping_path(spec, args).unlink()
    refit = run_bli.run_cell(spec, args)
    assert not refit.get("cached") and "rescored" not in refit and refit["eval_code"] == run_bli.eval_code_hash()
    assert refit["scores"] == rec["scores"] and run_bli.mapping_path(spec, args).is_file()


def test_cell_specs_seeds_restarts_and_seed_free_gw(tmp_path):
    """--seeds N runs N independent seeds: K apart with K restarts; single-start gw (seed-free) runs once, unless
    the seeded self-learning stage follows it."""
    import argparse

    import run_bli

    lex = tmp_path / "lex.txt"
    lex.write_text("a b\n")
    st = run_bli.Setting(pair="en-xx", regime="none", train_lex=lex, test_lex=lex,
                         vectors={"src": {"path": "s.npz", "key": "s"}, "tgt": {"path": "t.npz", "key": "t"}})
    available = {m: "" for m in run_bli.UNSUPERVISED}

    def specs(method, n, restarts, first=0, self_learning=False, refine_rank=None):
        args = argparse.Namespace(methods=[method], seeds=n, restarts=restarts, time_budget=10.0, max_vocab=100,
                                  refine_iters=1, threads=None, reweight=False, self_learning=self_learning,
                                  first_seed=first, sl_stochastic_cutoff=None, refine_rank=refine_rank)
        return [sp for sp in run_bli.cell_specs(st, args, available) if sp["method"] == method]

    def seeds(*a, **kw):
        return [sp["seed"] for sp in specs(*a, **kw)]

    assert seeds("wp", 3, 1) == [0, 1, 2]
    assert seeds("wp", 3, 4) == [0, 4, 8]
    assert seeds("wp", 2, 2, first=1) == [1, 3]
    assert seeds("gw", 10, 1) == [0]
    assert seeds("gw", 2, 4) == [0, 4]
    # the self-learning stage samples its dictionary with the seed: single-start gw + the stage runs every seed
    assert seeds("gw", 3, 1, first=1, self_learning=True) == [1, 2, 3]
    # --refine-rank is in the spec (so cached apart) only when given: default cells keep their keys
    assert "refine_rank" not in specs("wp", 1, 1)[0] and specs("wp", 1, 1, refine_rank=5000)[0]["refine_rank"] == 5000


def test_plan_counts_cached_cells_and_estimates_the_rest(tmp_path):
    """--plan: cached cells are counted as cached; the rest are costed from cached cells of the same method and
    budget; a setting without a build is costed from a ready one plus its vector trainings."""
    import argparse

    import run_bli

    args = argparse.Namespace(cache=tmp_path, retry_failed=False, need_mappings=False, dim=300, epochs=5)
    (tmp_path / "cells").mkdir()
    (tmp_path / "vectors").mkdir()
    base = {"pair": "en-xx", "max_vocab": 100, "seed": 0, "time_budget": None, "restarts": None}
    done, todo = {**base, "method": "procrustes"}, {**base, "method": "wp", "time_budget": 50.0, "restarts": 1}
    bc.write_json(run_bli.cell_path(done, args), {"spec": done, "status": "ok", "wall_s": 20.0,
                                                  "eval_code": run_bli.eval_code_hash()})
    other_seed = {**todo, "seed": 7}  # measured wp cell of another setting: same method, vocabulary, budget
    bc.write_json(tmp_path / "cells" / "other.json", {"spec": other_seed, "status": "ok", "wall_s": 40.0})
    bc.write_json(tmp_path / "vectors" / "xx-1.json", {"status": "ok", "wall_s": 30.0,
                                                      "spec": {"params": {"dim": 300, "epochs": 5}}})
    ready = run_bli.Setting(pair="en-xx", regime="none", status="ok")
    missing = run_bli.Setting(pair="en-yy", regime="none", status="failed",
                              reason="RuntimeError: no finished none build for en,yy at fraction 1")
    text = run_bli.render_plan([ready, missing], [(ready, done), (ready, todo)], args, "python run_bli.py --plan")
    assert "| en-xx/none/1 | ready | 2 | 1 | 1 | 1 min |" in text  # the wp cell: 40 s
    # needs a build + 2 trainings (2 x 30 s) + the ready setting's 2 cells (20 s + 40 s)
    assert "| en-yy/none/1 | needs a corpus build and 2 vector training(s) | ~2 | 0 | ~2 | ~2 min |" in text
    assert "**Total:** 4 cells, 1 cached, 3 to run" in text
    assert "| wp | 2 | 1 min |" in text
    # scored by older scoring code: to run again without a kept mapping, cached (a rescore) with one
    bc.write_json(run_bli.cell_path(done, args), {"spec": done, "status": "ok", "wall_s": 20.0, "eval_code": "older"})
    assert "**Total:** 4 cells, 0 cached" in run_bli.render_plan([ready, missing], [(ready, done), (ready, todo)], args, "")
    run_bli.mapping_path(done, args).write_bytes(b"kept")
    assert "**Total:** 4 cells, 1 cached" in run_bli.render_plan([ready, missing], [(ready, done), (ready, todo)], args, "")
    model = run_bli.cost_model(args)  # another budget: the method's median, capped by that budget
    assert run_bli.estimate_cell_seconds({**todo, "time_budget": 5.0}, model) == 5.0 * 1.1 + 30
    assert run_bli.estimate_cell_seconds({**todo, "time_budget": 500.0}, model) == 40.0
    # a cipher-control cell (a few thousand fixture words) never stands in for a real-corpus one, nor the reverse
    cipher = {**todo, "regime": "cipher", "seed": 3}
    bc.write_json(tmp_path / "cells" / "cipher.json", {"spec": cipher, "status": "ok", "wall_s": 2.0})
    model = run_bli.cost_model(args)
    assert run_bli.estimate_cell_seconds({**todo, "regime": "none"}, model) == 40.0
    assert run_bli.estimate_cell_seconds({**cipher, "seed": 4}, model) == 2.0


def test_cross_vectors_probe_runs_every_combination(tmp_path):
    """The cross-vector probe aligns every --src with every --tgt, each with its own split, and writes its report."""
    import json

    import cross_vectors_probe as cvp

    root = Path(__file__).resolve().parents[1]
    en, code = str(root / "tests/data/as_cipher_en.npz"), str(root / "tests/data/as_cipher_code.npz")
    argv = ["--src", f"a={en}", "--src", f"b={en}", "--tgt", f"c={code}", "--lexicon",
            str(root / "corpora/fixtures/cipher.train.txt"), "--test-size", "100", "--methods", "",
            "--max-vocab", "500", "--out-dir", str(tmp_path), "--name", "cv"]
    assert cvp.main(argv) == 0
    rows = json.loads((tmp_path / "cv.json").read_text())["rows"]
    assert [(r["src"], r["tgt"]) for r in rows] == [("a", "c"), ("b", "c")]
    assert all(r["p1"] > 0.9 and r["test_pairs"] == 100 and r["train_cosine"] > 0.5 for r in rows)
    assert {r["normalize"] for r in rows} == {"unit,center,unit"}
    assert cvp.main(argv + ["--normalize", "renorm", "--normalize", "unit,whiten,unit"]) == 0
    rows = json.loads((tmp_path / "cv.json").read_text())["rows"]
    assert [r["normalize"] for r in rows] == ["renorm", "unit,whiten,unit"] * 2
    with pytest.raises(SystemExit, match="unknown normalisation step"):
        cvp.main(argv + ["--normalize", "unit,bogus"])
    with pytest.raises(SystemExit, match="NAME=PATH"):
        cvp.main(["--src", "nofile", "--tgt", f"c={code}", "--lexicon", "x"])
    unrelated = tmp_path / "unrelated.txt"
    unrelated.write_text("zzzq yyyq\n")
    with pytest.raises(SystemExit, match="src a x tgt c: no lexicon source word"):
        cvp.main(argv[:argv.index("--lexicon") + 1] + [str(unrelated)] + argv[argv.index("--lexicon") + 2:] + ["--name", "bad"])
    assert not (tmp_path / "bad.md").exists()


def test_no_build_reuses_run_bli_own_builds_under_data_bli(tmp_path):
    """Builds run_bli makes live under <data-dir>/bli/; a later --no-build run must find them there."""
    import argparse
    import json

    import run_bli

    build = tmp_path / "bli" / "half-en-fr-f0.5"
    build.mkdir(parents=True)
    (build / "manifest.json").write_text(json.dumps({
        "split": "half", "fraction": 0.5, "langs": ["en", "fr"],
        "languages": {"en": {"file": "en.txt"}, "fr": {"file": "fr.txt"}}}))
    args = argparse.Namespace(data_dir=str(tmp_path), no_build=True)
    st = run_bli.Setting("en-fr", "half", 0.5, "en", "fr")
    assert run_bli.build_real_corpora(st, args) == {"src": build / "en.txt", "tgt": build / "fr.txt"}
    with pytest.raises(RuntimeError, match="no finished half build"):
        run_bli.build_real_corpora(run_bli.Setting("en-fr", "half", 0.25, "en", "fr"), args)


def _fake_build(root, name, split, langs, sources=None, fraction=1.0):
    import json

    build = root / name
    build.mkdir(parents=True)
    m = {"split": split, "fraction": fraction, "langs": langs, "languages": {x: {"file": f"{x}.txt"} for x in langs}}
    if sources is not None:
        m["sources_requested"] = sources
    (build / "manifest.json").write_text(json.dumps(m))
    return build


def test_half_reuses_only_a_pair_build_and_sources_must_match(tmp_path):
    """`half` needs the pair's own build (true halves), never an 8-language one; --sources picks the ablation
    build and never the default one, and the reverse."""
    import argparse

    import run_bli
    from udm.corpora.sources import DEFAULT_SOURCES, SOURCES

    eight = ["en", "es", "fr", "de", "it", "pt", "ru", "zh"]
    _fake_build(tmp_path, "half-all", "half", eight)
    _fake_build(tmp_path, "none-all", "none", eight)
    nogloss = [s for s in DEFAULT_SOURCES if s != "glosses"]
    abl = _fake_build(tmp_path, "none-enfr-nogloss", "none", ["en", "fr"], sources=nogloss)
    st = lambda regime: run_bli.Setting("en-fr", regime, 1.0, "en", "fr")  # noqa: E731
    args = argparse.Namespace(data_dir=str(tmp_path), no_build=True, sources=None)
    with pytest.raises(RuntimeError, match="no finished half build for en,fr"):
        run_bli.build_real_corpora(st("half"), args)
    pair = _fake_build(tmp_path, "half-enfr", "half", ["en", "fr"])
    assert run_bli.build_real_corpora(st("half"), args)["src"] == pair / "en.txt"
    # none: the default sources never pick the ablation build even though it has fewer languages
    assert run_bli.build_real_corpora(st("none"), args)["src"] == tmp_path / "none-all" / "en.txt"
    args.sources = nogloss
    s = st("none")
    assert run_bli.build_real_corpora(s, args)["tgt"] == abl / "fr.txt"
    assert s.info["corpus_sources"] == nogloss
    with pytest.raises(RuntimeError, match="with sources"):
        run_bli.build_real_corpora(st("half"), args)
    assert run_bli._sources_tag(nogloss) == "-without-glosses"
    assert run_bli._sources_tag(list(DEFAULT_SOURCES)) == ""
    assert run_bli._sources_tag([*DEFAULT_SOURCES, "lilypond"]) == "-with-lilypond"
    assert run_bli._sources_tag(list(SOURCES)) == "-with-debref+lilypond"
    assert run_bli.requested_sources(argparse.Namespace(sources=["all"])) == list(SOURCES)


def test_the_report_shows_each_runs_failure_check_with_its_nulls_iterations():
    """One row per unsupervised run with a failure check: the refined null and share, and for self-learned runs the
    self-learned null, its share and its iterations against the most it was allowed (``cut`` when the budget
    stopped it); supervised cells and cells without a check get no row."""
    import run_bli

    meta = {"failed": True, "criterion_refined_null": 0.378, "criterion_headroom_share": 0.159, "sl_iterations": 40,
            "sl_stopped_by_time": True, "criterion_sl_null": 0.464, "criterion_sl_null_share": 0.025,
            "sl_null_iterations": 40, "sl_null_max_iter": 40, "sl_null_stopped_by_time": False, "sl_null_agreement": 0.001}
    cells = [{"method": "selflearn", "seed": 1, "status": "ok", "p1": 0.001, "criterion": 0.4772, "meta": meta},
             {"method": "gw", "seed": 1, "status": "ok", "p1": 0.18, "criterion": 0.52,
              "meta": {"failed": False, "criterion_refined_null": 0.35, "criterion_headroom_share": 0.26}},
             {"method": "procrustes", "seed": 0, "status": "ok", "p1": 0.2, "criterion": 0.6, "meta": {}},
             {"method": "wp", "seed": 1, "status": "failed", "error": "boom"}]
    lines = run_bli.failure_check_lines([{"pair": "en-de", "regime": "none", "fraction": 1.0, "cells": cells}])
    rows = [ln for ln in lines if ln.startswith("| en-de")]
    meta["criterion_lift_ratio"] = 1.41
    assert rows == ["| en-de | none | 1 | selflearn | 1 | 0.1 | 0.4772 | 0.3780 | 0.159 | - | 40 cut | 0.4640 | 0.025 | 40/40 | "
                    "0.001 | failed |",
                    "| en-de | none | 1 | gw | 1 | 18.0 | 0.5200 | 0.3500 | 0.260 | - | - | - | - | - | - | ok |"]
    lines = run_bli.failure_check_lines([{"pair": "en-de", "regime": "none", "fraction": 1.0, "cells": cells[:1]}])
    assert "| 0.159 | 1.41 | 40 cut |" in lines[-2]
    assert run_bli.failure_check_lines([{"pair": "en-de", "regime": "none", "fraction": 1.0, "cells": cells[2:]}]) == []


def test_the_failure_check_table_states_the_thresholds_the_aligners_apply(monkeypatch):
    """The table's text reads its margins from ``UnsupervisedAligner``, so it cannot drift from the code."""
    import run_bli
    from udm.aligners.unsupervised import UnsupervisedAligner

    cells = [{"method": "gw", "seed": 1, "status": "ok", "p1": 0.18, "criterion": 0.52,
              "meta": {"failed": False, "criterion_refined_null": 0.35, "criterion_headroom_share": 0.26}}]
    for name, value in (("refined_null_margin", 0.123), ("refined_null_lift", 4.56), ("sl_null_margin", 0.0789),
                        ("sl_null_agreement", 0.61), ("agreement_words", 1234)):
        monkeypatch.setattr(UnsupervisedAligner, name, value)
    text = run_bli.failure_check_lines([{"pair": "en-de", "regime": "none", "fraction": 1.0, "cells": cells}])[1]
    for part in ("needs 0.123,", "is 4.56 or more", "needs 0.0789 of the headroom", "top 1,234 CSLS", "is 0.61 or more"):
        assert part in text


def test_sources_option_rejects_unknown_source_in_one_line(capsys):
    import run_bli

    with pytest.raises(SystemExit):
        run_bli.parse_args(["--sources", "bible,nosuch"])
    assert "unknown source(s) nosuch" in capsys.readouterr().err


def test_subwords_option_normalises_the_range_and_rejects_a_bad_one_in_one_line(capsys):
    import run_bli

    assert run_bli.parse_args(["--subwords", "3-6"]).subwords == "3-6"
    assert run_bli.parse_args(["--subwords", "4"]).subwords == "4-4"
    assert run_bli.parse_args(["--subwords", "none"]).subwords is None
    assert run_bli.parse_args([]).subwords is None
    for bad in ("6-3", "x"):
        with pytest.raises(SystemExit):
            run_bli.parse_args(["--subwords", bad])
        err = capsys.readouterr().err.strip().splitlines()
        assert "--subwords" in err[-1] and len(err[-1]) < 200


def test_lexicon_split_option_gives_every_setting_the_same_train_and_test_files(tmp_path, capsys):
    """--lexicon-split TRAIN,TEST: used as given (with its word counts) instead of a split on each setting's
    vocabularies; a missing file or several pairs is one line on stderr."""
    import run_bli

    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("cat Katze\ndog Hund\ndog Köter\n", encoding="utf-8")
    test.write_text("house Haus\n", encoding="utf-8")
    args = run_bli.parse_args(["--pairs", "en-de", "--lexicon-split", f"{train},{test}", "--cache-dir", str(tmp_path)])
    st = run_bli.Setting("en-de", "none", 1.0, "en", "de")
    run_bli.ensure_lexicons(st, args)
    assert (st.train_lex, st.test_lex) == (train, test)
    assert st.info["split"]["method"] == "given"
    assert (st.info["split"]["train_words"], st.info["split"]["test_words"]) == (2, 1)
    assert (st.info["train_pairs"], st.info["test_pairs"]) == (3, 1)
    for bad in (["--pairs", "en-de", "--lexicon-split", f"{train},{tmp_path / 'nosuch.txt'}"],
                ["--pairs", "en-de,en-fr", "--lexicon-split", f"{train},{test}"]):
        with pytest.raises(SystemExit):
            run_bli.parse_args(bad)
        err = capsys.readouterr().err.strip().splitlines()
        assert "--lexicon-split" in err[-1]


def test_criterion_audit_scores_stability_rules_on_held_out_runs(tmp_path):
    """--holdout-after: the rules are also scored on the runs first reported after the date, alone."""
    import criterion_audit as ca

    steps = lambda last_change: [{"change": 1.0, "pairs": 9}] + [{"change": last_change, "overlap": 0.9, "pairs": 9}] * 2  # noqa: E731
    _fake_result(tmp_path / "bli_a.json", 0, 0.20, 0.01, False, steps(0.50), date="2026-01-01 00:00 UTC")  # caught by change
    _fake_result(tmp_path / "bli_b.json", 1, 0.20, 0.16, False, steps(0.45), date="2026-02-01 00:00 UTC")  # held out: false reject
    _fake_result(tmp_path / "bli_c.json", 2, 0.20, 0.02, False, steps(0.05), date="2026-02-01 00:00 UTC")  # held out: missed
    assert ca.main(["--results-dir", str(tmp_path), "--name", "audit", "--holdout-after", "2026-01-15 00:00 UTC"]) == 0
    md = (tmp_path / "audit.md").read_text()
    assert "only the 2 runs first reported after 2026-01-15 00:00 UTC" in md
    assert "| criterion flag alone | 1/3 | 2 | 0 | 1/2 | 1 | 0 |" in md
    assert "| criterion flag, or final change > 0.4 | 1/3 | 1 | 1 | 0/2 | 1 | 1 |" in md
    with pytest.raises(SystemExit):
        ca.main(["--results-dir", str(tmp_path), "--name", "bad", "--holdout-after", "2026-01-15"])
    assert not (tmp_path / "bad.md").exists()


def _cipher_results_file(tmp_path: Path) -> Path:
    """A minimal run_bli results file whose one setting (en-cipher/cipher/1) points at the cipher fixture."""
    import json

    root = Path(__file__).resolve().parents[1]
    lex = str(root / "corpora/fixtures/cipher.train.txt")
    setting = {"id": "en-cipher/cipher/1", "train_lexicon": lex, "test_lexicon": lex,
               "vectors": {"src": {"path": str(root / "tests/data/as_cipher_en.npz")},
                           "tgt": {"path": str(root / "tests/data/as_cipher_code.npz")}}}
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"settings": [setting]}))
    return res


def test_failure_probe_scores_maps_against_refined_random_starts(tmp_path):
    """The failure probe reads a space from a results file, scores the supervised map relative to refined random
    starts, and finds the best separating cut; a malformed --space is one line."""
    import json

    import failure_probe as fp

    assert fp.best_threshold([0.1, 0.2, 0.3, 0.4], [False, False, True, True]) == (pytest.approx(0.25), 4)
    assert fp.best_threshold([0.1, 0.3, 0.2], [False, False, True])[1] == 2
    res = _cipher_results_file(tmp_path)
    argv = ["--space", f"{res}:en-cipher/cipher/1", "--methods", "", "--random-starts", "1", "--max-vocab", "500",
            "--refine-iters", "1", "--out-dir", str(tmp_path), "--name", "fp"]
    assert fp.main(argv) == 0
    rows = json.loads((tmp_path / "fp.json").read_text())["rows"]
    assert [r["map"] for r in rows] == ["procrustes"] and rows[0]["space"] == "r:en-cipher/cipher/1"
    assert rows[0]["p1"] > 0.9 and rows[0]["muse_share"] > 0.3 and rows[0]["sinkhorn_share"] > 0.3
    with pytest.raises(SystemExit, match="is not RESULTS_JSON:SETTING_ID"):
        fp.main(["--space", "nofile"])
    with pytest.raises(SystemExit, match="no setting 'en-xx/none/1'"):
        fp.main(["--space", f"{res}:en-xx/none/1"])


def test_refine_length_probe_reports_both_starts_per_checkpoint(tmp_path):
    """The refinement-length probe refines the supervised and the gw start to each checkpoint and compares them."""
    import json

    import refine_length_probe as rlp

    res = _cipher_results_file(tmp_path)
    argv = ["--space", f"{res}:en-cipher/cipher/1", "--checkpoints", "1,0", "--max-vocab", "500",
            "--out-dir", str(tmp_path), "--name", "rl"]
    assert rlp.main(argv) == 0
    rows = json.loads((tmp_path / "rl.json").read_text())["rows"]
    assert [(r["steps"], r["start"]) for r in rows] == [(0, "supervised"), (0, "gw"), (1, "supervised"), (1, "gw")]
    assert rows[0]["last_change"] is None and rows[2]["last_change"] is not None
    assert all(r["p1"] > 0.9 for r in rows) and rows[-1]["dictionary_jaccard"] > 0.5
    with pytest.raises(SystemExit, match="comma-separated"):
        rlp.main(argv[:2] + ["--checkpoints", "five"])
    assert rlp.main(argv[:-1] + ["rs", "--starts", "supervised", "--reweight"]) == 0  # one start, the multi-step map too
    rows = json.loads((tmp_path / "rs.json").read_text())["rows"]
    assert [r["start"] for r in rows] == ["supervised", "supervised"] and all(r["p1_reweighted"] > 0.9 for r in rows)
    md = (tmp_path / "rs.md").read_text()
    assert "| P@1 reweighted, supervised start |" in md and "from the supervised start" in md
    with pytest.raises(SystemExit, match="--starts 'sup'"):
        rlp.main(argv[:2] + ["--starts", "sup"])


def test_basin_probe_settles_perturbed_gw_maps_and_reports_the_criterion_pick(tmp_path):
    """The basin probe refines supervised, gw and perturbed-gw maps to convergence and summarises the criterion's pick."""
    import json

    import basin_probe as bp

    res = _cipher_results_file(tmp_path)
    argv = ["--space", f"{res}:en-cipher/cipher/1", "--perturbations", "stochastic:0.5,rank:200", "--perturb-steps", "1",
            "--perturb-rank", "500", "--max-steps", "2", "--max-vocab", "500", "--out-dir", str(tmp_path), "--name", "bp"]
    assert bp.main(argv) == 0
    rows = json.loads((tmp_path / "bp.json").read_text())["rows"]
    assert [r["map"] for r in rows] == ["supervised", "gw", "gw + stochastic:0.5", "gw + rank:200"]
    assert all(r["p1"] > 0.9 and 1 <= r["steps"] <= 2 for r in rows) and rows[0]["jaccard_to_supervised"] == 1.0
    assert "| r:en-cipher/cipher/1 | " in (tmp_path / "bp.md").read_text()
    assert bp.main(argv[:-4] + ["--perturbations", "union", "--perturb-supervised", "--out-dir", str(tmp_path), "--name", "bs"]) == 0
    assert [r["map"] for r in json.loads((tmp_path / "bs.json").read_text())["rows"]] == [
        "supervised", "gw", "gw + union", "supervised + union"]
    for bad in ("stochastic:0", "rank:x", "shake"):
        with pytest.raises(SystemExit, match="unknown perturbation"):
            bp.main(argv[:2] + ["--perturbations", bad])
    with pytest.raises(SystemExit, match="must be >= 1"):
        bp.main(argv[:2] + ["--max-steps", "0"])


def test_ensure_vectors_names_the_cached_vector_files_by_content(tmp_path):
    """The vector cache key names the training inputs; the report also names each file's content hash."""
    import argparse
    import json

    import run_bli
    from bli_core import file_sha256

    corpus = tmp_path / "en.txt"
    corpus.write_text("the cat sat\n")
    args = argparse.Namespace(dim=2, min_count=1, epochs=1, vector_seed=0, cache=tmp_path / "cache", threads=None,
                              report_only=False, plan=False, train_timeout=10, log=print)
    st = run_bli.Setting("en-es", "none", src_lang="en", tgt_lang="es", corpora={"src": corpus, "tgt": corpus})
    for lang in ("en", "es"):  # pretend both were trained: a finished record beside each file
        key = run_bli.vector_cache_key(corpus, lang, args)
        (args.cache / "vectors").mkdir(parents=True, exist_ok=True)
        (args.cache / "vectors" / f"{lang}-{key}.npz").write_bytes(lang.encode() * 10)
        (args.cache / "vectors" / f"{lang}-{key}.json").write_text(json.dumps({"status": "ok", "words": 3, "wall_s": 1.0}))
    run_bli.ensure_vectors(st, args)
    for side in ("src", "tgt"):
        assert st.vectors[side]["sha256"] == file_sha256(st.vectors[side]["path"])[:16]
    assert st.vectors["src"]["sha256"] != st.vectors["tgt"]["sha256"]
    # --shuffle-sentences trains (and caches) apart; without it the key is the one unshuffled vectors always had
    assert "shuffle" not in run_bli.training_params(args)
    shuffled = argparse.Namespace(**{**vars(args), "shuffle_sentences": True})
    assert run_bli.training_params(shuffled)["shuffle"] is True
    assert run_bli.vector_cache_key(corpus, "en", shuffled) != run_bli.vector_cache_key(corpus, "en", args)
    # --subwords likewise: fastText-style vectors cache apart, plain ones keep their key
    assert "subwords" not in run_bli.training_params(args)
    ngrams = argparse.Namespace(**{**vars(args), "subwords": "3-6"})
    assert run_bli.training_params(ngrams)["subwords"] == "3-6"
    assert run_bli.vector_cache_key(corpus, "en", ngrams) != run_bli.vector_cache_key(corpus, "en", args)


def test_final_step_probe_compares_self_learning_schedules(tmp_path, capsys):
    """--sl-schedule runs self-learning with each given schedule from the same start; a bad field is one line."""
    import json

    import final_step_probe as fsp

    root = Path(__file__).resolve().parents[1]
    argv = ["--src", str(root / "tests/data/as_cipher_en.npz"), "--tgt", str(root / "tests/data/as_cipher_code.npz"),
            "--lexicon", str(root / "corpora/fixtures/cipher"), "--starts", "supervised", "--max-vocab", "500",
            "--refine-iters", "1", "--out-dir", str(tmp_path), "--name", "fs"]
    assert fsp.main(argv + ["--sl-schedule", "max_iter=2", "--sl-schedule", "patience=1,max_iter=3,tol=0.5"]) == 0
    rows = json.loads((tmp_path / "fs.json").read_text())["rows"]
    assert [r["final_step"] for r in rows] == [
        "shared refinement (1 iterations)",
        "stochastic self-learning (top 20k, union CSLS; max_iter=2)",
        "stochastic self-learning (top 20k, union CSLS; max_iter=2), then shared refinement (1)",
        "stochastic self-learning (top 20k, union CSLS; patience=1, max_iter=3, tol=0.5)",
        "stochastic self-learning (top 20k, union CSLS; patience=1, max_iter=3, tol=0.5), then shared refinement (1)"]
    assert rows[1]["sl_iterations"] == 2 and len(rows[1]["sl_history"]) == 2
    assert rows[3]["sl_final_p"] > 0.1  # tol 0.5: every iteration stalls, so p grows each time
    assert all(r["p1"] > 0.9 for r in rows)
    for bad, msg in (("speed=2", "expected KEY=VALUE"), ("p0=2", "need 0 < p0 <= 1")):
        with pytest.raises(SystemExit):
            fsp.main(argv + ["--sl-schedule", bad])
        assert msg in capsys.readouterr().err


def _cipher_study_maps(tmp_path: Path, noise: float):
    """The cipher results file as a study dict with the test lexicon set, its two spaces, the supervised map and a
    noisy copy of it (Gaussian noise of std ``noise`` on W), and an empty ``cells`` folder for kept mappings."""
    import json

    import numpy as np
    from udm import Embeddings, Lexicon, Mapping, ProcrustesAligner

    root = Path(__file__).resolve().parents[1]
    study = json.loads(_cipher_results_file(tmp_path).read_text())
    setting = study["settings"][0]
    setting["test_lexicon"] = str(root / "corpora/fixtures/cipher.test.txt")
    src, tgt = (Embeddings.load(setting["vectors"][s]["path"]) for s in ("src", "tgt"))
    good = ProcrustesAligner(seed=0, progress=False, refine_iters=0).fit(src, tgt, Lexicon.load(setting["train_lexicon"]))
    noisy = Mapping(good.W + np.random.default_rng(1).normal(0, noise, good.W.shape).astype(np.float32), good.src_norm,
                    good.tgt_norm, {})
    (tmp_path / "cells").mkdir()
    return study, setting, src, tgt, good, noisy


def test_paired_test_compares_kept_mappings_and_checks_recorded_scores(tmp_path):
    """paired_test reads a study, scores each run's kept mapping against the baseline's on the same words, marks a
    run whose recorded P@1 does not reproduce, and lists runs that kept no mapping."""
    import json

    import paired_test
    from udm import Lexicon, evaluate_mapping

    study, setting, src, tgt, good, noisy = _cipher_study_maps(tmp_path, 0.3)
    cells = []
    for key, method, m, shift in (("base", "procrustes", good, 0.0), ("run1", "wp", noisy, 0.0), ("run2", "wp", good, 0.01)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
        p1 = evaluate_mapping(m, src, tgt, Lexicon.load(setting["test_lexicon"])).get("csls", 1) + shift
        cells.append({"method": method, "seed": len(cells), "status": "ok", "cell": key, "p1": p1})
    cells.append({"method": "wp", "seed": 9, "status": "ok", "cell": "old", "p1": 0.5})  # no kept mapping
    setting["cells"] = cells
    study["meta"] = {"params": {"max_vocab": 10 ** 6}}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    assert paired_test.main(["--study", str(path), "--cache-dir", str(tmp_path), "--out-dir", str(tmp_path),
                             "--name", "paired"]) == 0
    rows = json.loads((tmp_path / "paired.json").read_text())["rows"]
    assert [(r["seed"], r["reproduced"]) for r in rows] == [(1, True), (2, False)]
    assert paired_test.same_score(0.0, 0.0) and not paired_test.same_score(0.0, None)  # a P@1 of 0 can reproduce
    assert rows[0]["only_b"] > rows[0]["only_a"] and rows[0]["verdict"] == "worse"
    assert rows[1]["only_a"] == rows[1]["only_b"] == 0 and rows[1]["verdict"] == "not significant"
    md = (tmp_path / "paired.md").read_text()
    assert "wp seed 9: no kept mapping" in md and "2 runs: 0 significantly better" in md
    pooled = json.loads((tmp_path / "paired.json").read_text())["meta"]["pooled"]  # wp's two runs against the base
    assert [(r["method"], r["runs"]) for r in pooled] == [("wp", 2)]
    assert pooled[0]["difference"] == pytest.approx((rows[0]["difference"] + rows[1]["difference"]) / 2)
    assert "| en-cipher/cipher/1 | wp | 2 | study.json |" in md

    # --pool-across: a second study's run on the same setting and baseline (word for word) pools with the first's two;
    # without it each study pools alone (one run: no pooled row), and a study on another baseline stays apart
    second = json.loads(path.read_text())  # its baseline: the same map kept under another cell key
    good.save(tmp_path / "cells" / "base2.mapping.npz")
    noisy.save(tmp_path / "cells" / "run7.mapping.npz")  # another run that happens to equal run1, and run2 once more
    second["settings"][0]["cells"] = [{**cells[0], "cell": "base2"}, {**cells[1], "seed": 7, "cell": "run7"}, cells[2]]
    (tmp_path / "second.json").write_text(json.dumps(second))
    apart = json.loads(path.read_text())
    apart["settings"][0]["cells"] = [{**cells[1], "method": "procrustes"}, {**cells[2], "seed": 8}, {**cells[2], "seed": 9}]
    (tmp_path / "apart.json").write_text(json.dumps(apart))
    studies = ["--study", str(path), "--study", str(tmp_path / "second.json"), "--study", str(tmp_path / "apart.json")]
    common = ["--cache-dir", str(tmp_path), "--out-dir", str(tmp_path)]
    paired_test.main(studies + common + ["--name", "within"])
    within = json.loads((tmp_path / "within.json").read_text())["meta"]["pooled"]
    assert [(r["runs"], r["studies"]) for r in within] == [(2, ["study.json"]), (2, ["second.json"]), (2, ["apart.json"])]
    paired_test.main(studies + common + ["--name", "across", "--pool-across"])
    across = json.loads((tmp_path / "across.json").read_text())["meta"]
    listed = json.loads((tmp_path / "across.json").read_text())["rows"]  # run2, named by two studies, listed once
    assert sorted((r["seed"], r["cell"]) for r in listed) == [(1, "run1"), (2, "run2"), (7, "run7"), (8, "run2"),
                                                              (9, "run2")]
    assert [(r["runs"], r["studies"]) for r in across["pooled"]] == [(3, ["study.json", "second.json"]), (2, ["apart.json"])]
    assert across["pooled"][0]["difference"] == pytest.approx((2 * rows[0]["difference"] + rows[1]["difference"]) / 3)
    assert "over all the studies given (`--pool-across`)" in (tmp_path / "across.md").read_text()
    with pytest.raises(SystemExit):  # the same study twice would count its runs twice
        paired_test.main(["--study", str(path), "--study", str(path)] + common + ["--pool-across"])

    # the baseline taken from another study of the same inputs (there: the noisy map), and refused on other inputs
    other = json.loads(path.read_text())
    other["settings"][0]["cells"] = [{**cells[1], "method": "procrustes"}]
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert paired_test.main(["--study", str(path), "--baseline-from", str(tmp_path / "other.json"), "--cache-dir",
                             str(tmp_path), "--out-dir", str(tmp_path), "--name", "paired2"]) == 0
    rows = json.loads((tmp_path / "paired2.json").read_text())["rows"]
    assert [(r["method"], r["seed"], r["verdict"]) for r in rows] == [("procrustes", 0, "better"), ("wp", 1, "not significant"),
                                                                       ("wp", 2, "better")]
    other["settings"][0]["vectors"]["src"]["sha256"] = "different"
    (tmp_path / "other.json").write_text(json.dumps(other))
    paired_test.main(["--study", str(path), "--baseline-from", str(tmp_path / "other.json"), "--cache-dir",
                      str(tmp_path), "--out-dir", str(tmp_path), "--name", "paired3"])
    assert "no baseline study has a setting en-cipher/cipher/1 on the same vectors" in (tmp_path / "paired3.md").read_text()
    assert paired_test.default_name([str(path)], None) == "paired_study"  # no --name: named after the studies
    assert paired_test.default_name(["r/bli_x.json"], ["r/bli_x_orthogonal.json"]) == "paired_x_vs_x_orthogonal"

    # --pool-trainings: a second vector training (other vectors' hash, its own baseline: the noisy map) pools with
    # the first training's runs, each training weighted once, and each run takes the baseline on its own vectors
    trained = json.loads(path.read_text())
    trained["settings"][0]["vectors"]["src"]["sha256"] = "training2"
    copy = tmp_path / "split2.test.txt"  # the same split, cached for the other training under another name
    copy.write_bytes(Path(setting["test_lexicon"]).read_bytes())
    trained["settings"][0]["test_lexicon"] = str(copy)
    trained["settings"][0]["cells"] = [{**cells[1], "method": "procrustes", "cell": "run1"},
                                       {**cells[2], "seed": 4, "p1": cells[0]["p1"]}]
    (tmp_path / "trained.json").write_text(json.dumps(trained))
    paired_test.main(["--study", str(path), "--study", str(tmp_path / "trained.json"), "--pool-trainings"] + common
                     + ["--name", "trainings"])
    meta = json.loads((tmp_path / "trainings.json").read_text())["meta"]
    (tr,) = meta["pooled_trainings"]
    one, two = sorted(tr["per_training"], key=lambda t: t["runs"], reverse=True)
    assert (tr["trainings"], tr["runs"], one["runs"], two["runs"]) == (2, 3, 2, 1)
    assert tr["difference"] == pytest.approx((one["difference"] + two["difference"]) / 2)
    assert one["difference"] < 0 < two["difference"]  # the first training's runs include the noisy map
    assert "Pooled over vector trainings" in (tmp_path / "trainings.md").read_text()
    ortho = json.loads((tmp_path / "other.json").read_text())  # one baseline study per training: each run takes its own
    ortho["settings"][0]["vectors"]["src"]["sha256"] = "training2"
    ortho["settings"][0]["test_lexicon"] = str(copy)
    (tmp_path / "ortho2.json").write_text(json.dumps(ortho))
    paired_test.main(["--study", str(tmp_path / "trained.json"), "--baseline-from", str(tmp_path / "other.json"),
                      "--baseline-from", str(tmp_path / "ortho2.json")] + common + ["--name", "two_bases"])
    rows = json.loads((tmp_path / "two_bases.json").read_text())["rows"]  # other.json is on other vectors: ortho2's
    assert [(r["method"], r["verdict"]) for r in rows] == [("procrustes", "not significant"), ("wp", "better")]


def test_paired_test_recorded_compares_the_hits_a_study_recorded_without_its_cache(tmp_path):
    """--recorded compares the per-word hits the study JSON holds: the same verdicts as rescoring the kept
    mappings, with no cell cache; a cell without hits, or with hits on other test words, is listed, not compared."""
    import json

    import paired_test
    from udm import Lexicon, evaluate_mapping
    from udm.evaluate import pack_hits

    study, setting, src, tgt, good, noisy = _cipher_study_maps(tmp_path, 0.3)
    test = Lexicon.load(setting["test_lexicon"])
    cells = []
    for key, method, m in (("base", "procrustes", good), ("run1", "wp", noisy), ("run2", "wp", good)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
        rep = evaluate_mapping(m, src, tgt, test)
        cells.append({"method": method, "seed": len(cells), "status": "ok", "cell": key, "p1": rep.get("csls", 1),
                      "hits": pack_hits(rep)})
    shifted = {**cells[2]["hits"], "words_sha256": "another-split"}
    cells += [{**cells[1], "seed": 8, "cell": "nohits", "hits": None}, {**cells[2], "seed": 9, "hits": shifted},
              {**cells[2], "seed": 10, "cell": None}]
    setting["cells"] = cells
    study["meta"] = {"params": {"max_vocab": 10 ** 6}}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    common = ["--study", str(path), "--out-dir", str(tmp_path)]
    assert paired_test.main(common + ["--cache-dir", str(tmp_path), "--name", "rescored"]) == 0
    assert paired_test.main(common + ["--cache-dir", str(tmp_path / "absent"), "--recorded", "--name", "recorded"]) == 0
    rescored, recorded = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("rescored", "recorded"))
    fields = ("seed", "p_a", "p_b", "only_a", "only_b", "p_value", "verdict")
    assert [tuple(r[f] for f in fields) for r in recorded["rows"]] == [tuple(r[f] for f in fields)
                                                                      for r in rescored["rows"] if r["seed"] in (1, 2)]
    assert [r["reproduced"] for r in recorded["rows"]] == [None, None]
    assert recorded["meta"]["pooled"][0]["difference"] == pytest.approx(recorded["rows"][0]["difference"] / 2)
    md = (tmp_path / "recorded.md").read_text()
    assert "| recorded |" in md and "`--recorded`: no mapping rescored" in md
    assert "wp seed 8: recorded no per-word hits" in md and "wp seed 9: recorded hits on other test words" in md
    assert "wp seed 10: no cell key" in md
    setting["cells"][0]["hits"] = None  # no baseline hits: the setting is listed, not compared
    path.write_text(json.dumps(study))
    paired_test.main(common + ["--recorded", "--name", "nobase"])
    assert "the procrustes cell recorded no per-word hits" in (tmp_path / "nobase.md").read_text()


def test_consensus_probe_votes_runs_dictionaries_and_fits_the_supervised_pipeline_on_them(tmp_path):
    """The consensus probe induces a dictionary from each run's kept mapping, keeps the pairs enough runs agree on,
    fits Procrustes (+ refinement) on them with no gold pairs, and reports P@1 and the criterion per threshold."""
    import json

    import consensus_probe as cp

    votes = cp.vote([[("a", "x"), ("b", "y"), ("a", "x")], [("a", "x"), ("c", "z")]])
    assert votes == {("a", "x"): 2, ("b", "y"): 1, ("c", "z"): 1}  # a pair counts once per run
    assert cp.consensus(votes, 2).pairs == [("a", "x")] and cp.consensus(votes, 1).pairs[0] == ("a", "x")

    study, setting, _, _, good, noisy = _cipher_study_maps(tmp_path, 0.2)
    setting["cells"] = [{"method": "procrustes", "seed": 0, "status": "ok", "cell": "base", "p1": 0.99}]
    for key, m in (("run1", good), ("run2", noisy)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
        setting["cells"].append({"method": "gw", "seed": len(setting["cells"]), "status": "ok", "cell": key, "p1": 0.9})
    study["meta"] = {"params": {"max_vocab": 10 ** 6, "refine_iters": 1, "reweight": False}}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    argv = ["--study", str(path), "--cache-dir", str(tmp_path), "--out-dir", str(tmp_path), "--max-rank", "500"]
    assert cp.main(argv + ["--votes", "1,2,5", "--name", "cons"]) == 0
    rows = json.loads((tmp_path / "cons.json").read_text())["rows"]
    assert [r["min_votes"] for r in rows] == [2, 1, None]  # thresholds above the number of runs skipped; train last
    assert rows[0]["pairs"] < rows[1]["pairs"] and rows[0]["correct"] > 0.9 * rows[0]["pairs"]  # the noisy run disagrees
    assert all(r["p1_final"] > 0.9 and 0 < r["criterion_final"] <= 1 for r in rows)
    md = (tmp_path / "cons.md").read_text()
    assert "| >= 2 votes | " in md and "| train lexicon (supervised) | " in md
    with pytest.raises(SystemExit, match="no setting with two or more wp runs"):
        cp.main(argv + ["--method", "wp"])
    (tmp_path / "cells" / "run2.mapping.npz").unlink()
    with pytest.raises(SystemExit, match="1 gw run.s. of en-cipher/cipher/1 kept a mapping; two are needed"):
        cp.main(argv + ["--setting", "en-cipher/cipher/1"])
    with pytest.raises(SystemExit, match="no setting 'en-xx/none/1'"):
        cp.main(argv + ["--setting", "en-xx/none/1"])
    with pytest.raises(SystemExit):
        cp.main(argv + ["--votes", "ten"])


def test_cross_training_consensus_votes_across_vector_trainings_and_compares_with_supervised(tmp_path):
    """The cross-training vote takes each training's majority dictionary (runs on the same vector files pooled),
    keeps the pairs enough trainings share, fits the --to study's supervised pipeline on each, and compares every
    row with the train lexicon's fit word by word."""
    import copy
    import json
    import shutil

    import cross_training_consensus as ctc

    runs = [[("a", "x"), ("b", "y")], [("a", "x")], [("c", "z")]]
    assert ctc.training_dictionary(runs).pairs == [("a", "x")]  # at least half of three runs: two
    assert len(ctc.training_dictionary(runs, 0).pairs) == 3 and ctc.training_dictionary(runs, 1).pairs == []
    study, setting, _, _, good, noisy = _cipher_study_maps(tmp_path, 0.3)
    for key, m in (("good", good), ("noisy", noisy)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
    setting["cells"] = [{"method": "gw", "seed": 1, "status": "ok", "cell": "good", "p1": 0.99}]
    study["meta"] = {"params": {"max_vocab": 10 ** 6, "refine_iters": 1, "reweight": False}}
    other = copy.deepcopy(study)  # a second training: the same vectors under other file names, one noisy run
    (tmp_path / "copy").mkdir()
    for side in ("src", "tgt"):
        vec = Path(setting["vectors"][side]["path"])
        shutil.copy(vec, tmp_path / "copy" / f"{side}-{vec.name}")
        other["settings"][0]["vectors"][side]["path"] = str(tmp_path / "copy" / f"{side}-{vec.name}")
    other["settings"][0]["cells"] = [{"method": "gw", "seed": 1, "status": "ok", "cell": "noisy", "p1": 0.5}]
    paths = []
    for name, s in (("a.json", study), ("b.json", other)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(s))
    argv = ["--study", str(paths[0]), "--study", str(paths[1]), "--to", str(paths[0]), "--cache-dir", str(tmp_path),
            "--out-dir", str(tmp_path), "--max-rank", "500", "--name", "ctc"]
    assert ctc.main(argv) == 0
    rows = {r["seed_dictionary"]: r for r in json.loads((tmp_path / "ctc.json").read_text())["rows"]}
    assert list(rows) == ["training 1 alone", "training 2 alone", ">= 2 of 2 trainings", ">= 1 of 2 trainings",
                          "train lexicon (supervised)"]
    both, noisy_alone = rows[">= 2 of 2 trainings"], rows["training 2 alone"]
    assert both["pairs"] <= min(rows["training 1 alone"]["pairs"], noisy_alone["pairs"]) < rows[">= 1 of 2 trainings"]["pairs"]
    assert both["correct"] / both["pairs"] > noisy_alone["correct"] / noisy_alone["pairs"]  # the vote drops the noise
    assert both["p1"] > 0.9 and rows["train lexicon (supervised)"]["p_value"] == 1.0
    assert "| >= 2 of 2 trainings | " in (tmp_path / "ctc.md").read_text()
    assert ctc.main(argv[:-1] + ["ctcd", "--draws", "2"]) == 0  # one run drawn per training: one run each here
    report = json.loads((tmp_path / "ctcd.json").read_text())
    picks = {r["seed_dictionary"]: r for r in report["rows"]}
    assert [d["aligner_seeds"] for d in report["meta"]["draws"]] == [[1, 1], [1, 1]]
    assert picks[">= 2 of 2 trainings"]["runs"] == 2 and picks["the criterion's pick in each draw"]["p_a"] > 0.9
    assert "| rule | mean P@1 |" in (tmp_path / "ctcd.md").read_text()
    with pytest.raises(SystemExit):
        ctc.main(argv + ["--run-share", "1.5"])
    with pytest.raises(SystemExit):
        ctc.main(argv + ["--draws", "-1"])
    with pytest.raises(SystemExit, match="no gw run with aligner seed 2 of a.json kept a mapping"):
        ctc.main(argv + ["--aligner-seed", "2"])
    with pytest.raises(SystemExit, match="1 vector training.s.; a vote across trainings needs two"):
        ctc.main(argv[:2] + argv[4:])
    (tmp_path / "cells" / "noisy.mapping.npz").unlink()
    with pytest.raises(SystemExit, match="no gw run of b.json kept a mapping"):
        ctc.main(argv)


def test_null_probe_self_learns_random_starts_and_compares_the_kept_maps(tmp_path, monkeypatch):
    """The null probe puts random starts through the failure check's self-learned null, then reports each cell's
    headroom share against it and how many top translations its kept map shares with the nulls."""
    import json

    import null_probe as npr

    study, setting, _, _, good, noisy = _cipher_study_maps(tmp_path, 0.3)
    setting["cells"] = []
    for key, m, p1 in (("run1", good, 0.99), ("run2", noisy, 0.01)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
        setting["cells"].append({"method": "wp", "seed": len(setting["cells"]), "status": "ok", "cell": key, "p1": p1,
                                 "criterion": 0.9 - 0.5 * len(setting["cells"]), "meta": {"failed": False}})
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    argv = ["--space", f"{path}:en-cipher/cipher/1", "--starts", "1", "--max-vocab", "500", "--refine-iters", "1",
            "--refine-rank", "0", "--agree-words", "300", "--cache-dir", str(tmp_path), "--out-dir", str(tmp_path),
            "--name", "nullp"]
    assert npr.main(argv) == 0
    rows = json.loads((tmp_path / "nullp.json").read_text())["rows"]
    assert [r["map"] for r in rows] == ["random start (seed 1)", "wp seed 0", "wp seed 1"]
    null, run1, run2 = rows
    assert null["refined_only_criterion"] < null["criterion"]  # the stage lifts the random start
    assert run1["sl_null"] == null["criterion"] and run1["sl_share"] > run2["sl_share"]
    assert 0 <= run2["agreement"] < run1["agreement"] <= 1  # the noisy map translates fewer words as the null does
    assert "| wp seed 0 |" in (tmp_path / "nullp.md").read_text()
    from udm.aligners.selflearn import SelfLearningAligner
    from udm.aligners.unsupervised import UnsupervisedAligner
    from udm.self_learning import STAGE_SCHEDULE

    seen = []
    real = UnsupervisedAligner.self_learned_null
    monkeypatch.setattr(UnsupervisedAligner, "self_learned_null",
                        lambda self, *a, **k: seen.append(k["schedule"]) or real(self, *a, **k))
    assert npr.main(argv) == 0 and npr.main(argv + ["--schedule", "selflearn"]) == 0
    assert seen == [STAGE_SCHEDULE, SelfLearningAligner().schedule] and seen[0] != seen[1]


def _code_tree(dest: Path, replaced: dict[str, str]) -> Path:
    """A copy of every code file a cell key hashes under ``dest``, with the files of ``replaced`` given new text."""
    import shutil

    import rekey_cells

    root = Path(__file__).resolve().parents[1]
    for rel in rekey_cells.code_files():
        if (root / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / rel, dest / rel)
    for rel, text in replaced.items():
        (dest / rel).write_text(text)
    return dest


def test_rekey_cells_carries_cells_whose_fit_code_is_unchanged(tmp_path):
    """Cells keyed the pre-split way (scoring code hashed in) move to their current keys when only scoring changed,
    with the old scoring hash recorded (so run_bli rescores them) and their kept mapping; others stay stale."""
    import rekey_cells
    import run_bli
    from bli_core import read_cell, write_json

    root = Path(__file__).resolve().parents[1]

    def tree(name, changed):
        return _code_tree(tmp_path / name, {changed: (root / changed).read_text() + "\n# changed\n"})

    scoring_changed, fit_changed = tree("a", "udm/evaluate.py"), tree("b", "udm/refinement.py")
    cache = tmp_path / "cache"
    (cache / "cells").mkdir(parents=True)
    spec = {"pair": "en-xx", "method": "gw", "seed": 0, "max_vocab": 100, "src_vec": "/x/s.npz"}
    for t, key in ((scoring_changed, "k1"), (fit_changed, "k2")):
        old = rekey_cells._hash(t, rekey_cells.PRE_SPLIT_ALIGN_CODE + run_bli.METHOD_CODE["gw"])
        write_json(cache / "cells" / f"{key}.json", {"spec": {**spec, "seed": int(key[1]), "code": old}, "status": "ok",
                                                     "scores": {"csls": {"p@1": 0.5}}, "wall_s": 9.0})
    (cache / "cells" / "k1.mapping.npz").write_bytes(b"kept")
    write_json(cache / "cells" / "k3.json", {"spec": {**spec, "code": "elsewhere"}, "status": "ok"})

    assert rekey_cells.rekey(cache, scoring_changed, dry_run=True)["carried"] == ["k1"]
    assert len(list((cache / "cells").glob("*.json"))) == 3  # a dry run writes nothing
    out = rekey_cells.rekey(cache, scoring_changed)
    assert out["carried"] == ["k1"] and sorted(out["other"]) == ["k2", "k3"]
    new_spec = {**spec, "seed": 1, "code": run_bli.fit_code_hash("gw")}
    new = cache / "cells" / f"{run_bli.cell_identity(new_spec)}.json"
    rec = read_cell(new)
    assert rec["rekeyed_from"] == "k1" and rec["scores"] == {"csls": {"p@1": 0.5}} and rec["wall_s"] == 9.0
    assert rec["eval_code"] == rekey_cells._hash(scoring_changed, run_bli.EVAL_CODE) != run_bli.eval_code_hash()
    assert new.with_suffix(".mapping.npz").read_bytes() == b"kept" and (cache / "cells" / "k1.json").is_file()
    assert rekey_cells.rekey(cache, scoring_changed)["already"] == ["k1"]
    assert rekey_cells.rekey(cache, fit_changed)["fit_changed"] == ["k2"]


def test_rekey_cells_ignore_docstrings_carries_prose_edits_only(tmp_path):
    """With ignore_docstrings a cell keyed (the current way) at a revision whose fit code differs from today's only
    in a docstring or a comment is carried, recording that basis; a change of a single constant is not."""
    import rekey_cells
    import run_bli
    from bli_core import read_cell, write_json

    root = Path(__file__).resolve().parents[1]
    rel = "udm/refinement.py"
    src = (root / rel).read_text()
    prose = src.replace('"""', '"""Edited prose. ', 1) + "\n# a comment\n"
    assert rekey_cells.code_without_docstrings(prose) == rekey_cells.code_without_docstrings(src)
    constant = src + "\n_UNUSED = 1\n"
    assert rekey_cells.code_without_docstrings(constant) != rekey_cells.code_without_docstrings(src)

    cache = tmp_path / "cache"
    (cache / "cells").mkdir(parents=True)
    spec = {"pair": "en-xx", "method": "gw", "seed": 0, "max_vocab": 100, "src_vec": "/x/s.npz"}
    trees = {"p": _code_tree(tmp_path / "p", {rel: prose}), "c": _code_tree(tmp_path / "c", {rel: constant})}
    for key, t in trees.items():
        write_json(cache / "cells" / f"{key}.json",
                   {"spec": {**spec, "code": rekey_cells._hash(t, run_bli.FIT_CODE + run_bli.METHOD_CODE["gw"])},
                    "status": "ok", "eval_code": "e", "scores": {"csls": {"p@1": 0.4}}})
    assert rekey_cells.rekey(cache, trees["p"])["fit_changed"] == ["p"]  # exact hashes only by default
    out = rekey_cells.rekey(cache, trees["p"], ignore_docstrings=True)
    assert out["carried"] == ["p"] and "c" in out["other"]
    rec = read_cell(cache / "cells" / f"{run_bli.cell_identity({**spec, 'code': run_bli.fit_code_hash('gw')})}.json")
    assert rec["rekeyed_from"] == "p" and rec["eval_code"] == "e" and "docstrings" in rec["rekey_basis"]
    assert rekey_cells.rekey(cache, trees["c"], ignore_docstrings=True)["fit_changed"] == ["c"]


def test_shuffle_build_keeps_every_line_and_records_new_checksums(tmp_path):
    """experiments/shuffle_build.py: same lines (multiset) in another order, the manifest's checksums updated."""
    import hashlib
    import json

    import shuffle_build

    build, out = tmp_path / "b", tmp_path / "s"
    build.mkdir()
    lines = {"en": [f"line {i} the cat" for i in range(50)], "es": [f"linea {i} el gato" for i in range(40)]}
    for lang, rows in lines.items():
        (build / f"{lang}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
        (build / f"{lang}.vocab.txt").write_text("the\t50\n", encoding="utf-8")
    manifest = {"split": "none", "languages": {lang: {"file": f"{lang}.txt", "sha256": "old"} for lang in lines}}
    (build / "manifest.json").write_text(json.dumps(manifest))
    m = shuffle_build.shuffle_build(build, out, seed=3)
    again = shuffle_build.shuffle_build(build, tmp_path / "again", seed=3)
    for lang, rows in lines.items():
        got = (out / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        assert sorted(got) == sorted(rows) and got != rows
        assert m["languages"][lang]["sha256"] == hashlib.sha256((out / f"{lang}.txt").read_bytes()).hexdigest()
        assert again["languages"][lang]["sha256"] == m["languages"][lang]["sha256"]  # seeded
        assert (out / f"{lang}.vocab.txt").is_file()
    assert json.loads((out / "manifest.json").read_text())["shuffled_from"]["seed"] == 3
    assert json.loads((build / "manifest.json").read_text())["languages"]["en"]["sha256"] == "old"


def test_shuffle_build_order_controls_keep_or_move_whole_sources(tmp_path):
    """shuffle_build --how within-sources / source-order, and --langs: the controls of the line-order probe."""
    import json

    import pytest
    import shuffle_build

    build = tmp_path / "b"
    build.mkdir()
    blocks = {"en": {"bible": [f"en bible {i}" for i in range(30)], "man": [f"en man {i}" for i in range(20)]},
              "de": {"bible": [f"de bible {i}" for i in range(25)], "wiki": [f"de wiki {i}" for i in range(5)],
                     "man": [f"de man {i}" for i in range(10)]}}
    manifest = {"split": "none", "languages": {}}
    for lang, srcs in blocks.items():
        rows = [line for block in srcs.values() for line in block]
        (build / f"{lang}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
        manifest["languages"][lang] = {"file": f"{lang}.txt", "sha256": "old",
                                       "sources": {n: {"lines": len(b)} for n, b in srcs.items()}}
    (build / "manifest.json").write_text(json.dumps(manifest))

    def read(folder, lang):
        return (folder / f"{lang}.txt").read_text(encoding="utf-8").splitlines()

    within = shuffle_build.shuffle_build(build, tmp_path / "w", seed=1, how="within-sources")
    for lang, srcs in blocks.items():
        got, start = read(tmp_path / "w", lang), 0
        for block in srcs.values():  # each source stays in its place, its lines in another order
            assert sorted(got[start:start + len(block)]) == sorted(block)
            start += len(block)
        assert got != [line for block in srcs.values() for line in block]
    assert within["shuffled_from"]["mode"] == "within-sources"

    rev = shuffle_build.shuffle_build(build, tmp_path / "r", how="source-order")
    assert read(tmp_path / "r", "de") == blocks["de"]["man"] + blocks["de"]["wiki"] + blocks["de"]["bible"]
    assert list(rev["languages"]["de"]["sources"]) == ["man", "wiki", "bible"]  # a later reorder can cut it again

    only = shuffle_build.shuffle_build(build, tmp_path / "o", how="source-order", order=["man", "wiki", "bible"],
                                       langs=["de"])
    assert read(tmp_path / "o", "en") == read(build, "en")  # copied unchanged
    assert read(tmp_path / "o", "de") == read(tmp_path / "r", "de")
    assert only["shuffled_from"]["languages"] == ["de"]

    with pytest.raises(SystemExit, match="leaves out"):
        shuffle_build.shuffle_build(build, tmp_path / "x", how="source-order", order=["bible", "man"])
    with pytest.raises(SystemExit, match="lacks: fortunes"):
        shuffle_build.shuffle_build(build, tmp_path / "x", how="source-order", order=["fortunes"])
    with pytest.raises(SystemExit, match="--order is for --how source-order"):
        shuffle_build.shuffle_build(build, tmp_path / "x", how="within-sources", order=["man", "bible"])
    with pytest.raises(SystemExit, match="not in this build"):
        shuffle_build.shuffle_build(build, tmp_path / "x", langs=["fr"])
    manifest["languages"]["en"]["sources"]["man"]["lines"] = 3
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit, match="do not add up"):
        shuffle_build.shuffle_build(build, tmp_path / "x", how="within-sources")
    assert not (tmp_path / "x").exists()  # nothing written on a refusal


def test_vector_losses_reads_each_sides_training_record(tmp_path):
    """experiments/vector_losses.py: one row per trained side named by a study JSON, with its per-epoch loss."""
    import json

    import vector_losses

    (tmp_path / "cache" / "vectors").mkdir(parents=True)
    rec = {"status": "ok", "epoch_loss": [2.0, 1.8, 1.9], "spec": {"params": {"dim": 8, "epochs": 3, "shuffle": True}}}
    (tmp_path / "cache" / "vectors" / "en-k1.json").write_text(json.dumps(rec))
    study = tmp_path / "study.json"
    study.write_text(json.dumps({"settings": [{"vectors": {
        "src": {"path": "/x/en-k1.npz", "key": "k1", "corpus": "en.txt"},
        "tgt": {"path": "/x/es-k2.npz", "key": "k2", "corpus": "es.txt"}}}]}))  # es: no record, left out
    rows = vector_losses.loss_rows(study, tmp_path / "cache")
    assert [(r["side"], r["lang"], r["epoch_loss"], r["shuffle"]) for r in rows] == [("src", "en", [2.0, 1.8, 1.9], True)]
    vector_losses.main([str(study), "--cache-dir", str(tmp_path / "cache"), "--out-dir", str(tmp_path), "--name", "v"])
    assert "2.000 1.800 1.900 | 2 |" in (tmp_path / "v.md").read_text()


def test_isomorphism_probe_tells_a_matched_pair_from_a_mismatched_one(tmp_path):
    """On the cipher fixture the gold pairs' geometries agree; with the target rows shuffled they do not; too few
    gold pairs is one line."""
    import json

    import isomorphism_probe as ip
    import numpy as np

    from udm import Embeddings

    root = Path(__file__).resolve().parents[1]
    code = Embeddings.load(root / "tests/data/as_cipher_code.npz")
    rows = np.random.default_rng(0).permutation(len(code))
    Embeddings(code.words, code.vectors[rows]).save(tmp_path / "scrambled.npz")
    cells = [{"method": "procrustes", "status": "ok", "seed": 0, "p1": 0.99},
             {"method": "gw", "status": "ok", "seed": 1, "p1": 0.5},  # a later seed listed first: not reported
             {"method": "gw", "status": "ok", "seed": 0, "p1": 0.98}]
    for name, tgt in (("matched", root / "tests/data/as_cipher_code.npz"), ("scrambled", tmp_path / "scrambled.npz")):
        setting = {"pair": "en-cipher", "cells": cells,
                   "vectors": {"src": {"path": str(root / "tests/data/as_cipher_en.npz")}, "tgt": {"path": str(tgt)}}}
        (tmp_path / f"{name}.json").write_text(json.dumps({"settings": [setting]}))
    argv = ["--lexicon", str(root / "corpora/fixtures/cipher.train.txt"),
            "--study", str(tmp_path / "matched.json"), "--study", str(tmp_path / "scrambled.json"),
            "--top", "1000", "--pairs", "300", "--out-dir", str(tmp_path), "--name", "iso"]
    assert ip.main(argv) == 0
    matched, scrambled = json.loads((tmp_path / "iso.json").read_text())["rows"]
    assert matched["pairs"] == scrambled["pairs"] == 300 and matched["gw"] == 0.98
    assert matched["relational"] > 0.5 and matched["knn"] > 0.2 and matched["fit"] > 0.5
    assert abs(scrambled["relational"]) < 0.1 and scrambled["knn"] < 0.05 and scrambled["fit"] < matched["fit"]
    assert matched["start_order"] > 0.5 and abs(scrambled["start_order"]) < 0.2 and matched["spectral"] >= 0
    assert matched["freq_rank"] > 0.9 and scrambled["freq_rank"] == matched["freq_rank"]  # ranks, not geometry
    md = (tmp_path / "iso.md").read_text()
    assert "| knn | en-cipher | " in md and "(2) | none |" in md  # both studies' gw above 5%: one range, no failures
    unrelated = tmp_path / "unrelated.txt"
    unrelated.write_text("zzzq yyyq\n")
    with pytest.raises(SystemExit, match="matched.json: only 0 gold pairs"):
        ip.main(["--lexicon", str(unrelated)] + argv[2:4] + ["--name", "bad"])
    assert not (tmp_path / "bad.md").exists()
    with pytest.raises(SystemExit, match="^error: "):
        ip.main(["--lexicon", str(tmp_path / "missing.txt")] + argv[2:4] + ["--name", "bad"])


def test_dictionary_transfer_carries_each_runs_induced_dictionary_and_compares_with_supervised(tmp_path):
    """dictionary_transfer reads each unsupervised run's kept mapping, induces its dictionary, fits Procrustes (+
    refinement) seeded with it on the target study's vectors and compares word by word with that study's
    supervised map; bad arguments stop with one line."""
    import json
    import shutil

    import dictionary_transfer as dt

    study, setting, _, _, good, noisy = _cipher_study_maps(tmp_path, 0.05)
    setting["cells"] = [{"method": "procrustes", "seed": 0, "status": "ok", "cell": "base", "p1": 0.99}]
    good.save(tmp_path / "cells" / "base.mapping.npz")
    for key, m in (("run1", good), ("run2", noisy)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
        setting["cells"].append({"method": "gw", "seed": len(setting["cells"]), "status": "ok", "cell": key, "p1": 0.9})
    study["meta"] = {"params": {"max_vocab": 10 ** 6, "refine_iters": 1, "reweight": False}}
    (tmp_path / "lexicons").mkdir()
    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "corpora/fixtures/cipher.txt", tmp_path / "lexicons" / f"{setting['id'].split('/')[0]}.txt")
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    argv = ["--from", f"{path}:gw", "--to", str(path), "--cache-dir", str(tmp_path), "--out-dir", str(tmp_path),
            "--rank", "500", "--name", "tr"]
    assert dt.main(argv) == 0
    out = json.loads((tmp_path / "tr.json").read_text())
    assert [r["seed"] for r in out["rows"]] == [1, 2] and out["pooled"]["runs"] == 2
    assert all(r["carried"] > 300 and r["correct"] > 0.9 * r["carried"] and r["p_a"] > 0.9 for r in out["rows"])
    assert "| 1 | 90.0 |" in (tmp_path / "tr.md").read_text()
    # a second batch of seeds on the same vectors pools into one report; a run both studies list counts once
    batch = json.loads(json.dumps(study))
    good.save(tmp_path / "cells" / "run3.mapping.npz")
    batch["settings"][0]["cells"] = [setting["cells"][1], {"method": "gw", "seed": 3, "status": "ok", "cell": "run3", "p1": 0.8}]
    (tmp_path / "batch.json").write_text(json.dumps(batch))
    assert dt.main(argv[:2] + ["--from", f"{tmp_path / 'batch.json'}:gw"] + argv[2:-1] + ["pooled"]) == 0
    out = json.loads((tmp_path / "pooled.json").read_text())
    assert [r["seed"] for r in out["rows"]] == [1, 2, 3] and out["pooled"]["runs"] == 3
    assert out["rows"][2]["p_a"] == out["rows"][0]["p_a"]
    assert "batch.json" in (tmp_path / "pooled.md").read_text()
    with pytest.raises(SystemExit, match="not STUDY_JSON:METHOD"):
        dt.main(["--from", "nothing", "--to", str(path)])
    with pytest.raises(SystemExit, match="need ok wp cells"):
        dt.main(argv[:1] + [f"{path}:wp"] + argv[2:])


def test_final_rounds_probe_refits_each_kept_final_map_and_pools_the_runs_per_round(tmp_path):
    """final_rounds_probe reads the supervised cell and every run of the method, refits each multi-step final map on
    the dictionary it induces for each round, and pools the runs against the supervised map round by round; a study
    without final maps, or no rounds, stops with one line."""
    import json

    import final_rounds_probe as frp
    import numpy as np
    from udm import Lexicon, Mapping, ProcrustesAligner, evaluate_mapping

    study, setting, src, tgt, good, _ = _cipher_study_maps(tmp_path, 0.0)
    sup = ProcrustesAligner(seed=0, progress=False, refine_iters=0, reweight=True).fit(
        src, tgt, Lexicon.load(setting["train_lexicon"]))
    assert sup.W_tgt is not None
    noisy = Mapping(sup.W + np.random.default_rng(1).normal(0, 0.02, sup.W.shape).astype(np.float32), sup.src_norm,
                    sup.tgt_norm, {}, sup.W_tgt, sup.mapped_norm)
    cells = []
    for key, method, m in (("base", "procrustes", sup), ("run1", "gw", noisy), ("run2", "gw", sup), ("run3", "wp", sup)):
        m.save(tmp_path / "cells" / f"{key}.mapping.npz")
        cells.append({"method": method, "seed": len(cells), "status": "ok", "cell": key})
    setting["cells"] = cells
    study["meta"] = {"params": {"max_vocab": 10 ** 6}}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    argv = ["--study", str(path), "--rounds", "2", "--rank", "1000", "--cache-dir", str(tmp_path),
            "--out-dir", str(tmp_path), "--name", "fr"]
    assert frp.main(argv) == 0
    out = json.loads((tmp_path / "fr.json").read_text())
    maps = [r for r in out["rows"] if "map" in r]
    assert [(r["map"], r["seed"]) for r in maps] == [("supervised", 0), ("gw", 1), ("gw", 2)]
    test = Lexicon.load(setting["test_lexicon"])
    assert maps[1]["p1"][0] == evaluate_mapping(noisy, src, tgt, test).get("csls", 1)
    assert all(len(r["p1"]) == 3 and len(r["pairs"]) == 2 and min(r["p1"]) > 0.9 for r in maps)
    assert all(len(r["overlap"]) == 1 and 0.5 < r["overlap"][0] <= 1.0 for r in maps)
    assert maps[2]["p1"] == maps[0]["p1"]  # the same map refitted the same way
    pooled = [r for r in out["rows"] if "round" in r]
    assert [r["round"] for r in pooled] == [0, 1, 2] and all(r["runs"] == 2 for r in pooled)
    assert "| round 0 | round 1 | round 2 |" in (tmp_path / "fr.md").read_text()
    good.save(tmp_path / "cells" / "run2.mapping.npz")  # an orthogonal map: no final map to refit
    with pytest.raises(SystemExit, match="multi-step final map"):
        frp.main(argv)
    with pytest.raises(SystemExit, match="--rounds must be at least 1"):
        frp.main(argv[:2] + ["--rounds", "0"])
    del setting["vectors"]
    path.write_text(json.dumps(study))
    with pytest.raises(SystemExit, match="names no vectors or test lexicon"):
        frp.main(argv)


def test_save_figure_replaces_a_plot_only_when_it_is_whole(tmp_path, monkeypatch):
    """The study's plots are written through a temporary file: a figure that fails mid-write leaves the former
    PNG as it was and no temporary file; every figure is closed either way."""
    import types

    import run_bli

    closed = []
    pyplot = types.SimpleNamespace(close=closed.append)
    monkeypatch.setitem(sys.modules, "matplotlib", types.SimpleNamespace(pyplot=pyplot))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)

    class Fig:
        def __init__(self, data: bytes, fail: bool = False):
            self.data, self.fail = data, fail

        def tight_layout(self):
            pass

        def savefig(self, path, dpi=None):
            Path(path).write_bytes(self.data[:3])
            if self.fail:
                raise OSError("disk full")
            Path(path).write_bytes(self.data)

    target = tmp_path / "study_criterion.png"
    assert run_bli.save_figure(Fig(b"first plot"), target) == "study_criterion.png"
    assert target.read_bytes() == b"first plot"
    with pytest.raises(OSError, match="disk full"):
        run_bli.save_figure(Fig(b"second plot", fail=True), target)
    assert target.read_bytes() == b"first plot" and sorted(p.name for p in tmp_path.iterdir()) == ["study_criterion.png"]
    assert len(closed) == 2


def test_sl_null_shares_lists_each_run_with_a_self_learned_null_once(tmp_path):
    import json

    import sl_null_shares

    cell = {"method": "gw", "seed": 1, "p1": 0.1, "meta": {"criterion_sl_null_share": 0.09, "criterion_headroom_share": 0.2}}
    study = {"settings": [{"pair": "en-es", "regime": "half", "fraction": 1.0,
                           "cells": [cell, {"method": "procrustes", "seed": 0, "p1": 0.12, "meta": {}}]}]}
    for name in ("a.json", "b.json"):  # the same run in two studies counts once
        (tmp_path / name).write_text(json.dumps(study))
    (tmp_path / "broken.json").write_text("{")
    rows = sl_null_shares.runs_with_sl_null(tmp_path)
    assert [(r["method"], r["setting"], r["sl_null_share"]) for r in rows] == [("gw", "en-es/half/1", 0.09)]
    assert rows[0]["sl_null_lift"] is None  # an old run without the criterion terms: no scale-free measure

    cell["meta"].update({"criterion": 0.5, "criterion_null_mean": 0.2, "criterion_sl_null": 0.4})
    (tmp_path / "a.json").write_text(json.dumps(study))
    (tmp_path / "b.json").unlink()
    assert sl_null_shares.runs_with_sl_null(tmp_path)[0]["sl_null_lift"] == pytest.approx(1.5)  # 0.3 / 0.2

    # the best in-sample threshold: a success (P@1 > 5%) passes at or above it, a failure below it
    runs = [{"p1": p1, "m": m} for p1, m in ((0.0, 1.0), (0.01, 1.1), (0.2, 1.2), (0.3, 1.05), (0.4, None))]
    assert sl_null_shares.best_threshold(runs, "m") == (3, 1.2)  # 1.05 would pass the failure at 1.1 too
    assert sl_null_shares.separation(runs, "m") == ("failures 1.000-1.100, successes 1.050-1.200; 1 failure(s) at or "
                                                    "above the lowest success, 1 success(es) at or below the highest failure")


def test_orthographic_probe_scores_kept_maps_against_their_outcome(tmp_path, capsys):
    """The probe scores each kept mapping's orthographic agreement: on a space against itself the identity map
    sends every word to itself, a random rotation almost none; a run without a kept mapping is left unscored."""
    import json

    import numpy as np
    import orthographic_probe
    from udm import Mapping
    from udm.criteria import random_orthogonal

    root = Path(__file__).resolve().parents[1]
    vec = str(root / "tests/data/as_cipher_en.npz")
    (tmp_path / "cells").mkdir()
    Mapping(np.eye(50, dtype=np.float32)).save(tmp_path / "cells" / "base.mapping.npz")
    Mapping(random_orthogonal(50, np.random.default_rng(0))).save(tmp_path / "cells" / "bad.mapping.npz")
    cells = [{"method": "procrustes", "seed": 0, "status": "ok", "cell": "base", "p1": 0.99},
             {"method": "gw", "seed": 1, "status": "ok", "cell": "bad", "p1": 0.0, "meta": {"failed": False}},
             {"method": "gw", "seed": 2, "status": "ok", "cell": "gone", "p1": 0.5}]
    study = {"meta": {"params": {"max_vocab": 1000}},
             "settings": [{"pair": "en-en", "regime": "self", "fraction": 1.0, "cells": cells,
                           "vectors": {"src": {"path": vec, "key": "a" * 16}, "tgt": {"path": vec, "key": "a" * 16}}}]}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    argv = ["--study", str(path), "--cache-dir", str(tmp_path), "--out-dir", str(tmp_path), "--name", "ortho"]
    assert orthographic_probe.main(argv) == 0
    runs = json.loads((tmp_path / "ortho.json").read_text())["runs"]
    assert runs[0]["agreement"] >= 0.95 and runs[0]["identical_words"] == 1000
    assert runs[1]["agreement"] < 0.012 and runs[2]["agreement"] is None
    md = (tmp_path / "ortho.md").read_text()
    assert "aligner flag: 0/1 right (1 false accepts" in md and "orthographic rule: 1/1 right" in md
    with pytest.raises(SystemExit, match="no such study file"):
        orthographic_probe.main(["--study", str(tmp_path / "missing.json"), "--out-dir", str(tmp_path)])
