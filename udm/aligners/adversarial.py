"""Adversarial matching (the idea of Conneau et al. 2018, "Word translation without parallel data").

A discriminator learns to tell mapped source vectors ``x W`` from target vectors ``y`` (among the most frequent
words); the map ``W`` is trained to fool it. Each restart starts from a random rotation (seeded per restart) and,
by default, ``W`` is put back on the orthogonal group exactly after every map step (its polar factor, a 50-300 dim
SVD) instead of MUSE's soft ``W <- (1 + beta) W - beta W W^T W`` (``project=False``), which lets a large map
learning rate (4) move it fast without drifting: on the 2000-word x 50-dim cipher control (tests/data) the soft
version stalled at P@1 0.003-0.03 (singular values drifting to 0.5-1.3 or collapsing), the projected one reaches
P@1 0.997 after refinement with seeds 0 and 1 (8 x 60k samples, ~40-70 s on one CPU thread). Sized for CPUs:
~10^5 samples per epoch instead of MUSE's 10^6, a 2 x 512 discriminator, batches of 128, 20 epochs: on the
3,081-word x 100-dim cipher the criterion sits on a plateau (~0.55) for about 13 epochs before it climbs, so the
former 8 epochs stopped on it (P@1 0.007, flagged failed) while 20 reach P@1 0.999 with seeds 0 and 1 (~200 s on
one thread; experiments/results/adv_cipher_bench.md). The epoch whose map the
dictionary-free criterion prefers is kept, then (optionally) one Procrustes step on the CSLS mutual-nearest-
neighbour dictionary it implies. The shared refinement (10 iterations by default here: the adversarial map is
only partly right and the refinement finishes it), restarts and failure check are done by
:class:`~udm.aligners.unsupervised.UnsupervisedAligner`.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..criteria import random_orthogonal
from ..embeddings import Embeddings
from ..errors import UdmError
from ..procrustes import nearest_orthogonal, procrustes
from ..refinement import induce_dictionary
from .unsupervised import UnsupervisedAligner

log = logging.getLogger(__name__)


def make_discriminator(dim: int, hidden: int, layers: int, input_dropout: float, dropout: float) -> nn.Module:
    """MLP with dropout on its inputs and leaky-ReLU hidden layers; outputs one logit per row."""
    mods: list[nn.Module] = [nn.Dropout(input_dropout)]
    width = dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        width = hidden
    mods.append(nn.Linear(width, 1))
    return nn.Sequential(*mods)


class AdversarialAligner(UnsupervisedAligner):
    """Adversarially trained linear map kept near-orthogonal, then the shared refinement.

    ``adv_rank``: the discriminator sees the ``adv_rank`` most frequent words of each side (all when fewer);
    ``epochs`` x ``epoch_samples`` source samples in batches of ``batch_size`` (``dis_steps`` discriminator
    updates per map update); ``dis_hidden``/``dis_layers``/``dis_input_dropout``/``dis_dropout``/``smooth``
    shape the discriminator (``dis_noise``: std of Gaussian instance noise on its inputs, which keeps it from
    memorising small vocabularies); ``map_lr``/``dis_lr`` are SGD rates (decayed by ``lr_decay`` per epoch); ``beta`` is
    the soft orthogonalisation strength, used only when ``project`` is False (``project``: replace W by its
    nearest orthogonal matrix after every map step); ``init``: "random" (a random rotation per restart) or
    "identity"; ``procrustes_step`` applies one Procrustes fit on the CSLS mutual-NN dictionary among
    ``refine_rank`` words before returning.
    """

    name = "adversarial"
    min_words = 50

    def __init__(
        self,
        *,
        adv_rank: int = 50000,
        epochs: int = 20,
        epoch_samples: int = 60_000,
        batch_size: int = 128,
        dis_steps: int = 3,
        dis_hidden: int = 512,
        dis_layers: int = 2,
        dis_input_dropout: float = 0.1,
        dis_dropout: float = 0.0,
        smooth: float = 0.2,
        dis_noise: float = 0.0,
        map_lr: float = 4.0,
        dis_lr: float = 0.1,
        lr_decay: float = 0.95,
        beta: float = 0.05,
        procrustes_step: bool = True,
        init: str = "random",
        project: bool = True,
        **kwargs: Any,
    ):
        kwargs.setdefault("refine_iters", 10)
        super().__init__(**kwargs)
        if adv_rank < 2 or epochs < 1 or epoch_samples < 1 or batch_size < 1 or dis_steps < 1:
            raise UdmError("adversarial: adv_rank, epochs, epoch_samples, batch_size and dis_steps must be positive")
        if not 0 <= smooth < 0.5:
            raise UdmError(f"adversarial: label smoothing must be in [0, 0.5), got {smooth}")
        self.adv_rank, self.epochs, self.epoch_samples = int(adv_rank), int(epochs), int(epoch_samples)
        self.batch_size, self.dis_steps = int(batch_size), int(dis_steps)
        self.dis_hidden, self.dis_layers = int(dis_hidden), int(dis_layers)
        self.dis_input_dropout, self.dis_dropout, self.smooth = dis_input_dropout, dis_dropout, smooth
        self.dis_noise = float(dis_noise)
        self.map_lr, self.dis_lr, self.lr_decay, self.beta = map_lr, dis_lr, lr_decay, beta
        self.procrustes_step = procrustes_step
        if init not in ("identity", "random"):
            raise UdmError(f"adversarial: init must be 'identity' or 'random', got {init!r}")
        self.init = init
        self.project = bool(project)

    def _noisy(self, batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Instance noise: Gaussian noise of std ``dis_noise`` on the discriminator's inputs (none when 0)."""
        if self.dis_noise <= 0:
            return batch
        return batch + self.dis_noise * torch.randn(batch.shape, generator=gen)

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Adversarial training from a random rotation (or the identity); returns the criterion-best epoch's W (+ Procrustes step)."""
        d = x.shape[1]
        xs = torch.from_numpy(np.ascontiguousarray(x[: self.adv_rank], dtype=np.float32))
        ys = torch.from_numpy(np.ascontiguousarray(y[: self.adv_rank], dtype=np.float32))
        gen = torch.Generator().manual_seed(int(self.run_seed))
        disc = make_discriminator(d, self.dis_hidden, self.dis_layers, self.dis_input_dropout, self.dis_dropout)
        mapping = nn.Linear(d, d, bias=False)
        w_start = np.eye(d, dtype=np.float32) if self.init == "identity" else random_orthogonal(d, self.rng)
        with torch.no_grad():
            mapping.weight.copy_(torch.from_numpy(np.ascontiguousarray(w_start.T)))  # mapping(x) = x @ weight.T
        dis_opt = torch.optim.SGD(disc.parameters(), lr=self.dis_lr)
        map_opt = torch.optim.SGD(mapping.parameters(), lr=self.map_lr)
        bce = nn.BCEWithLogitsLoss()
        bs = self.batch_size
        labels = torch.cat([torch.full((bs,), 1.0 - self.smooth), torch.full((bs,), self.smooth)])
        steps_per_epoch = max(1, self.epoch_samples // bs)
        best_w, best_score, best_epoch = w_start, self.criterion(x @ w_start, y), -1
        history: list[dict[str, Any]] = []
        samples, t0, stopped, diverged = 0, time.perf_counter(), False, ""
        bar = tqdm(total=self.epochs * steps_per_epoch, desc=f"adversarial (seed {self.run_seed})",
                   disable=not self.progress, leave=False)
        for epoch in range(self.epochs):
            dis_losses, map_losses = [], []
            for step in range(steps_per_epoch):
                disc.train()
                for _ in range(self.dis_steps):
                    xi = torch.randint(len(xs), (bs,), generator=gen)
                    yi = torch.randint(len(ys), (bs,), generator=gen)
                    with torch.no_grad():
                        fake = mapping(xs[xi])
                    loss = bce(disc(self._noisy(torch.cat([fake, ys[yi]]), gen)).squeeze(1), labels)
                    dis_opt.zero_grad(set_to_none=True)
                    loss.backward()
                    dis_opt.step()
                    dis_losses.append(loss.item())
                # the map: make the discriminator call mapped sources targets
                disc.eval()
                xi = torch.randint(len(xs), (bs,), generator=gen)
                yi = torch.randint(len(ys), (bs,), generator=gen)
                preds = disc(self._noisy(torch.cat([mapping(xs[xi]), ys[yi]]), gen)).squeeze(1)
                loss = bce(preds, 1.0 - labels)
                map_opt.zero_grad(set_to_none=True)
                loss.backward()
                last_good = mapping.weight.detach().clone()  # finite: checked at the end of the previous step
                map_opt.step()
                map_losses.append(loss.item())
                with torch.no_grad():
                    w = mapping.weight
                    ok = bool(torch.isfinite(w).all()) and np.isfinite(dis_losses[-1]) and np.isfinite(map_losses[-1])
                    if ok:
                        try:
                            if self.project:  # exact: the nearest orthogonal matrix (polar factor) after every map step
                                w.copy_(nearest_orthogonal(w))
                            else:
                                w.copy_((1 + self.beta) * w - self.beta * (w @ w.T) @ w)
                        except (UdmError, RuntimeError, np.linalg.LinAlgError):
                            ok = False
                        ok = ok and bool(torch.isfinite(w).all())
                    if not ok:  # a diverged step (non-finite loss or map): keep the last finite map, stop training
                        w.copy_(last_good)
                        diverged = f"epoch {epoch}, step {step}"
                        break
                samples += bs * (self.dis_steps + 1)
                bar.update(1)
                if self.out_of_time():
                    stopped = True
                    break
            w_raw = mapping.weight.detach().numpy().T.astype(np.float64)
            sv = np.linalg.svd(w_raw, compute_uv=False)  # w_raw is finite: every step checks it
            w_np = nearest_orthogonal(w_raw)  # judged (and returned) as a rotation: the criterion needs unit rows
            score = self.criterion(x @ w_np, y)
            history.append({"epoch": epoch, "criterion": round(score, 5), "sv_min": round(float(sv.min()), 4),
                            "sv_max": round(float(sv.max()), 4),
                            "dis_loss": round(float(np.mean(dis_losses)), 4) if dis_losses else None,
                            "map_loss": round(float(np.mean(map_losses)), 4) if map_losses else None})
            if score > best_score:
                best_w, best_score, best_epoch = w_np, score, epoch
            for opt in (dis_opt, map_opt):
                for group in opt.param_groups:
                    group["lr"] *= self.lr_decay
            if stopped:
                log.info("adversarial: time budget spent in epoch %d", epoch)
                break
            if diverged:
                log.warning("adversarial: training diverged (%s); keeping the best epoch's map so far", diverged)
                break
        bar.close()
        seconds = time.perf_counter() - t0
        info: dict[str, Any] = {
            "adv_epochs": history, "adv_best_epoch": best_epoch, "adv_criterion": best_score,
            "adv_samples": samples, "adv_seconds": round(seconds, 3),
            "adv_samples_per_s": round(samples / max(seconds, 1e-9), 1), "adv_words": int(min(len(xs), len(ys))),
            "adv_stopped_by_time": stopped, "adv_diverged": diverged,
        }
        w = best_w
        if self.procrustes_step:
            pairs = induce_dictionary(x @ w, y, max_rank=self.refine_rank, csls_k=self.csls_k, mode="mutual")
            info["adv_procrustes_pairs"] = int(len(pairs))
            if len(pairs) >= 2:
                w = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
        return w.astype(np.float32), info
