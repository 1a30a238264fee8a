"""Shared machinery of the dictionary-free aligners: restarts, time budget, model selection and failure detection.

A subclass implements ``initialize(x, y, src, tgt, seed_pairs=None)`` using ``self.rng`` / ``self.run_seed``
(set per restart). :meth:`UnsupervisedAligner.fit` keeps the restart the dictionary-free criterion prefers,
refines it, and marks the mapping ``failed`` when the criterion is no better than random orthogonal maps', or
when it does not clear a random orthogonal start put through the same refinement by ``refined_null_margin`` of
the headroom above it, i.e. ``criterion - null < margin * (1 - null)`` (refinement alone lifts a random start's
criterion well above random maps' on small or unrelated spaces, and a failed distribution match lands a little
above that). The margin 0.14 is calibrated on measured runs (experiments/results/bli*.md): failed runs on real
and Bible corpora sit at 0.09-0.12 of the headroom, supervised and successful maps at 0.16-0.83.
That share assumes a ceiling of 1 that does not move with the vectors' cosine scale: on en-de vectors trained
for 15 epochs instead of 5 every criterion is lower, and gw runs at 18.7-21.0% P@1 (supervised 21.4) cleared only
0.12 (``bli_epochs15_ende.md``). A run below the margin therefore still passes when its criterion rises at least
``refined_null_lift`` (2.3) times as far above random maps' as the refined null does (:func:`udm.criteria.lift_ratio`,
which needs no ceiling): those runs rose 2.66-2.78 times as far, every failed run the committed studies record
it for 1.10-1.92 times (the highest on 15-epoch en-es vectors, ``bli_none_enes_epochs15*.md``), and the rescue
changes no other committed run's flag (``experiments/results/criterion_audit.md``); the rule is
:func:`udm.criteria.refined_null_check`.
A self-learned run (the stage below, or the ``selflearn`` aligner and ``auto`` keeping its start, each with
its own schedule: :meth:`learned_schedule`) passes a third check: self-learning lifts any start's criterion, a
random one's too, so the run must also clear a random orthogonal start put through the same self-learning and
refinement by
``sl_null_margin`` of the headroom above it, unless that null found the same map (its CSLS translations of the
top ``agreement_words`` source words agree with the run's on at least ``sl_null_agreement``, as on easy pairs
where self-learning needs no start). Measured (experiments/results/bli_standard_{enes,ende}_rank5k_v5*.md): on the
standard en-es / en-de builds wp runs at 0.3% / 0.9% P@1 cleared the refined null by 0.150 / 0.161 and the
self-learned one by 0.016 / 0.028; gw runs at 10.0% / 18.1% cleared it by 0.042 / 0.106.
With ``self_learning`` (True: ``udm.self_learning.STAGE_SCHEDULE``; or a
:class:`~udm.self_learning.SelfLearningSchedule`) the chosen start is first
carried on by stochastic self-learning (``udm.self_learning``, started from the dictionary it induces), which
escapes the fixed points a rough start leaves the deterministic refinement in; with ``restarts`` > 1 every
start is self-learned and the restarts are compared after it (the criterion of a start before self-learning
does not tell which start the stage carries furthest, its criterion after the stage does), each restart's
initialisation and self-learning sharing ``search_share`` of the time budget equally. With ``reweight`` the
multi-step final map (``udm.reweighting``) is fitted after these checks, which judge the refined orthogonal map.
A ``time_budget`` bounds the whole fit: the search (initialisations, restarts) gets ``search_share`` of it, the
final refinement stops early when half of what is left is spent, and the failure check refines its random start
for as many steps as the final refinement ran; a fit overruns by at most about one refinement step. A fit that
will need the self-learned null (:meth:`reserves_for_null`) holds back as much time for it as one of its own
self-learning runs gets: a search that self-learns ``k`` times (restarts compared after the stage, or the
``selflearn`` aligner) gets ``k / (k + 1)`` of ``search_share``, the stage after the search ``stage_share_with_null``
of what is left instead of ``stage_share``, and the refinement a fifth of what is left after that instead of half.
The null then runs at most as many iterations as the run's own self-learning when the budget stopped that, so
that both had the same number of steps (measured before this reservation: on en-fr with the glosses, 1,200 s
budgets, the nulls of gw / wp + ``--self-learning`` got 29 and 98 iterations, cut by the budget, and the check
was more lenient than a finished null; ``bli_standard_enfr_rank5k_v5.md``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Optional, Union

import numpy as np
import torch

from ..criteria import (headroom_share, judge_failure, muse_criterion, null_criterion, orthographic_agreement,
                        random_orthogonal, refined_null_check, sinkhorn_criterion)
from ..embeddings import Embeddings
from ..lexicon import Lexicon
from ..mapping import Mapping
from ..normalize import normalize
from ..retrieval import retrieve
from ..refinement import refine
from ..self_learning import STAGE_SCHEDULE, SelfLearningSchedule, pairs_from_map, stochastic_self_learning
from .base import Aligner, check_embeddings

log = logging.getLogger(__name__)


def self_learning_record(meta: dict[str, Any]) -> tuple[int, bool]:
    """(iterations, stopped by the time budget) of the self-learning a fit's kept run went through: the stage's,
    the ``selflearn`` aligner's, or (``chosen_``) that of the start ``auto`` kept; (0, False) when there was none."""
    for prefix in ("", "chosen_"):
        if f"{prefix}sl_iterations" in meta:
            return int(meta[f"{prefix}sl_iterations"]), bool(meta.get(f"{prefix}sl_stopped_by_time", False))
    return 0, False


class UnsupervisedAligner(Aligner):
    """Base of gw / wp / adversarial / selflearn: ``restarts`` initialisations, the best by the criterion is refined."""

    needs_dictionary = False
    min_words = 50
    refined_null_margin = 0.14  # share of the headroom (1 - refined null) a run must clear
    refined_null_lift = 2.3  # ... unless it rises this many times as far above random maps' as the refined null (README)
    search_share = 0.85  # share of the time budget for initialisations and restarts; the rest refines and checks
    stage_share = 2 / 3  # share of what the search leaves that the self-learning stage may use
    stage_share_with_null = 0.45  # the same when the self-learned null needs about as much time after it
    sl_null = True  # with self-learning, also check against a self-learned random start (see fit)
    sl_null_margin = 0.035  # share of the headroom above that null a self-learned run must clear (README)
    sl_null_agreement = 0.5  # a null translating this share of the top words as the run does found the same map
    agreement_words = 2000
    orthographic_min = 0.012  # share of identically spelled words a map must send to themselves (README)
    seed_free_single_start = False  # True where one start does not depend on the seed (a study need run it once)

    def __init__(self, *, restarts: int = 1, time_budget: Optional[float] = None, device: Optional[str] = None,
                 criterion_words: int = 10000, self_learning: Union[bool, SelfLearningSchedule] = False,
                 orthographic_check: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.orthographic_check = bool(orthographic_check)  # apply orthographic_min (see _check_orthography)
        self.self_learning = bool(self_learning)
        self.sl_schedule = self_learning if isinstance(self_learning, SelfLearningSchedule) else STAGE_SCHEDULE
        self.restarts = max(1, int(restarts))
        self.time_budget = time_budget
        self.device = device
        self.criterion_words = criterion_words
        self.run_seed = self.seed
        self.rng = np.random.default_rng(self.seed)
        self._deadline: Optional[float] = None

    def time_left(self) -> Optional[float]:
        """Seconds left of the time budget (None when unlimited)."""
        return None if self._deadline is None else self._deadline - time.perf_counter()

    def out_of_time(self) -> bool:
        left = self.time_left()
        return left is not None and left <= 0

    def learns_each_restart(self) -> bool:
        """Whether every restart goes through the stage and the restarts are compared after it."""
        return self.self_learning and self.restarts > 1

    def search_self_learnings(self) -> int:
        """How many self-learning runs the search itself makes (0: none; restarts compared after the stage)."""
        return self.restarts if self.learns_each_restart() else 0

    def reserves_for_null(self) -> bool:
        """Whether the fit holds back time for the failure check's self-learned null (see the module docstring)."""
        return self.sl_null and self.refine_iters > 0 and (self.self_learning or self.search_self_learnings() > 0)

    def criterion(self, mapped_x: np.ndarray, y: np.ndarray) -> float:
        """The dictionary-free score used to choose among restarts (higher is better)."""
        return muse_criterion(mapped_x, y, n_words=self.criterion_words, csls_k=self.csls_k)

    def fit(self, src: Embeddings, tgt: Embeddings, seed_dictionary: Optional[Lexicon] = None) -> Mapping:
        """Fit without a dictionary (``seed_dictionary`` is ignored); see the class docstring."""
        check_embeddings(src, tgt, min_words=self.min_words)
        start = time.perf_counter()
        end = None if self.time_budget is None else start + float(self.time_budget)
        reserve, learnings = self.reserves_for_null(), self.search_self_learnings()
        search_share = self.search_share * (learnings / (learnings + 1) if reserve and learnings else 1.0)
        self._deadline = None if end is None else start + search_share * float(self.time_budget)
        x = normalize(src.vectors, self.normalize)
        y = normalize(tgt.vectors, self.normalize)
        learn_each = self.learns_each_restart()  # compare the restarts after self-learning
        search_end = self._deadline
        runs: list[dict[str, Any]] = []
        best_w, best_info, best_score, best_run = None, {}, -np.inf, {}
        for r in range(self.restarts):
            if learn_each and search_end is not None:  # restart r's share of the search budget
                self._deadline = start + (search_end - start) * (r + 1) / self.restarts
            if r > 0 and self.out_of_time():
                log.info("time budget spent after %d restart(s)", r)
                break
            self.run_seed = self.seed + r
            self.rng = np.random.default_rng(self.run_seed)
            torch.manual_seed(self.run_seed)
            w0, info = self.initialize(x, y, src, tgt, None)
            score = self.criterion(x @ w0, y)
            run = {"restart": r, "seed": self.run_seed, "init_criterion": score,
                   **{k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))}}
            if learn_each:
                w0 = self._self_learn(x, y, w0, info, self._deadline, share=1.0)
                score = self.criterion(x @ w0, y)
                run.update({"sl_criterion": score, **{k: v for k, v in info.items()
                                                      if k.startswith("sl_") and isinstance(v, (int, float, bool))}})
            runs.append(run)
            if score > best_score:
                best_w, best_info, best_score, best_run = w0, info, score, run
        self._deadline = search_end
        w = best_w
        meta: dict[str, Any] = {"method": self.name, "seed": self.seed, "normalize": self.normalize, **best_info,
                                "restarts": runs, "init_criterion": best_run["init_criterion"]}
        if learn_each:
            meta.update({"sl_criterion": best_score, "chosen_restart": best_run["restart"]})
        meta["search_seconds"] = round(time.perf_counter() - start, 3)
        if self.self_learning and not learn_each:
            w = self._self_learn(x, y, w, meta, end, share=self.stage_share_with_null if reserve else self.stage_share)
        refine_steps = self.refine_iters
        if self.refine_iters > 0:
            now = time.perf_counter()
            deadline = None if end is None else now + max(0.0, end - now) * (0.2 if reserve else 0.5)
            w, history = refine(x, y, w, n_iter=self.refine_iters, max_rank=self.refine_rank, csls_k=self.csls_k,
                                progress=self.progress, deadline=deadline)
            meta["refinement"] = history
            if history and history[-1].get("stopped") == "deadline":
                refine_steps = len(history)
                log.info("time budget: final refinement stopped after %d step(s)", refine_steps)
        mapped = x @ w
        score = self.criterion(mapped, y)
        null_mean, null_std = null_criterion(x, y, seed=self.seed, n_words=self.criterion_words)
        failed = judge_failure(score, null_mean, null_std)
        meta.update({"criterion": score, "criterion_null_mean": null_mean, "criterion_null_std": null_std})
        if failed:
            log.warning("%s: criterion %.4f is not above random maps' %.4f: the alignment failed", self.name, score, null_mean)
        elif self.refine_iters > 0:
            refined_null = self.refined_null_criterion(x, y, n_iter=refine_steps)
            failed, terms = refined_null_check(score, refined_null, null_mean, margin=self.refined_null_margin,
                                               lift_needed=self.refined_null_lift)
            meta.update(terms)
            if failed:
                log.warning("%s: criterion %.4f clears a refined random map's %.4f by only %.2f of the headroom (needs %.2f), "
                            "and rises only %.2f times as far above random maps' as it (needs %.1f): the alignment failed",
                            self.name, score, refined_null, meta["criterion_headroom_share"], self.refined_null_margin,
                            meta["criterion_lift_ratio"], self.refined_null_lift)
            elif self.sl_null and (schedule := self.learned_schedule(meta)) is not None:
                failed = self._check_self_learned_null(x, y, w, score, refine_steps, end, meta, schedule)
        meta["sinkhorn_criterion"] = sinkhorn_criterion(mapped, y, n_words=min(self.criterion_words, 2000))
        failed = self._check_orthography(mapped, y, src, tgt, meta, failed)
        meta.update({"failed": failed, "time_budget": self.time_budget})
        mapping = self.final_mapping(x, y, w, meta)  # the checks above judge the orthogonal map
        if self.reweight:
            meta["criterion_reweighted"] = self.criterion(mapping.transform(x, normalized=True),
                                                          mapping.prepare_target(y, normalized=True))
        meta["fit_seconds"] = round(time.perf_counter() - start, 3)
        return mapping

    def _check_orthography(self, mapped_x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings,
                           meta: dict[str, Any], failed: bool) -> bool:
        """Record the share of identically spelled words the map sends to themselves; with ``orthographic_check``
        a run the other checks passed fails when that share is below ``orthographic_min`` (pairs sharing fewer
        than 200 spellings, e.g. different scripts, are not judged)."""
        agreement, n_identical = orthographic_agreement(mapped_x, y, src, tgt, csls_k=self.csls_k)
        meta.update({"orthographic_agreement": agreement, "orthographic_words": n_identical,
                     "orthographic_needed": self.orthographic_min if self.orthographic_check else None})
        if failed or not self.orthographic_check or agreement is None or agreement >= self.orthographic_min:
            return failed
        log.warning("%s: the map sends %.1f%% of the %d identically spelled words to themselves (needs %.1f%%): "
                    "the alignment failed", self.name, 100 * agreement, n_identical, 100 * self.orthographic_min)
        meta["failed_by"] = "orthography"
        return True

    def learned_schedule(self, meta: dict[str, Any]) -> Optional[SelfLearningSchedule]:
        """The schedule of the self-learning the returned run went through (None: none), which the failure
        check's self-learned null repeats. Here: the stage's, with ``self_learning``; the ``selflearn``
        aligner (and ``auto`` when it keeps that start) returns its own."""
        return self.sl_schedule if self.self_learning else None

    def _self_learn(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, meta: dict[str, Any],
                    end: Optional[float], share: float = stage_share, rng: Optional[np.random.Generator] = None,
                    desc: str = "self-learning from the start",
                    schedule: Optional[SelfLearningSchedule] = None) -> np.ndarray:
        """Stochastic self-learning (``schedule``, default the stage's) started from the dictionary ``w``
        induces (skipped when the start already is a self-learning result); it may use ``share`` of what is
        left until ``end`` (None: no limit)."""
        if "sl_iterations" in meta or meta.get("chosen") == "selflearn":
            meta["self_learning"] = "skipped: the start is already self-learned"
            return w
        now = time.perf_counter()
        deadline = None if end is None else now + max(0.0, end - now) * share
        schedule = self.sl_schedule if schedule is None else schedule
        pairs = pairs_from_map(x, y, w, schedule, csls_k=self.csls_k)
        w, info = stochastic_self_learning(
            x, y, pairs, schedule, np.random.default_rng([self.run_seed, 1]) if rng is None else rng,
            csls_k=self.csls_k, out_of_time=None if deadline is None else (lambda: time.perf_counter() >= deadline),
            progress=self.progress, desc=desc)
        if info["sl_stopped_by_time"]:
            log.info("time budget: self-learning stopped after %d iterations", info["sl_iterations"])
        meta.update({"self_learning": True, **info})
        return w

    def _check_self_learned_null(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, score: float, refine_steps: int,
                                 end: Optional[float], meta: dict[str, Any], schedule: SelfLearningSchedule) -> bool:
        """The null of a self-learned run: a random orthogonal start put through the same self-learning
        (``schedule``) and refinement. The run fails when its criterion clears that null's by less than
        ``sl_null_margin`` of the headroom, unless the null found the same map (CSLS translations of the top
        ``agreement_words`` source words agree on at least ``sl_null_agreement``). Records ``criterion_sl_null*``
        in ``meta``."""
        run_iterations, run_cut = self_learning_record(meta)
        if run_cut:  # the budget stopped the run's self-learning: the null gets no more iterations than it had
            schedule = dataclasses.replace(schedule, max_iter=max(1, min(schedule.max_iter, run_iterations)))
        meta["sl_null_max_iter"] = schedule.max_iter
        w_null, info = self.self_learned_null(x, y, refine_steps, end, schedule=schedule)
        null = self.criterion(x @ w_null, y)
        n = min(self.agreement_words, len(x))
        ours = retrieve(x[:n] @ w, y, k=1, method="csls", csls_k=self.csls_k)[0][:, 0]
        theirs = retrieve(x[:n] @ w_null, y, k=1, method="csls", csls_k=self.csls_k)[0][:, 0]
        agreement = float(np.mean(ours == theirs))
        share = headroom_share(score, null)
        meta.update({"criterion_sl_null": null, "criterion_sl_null_share": share,
                     "criterion_sl_null_needed": self.sl_null_margin, "sl_null_agreement": agreement,
                     "sl_null_iterations": info["sl_iterations"], "sl_null_stopped_by_time": info["sl_stopped_by_time"],
                     "sl_null_seconds": info["sl_seconds"]})
        if info["sl_stopped_by_time"]:
            log.warning("%s: the time budget stopped the self-learned null after %d iterations: it is lower than a "
                        "finished one, so this check is more lenient (a larger --time-budget gives it its full run)",
                        self.name, info["sl_iterations"])
        if agreement >= self.sl_null_agreement:
            log.info("%s: a self-learned random start found the same map (%.0f%% of the top %d translations agree)",
                     self.name, 100 * agreement, n)
            return False
        if share < self.sl_null_margin:
            log.warning("%s: criterion %.4f clears a self-learned random start's %.4f by only %.3f of the headroom "
                        "(needs %.3f): the alignment failed", self.name, score, null, share, self.sl_null_margin)
            return True
        return False

    def self_learned_null(self, x: np.ndarray, y: np.ndarray, n_iter: int, end: Optional[float],
                          schedule: Optional[SelfLearningSchedule] = None) -> tuple[np.ndarray, dict[str, Any]]:
        """A random orthogonal start carried through self-learning (``schedule``, default the stage's) and
        ``n_iter`` refinement steps (what self-learning and the refinement make of no information); the
        self-learning may use what is left until ``end`` (None: no limit)."""
        w0 = random_orthogonal(x.shape[1], np.random.default_rng(self.seed + 7919))
        info: dict[str, Any] = {}
        w = self._self_learn(x, y, w0, info, end, share=1.0, rng=np.random.default_rng([self.seed + 7919, 1]),
                             desc="self-learning a random start (the failure check's null)", schedule=schedule)
        if n_iter > 0:
            w, _ = refine(x, y, w, n_iter=n_iter, max_rank=self.refine_rank, csls_k=self.csls_k)
        return w, info

    def refined_null_criterion(self, x: np.ndarray, y: np.ndarray, n_iter: Optional[int] = None) -> float:
        """Criterion of a random orthogonal start after the same refinement (``n_iter`` steps, default
        ``refine_iters``) this aligner applied."""
        w0 = random_orthogonal(x.shape[1], np.random.default_rng(self.seed + 7919))
        n_iter = self.refine_iters if n_iter is None else n_iter
        w, _ = refine(x, y, w0, n_iter=n_iter, max_rank=self.refine_rank, csls_k=self.csls_k)
        return self.criterion(x @ w, y)
