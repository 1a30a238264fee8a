"""Monolingual word embeddings: skip-gram with negative sampling (word2vec), optionally with fastText subwords.

Design (see experiments/results/train_bench.md for the measurements behind it):

* **Streamed corpus.** One pass over the file with :func:`udm.tokenize.iter_sentences` gives every token a
  provisional type id (a compact int32 array, ~4 bytes/token, never lists of strings); the counts then fix the
  frequency-ordered vocabulary (``min_count``/``max_vocab``) and the array is remapped in place to final ids,
  out-of-vocabulary tokens removed before windowing as word2vec does. Sentence boundaries are kept as offsets.
* **Batched SGNS.** Each chunk of ~100k tokens is subsampled (word2vec's ``sample`` rule) and windowed
  (random shrunk window ``b ~ U{1..window}``) with vectorised numpy. As in word2vec/gensim the context word is
  the input vector and the centre word plus ``negative`` draws from unigram^0.75 are the output vectors; the
  ``negative`` draws are shared by the (up to ``2b``) context words of one centre ("HogBatch", Ji et al. 2016),
  so one step is a batched ``(2b x dim) @ (dim x (1+negative))`` product. Gradients are written by hand and
  applied with ``index_add_`` straight into the two tables (hogwild-style accumulation of duplicates; no
  autograd, no optimiser); the learning rate decays linearly with the words processed, as in word2vec.
* **Subwords** (``subwords=(3, 6)``): the input vector of a word is the mean of its own row and its n-gram
  bucket rows (fastText); :meth:`SkipGramModel.word_vector` gives vectors to unseen words.
* Checkpoint at the end of every epoch (atomic); ``resume=True`` continues after the last one. The random
  stream of epoch ``e`` is seeded by ``(seed, e)``, so a resumed run equals an uninterrupted one, and with
  ``threads=1`` two runs with one seed give bit-identical vectors.
"""
from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import json
import logging
import math
import os
import time
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .atomic import atomic_path
from .embeddings import Embeddings
from .errors import UdmError
from .subwords import DEFAULT_BUCKETS, SubwordIndex, parse_ngram_range
from .tokenize import iter_sentences

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "Corpus", "SkipGramModel", "train_embeddings", "train_model", "read_corpus", "shuffle_sentences",
           "load_checkpoint", "load_model", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.npz"
CHUNK_TOKENS = 100_000  # tokens windowed per numpy step
DEFAULT_SHARE = 1  # centre words that share one set of negatives
DEFAULT_BATCH = 256  # centre words in flight at once (each with up to 2*window contexts); 1024 diverges (bench)


@dataclass
class TrainConfig:
    lang: str = "en"
    dim: int = 300
    window: int = 5
    negative: int = 5
    min_count: int = 5
    max_vocab: int | None = None
    epochs: int = 5
    seed: int = 0
    lr: float = 0.025
    min_lr: float = 0.0001
    sample: float = 1e-3
    subwords: tuple[int, int] | None = None
    buckets: int = DEFAULT_BUCKETS
    batch: int = DEFAULT_BATCH
    share: int = DEFAULT_SHARE
    lower: bool = True
    shuffle: bool = False

    def check(self) -> None:
        for name in ("dim", "window", "epochs", "min_count", "batch", "share"):
            if getattr(self, name) < 1:
                raise UdmError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.negative < 1:
            raise UdmError(f"--negative must be at least 1, got {self.negative}")
        if self.max_vocab is not None and self.max_vocab < 1:
            raise UdmError(f"--max-vocab must be at least 1, got {self.max_vocab}")
        if not (self.lr > 0):
            raise UdmError(f"--lr must be positive, got {self.lr}")
        if self.sample < 0:
            raise UdmError(f"--sample must be >= 0 (0 disables subsampling), got {self.sample}")

    def resume_key(self) -> dict:
        """Settings that must match for a checkpoint to be resumed."""
        d = asdict(self)
        d["subwords"] = list(self.subwords) if self.subwords else None
        return d


# --------------------------------------------------------------------------------------------------------
# corpus


@dataclass
class Corpus:
    """A tokenised corpus as vocabulary ids: ``ids`` (int32), ``offsets`` (sentence starts, int64, len S+1)."""

    words: list[str]
    counts: np.ndarray  # int64, frequency order (descending)
    ids: np.ndarray
    offsets: np.ndarray
    raw_tokens: int  # tokens in the file before the vocabulary cut

    @property
    def n_tokens(self) -> int:
        return int(len(self.ids))


def read_corpus(path: str | os.PathLike, lang: str = "en", *, min_count: int = 5, max_vocab: int | None = None,
                lower: bool = True, vocab: Sequence[str] | None = None, progress: bool = False) -> Corpus:
    """Tokenise ``path`` once into an int32 id array and build the frequency-ordered vocabulary.

    With ``vocab`` given (resuming), that vocabulary is used as is instead of being rebuilt.
    """
    path = Path(path)
    if not path.exists():
        raise UdmError(f"corpus file {path} does not exist; check the path")
    if path.is_dir():
        raise UdmError(f"corpus {path} is a directory; give a UTF-8 text file with one sentence per line")
    type_id: dict[str, int] = {}
    ids = array("i")
    sent_lens = array("q")
    bar = _bar(progress, total=path.stat().st_size, unit="B", unit_scale=True, desc="reading corpus")
    get = type_id.get
    for toks in iter_sentences(path, lang, lower=lower):
        row = []
        for t in toks:
            i = get(t)
            if i is None:
                i = type_id[t] = len(type_id)
            row.append(i)
        ids.extend(row)
        sent_lens.append(len(row))
        if bar is not None and len(sent_lens) % 2000 == 0:
            bar.n = _tell(path, len(ids), bar)
            bar.refresh()
    if bar is not None:
        bar.n = bar.total
        bar.close()
    raw = np.frombuffer(ids, dtype=np.int32) if len(ids) else np.zeros(0, np.int32)
    if raw.size == 0:
        raise UdmError(f"corpus {path} contains no words; give a non-empty UTF-8 text file")
    types = list(type_id)  # provisional id -> word
    del type_id
    counts = np.bincount(raw, minlength=len(types)).astype(np.int64)
    if vocab is None:
        # frequency order, ties broken by first occurrence (stable sort on provisional id)
        order = np.argsort(-counts, kind="stable")
        order = order[counts[order] >= min_count]
        if max_vocab is not None:
            order = order[:max_vocab]
        if order.size == 0:
            raise UdmError(f"corpus {path} has {raw.size} tokens but no word occurs at least --min-count={min_count} "
                           f"times; use a bigger corpus or a lower --min-count")
        words = [types[i] for i in order]
    else:
        words = list(vocab)
        index = {w: i for i, w in enumerate(types)}
        order = np.array([index.get(w, -1) for w in words], dtype=np.int64)
    remap = np.full(len(types), -1, dtype=np.int32)
    ok = order >= 0
    remap[order[ok]] = np.nonzero(ok)[0].astype(np.int32)
    new = remap[raw]
    keep = new >= 0
    sid = np.repeat(np.arange(len(sent_lens), dtype=np.int32), np.frombuffer(sent_lens, dtype=np.int64))
    sid = sid[keep]
    new = np.ascontiguousarray(new[keep])
    if new.size == 0:
        raise UdmError(f"corpus {path}: no token of the vocabulary occurs in the corpus")
    lens = np.bincount(sid, minlength=len(sent_lens))
    lens = lens[lens > 0]
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    vcounts = np.bincount(new, minlength=len(words)).astype(np.int64)
    return Corpus(words, vcounts, new, offsets, int(raw.size))


def _tell(path: Path, ntok: int, bar) -> int:
    # iter_sentences hides its file handle; estimate bytes from tokens (about 5.5 bytes/token) for the bar only
    return min(bar.total, int(ntok * 5.5))


def _bar(progress: bool, **kw):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(**kw, dynamic_ncols=True, leave=False)


# --------------------------------------------------------------------------------------------------------
# model


def _init_seed(seed: int, words: list[str]) -> int:
    """Seed of the initial vectors, mixed with the vocabulary: two corpora trained with the same ``seed`` must not
    start from row-aligned vectors (that would leak an identity alignment into unsupervised matching)."""
    digest = hashlib.sha256(f"{int(seed)}\n".encode() + "\n".join(words).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class SkipGramModel:
    """Trained SGNS tables: ``w_in`` (V [+ used buckets] x dim, the word vectors) and ``w_out`` (V x dim)."""

    def __init__(self, config: TrainConfig, words: list[str], counts: np.ndarray,
                 w_in: torch.Tensor | None = None, w_out: torch.Tensor | None = None):
        self.config = config
        self.words = words
        self.counts = counts
        self.index = {w: i for i, w in enumerate(words)}
        self.sub = SubwordIndex(words, *config.subwords, config.buckets) if config.subwords else None
        n_in = self.sub.n_rows if self.sub is not None else len(words)
        if w_in is None:
            g = torch.Generator().manual_seed(_init_seed(config.seed, words))
            w_in = (torch.rand(n_in, config.dim, generator=g, dtype=torch.float32) - 0.5) / config.dim
            w_out = torch.zeros(len(words), config.dim, dtype=torch.float32)
        if w_in.shape != (n_in, config.dim) or w_out.shape != (len(words), config.dim):
            raise UdmError("checkpoint tables do not match the vocabulary and --dim; delete the checkpoint or "
                           "drop --resume")
        self.w_in = w_in.contiguous()
        self.w_out = w_out.contiguous()

    def embeddings(self) -> Embeddings:
        """Word vectors in frequency order (with subwords: mean of word row and n-gram rows)."""
        if self.sub is None:
            return Embeddings(self.words, self.w_in.numpy().copy())
        V = len(self.words)
        comp, owner = self.sub.gather(np.arange(V, dtype=np.int64))
        out = torch.zeros(V, self.config.dim, dtype=torch.float32)
        out.index_add_(0, torch.from_numpy(owner), self.w_in[torch.from_numpy(comp)])
        out /= torch.from_numpy(self.sub.lengths.astype(np.float32))[:, None]
        return Embeddings(self.words, out.numpy())

    def word_vector(self, word: str) -> np.ndarray | None:
        """Vector of any word: in-vocabulary words as in :meth:`embeddings`; unseen ones (subword models only)
        as the mean of their n-grams seen in training. None when the word has no usable n-gram."""
        i = self.index.get(word)
        if self.sub is None:
            return None if i is None else self.w_in[i].numpy().copy()
        if i is not None:
            rows = self.sub.components[self.sub.offsets[i]:self.sub.offsets[i + 1]]
        else:
            rows = self.sub.oov_rows(word)
            if not rows:
                return None
        return self.w_in[torch.as_tensor(np.asarray(rows, dtype=np.int64))].mean(0).numpy()

    def vectors_for(self, words: Sequence[str]) -> Embeddings:
        """Embeddings for a list of (possibly unseen) words; words without any vector are left out."""
        kept, rows = [], []
        for w in dict.fromkeys(words):
            v = self.word_vector(w)
            if v is not None:
                kept.append(w)
                rows.append(v)
        return Embeddings(kept, np.stack(rows) if rows else np.zeros((0, self.config.dim), np.float32))

    # -- checkpoints ------------------------------------------------------------------------------------
    def save_checkpoint(self, directory: str | os.PathLike, epoch: int, meta: dict) -> Path:
        directory = Path(directory)
        path = directory / CHECKPOINT_NAME
        info = {"epoch": epoch, "config": self.config.resume_key(), **meta}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, w_in=self.w_in.numpy(), w_out=self.w_out.numpy(),
                         words=np.array(self.words, dtype=str), counts=self.counts,
                         info=np.array(json.dumps(info)))
        return path


def load_checkpoint(directory: str | os.PathLike) -> tuple[dict, list[str], np.ndarray, torch.Tensor, torch.Tensor]:
    """(info, words, counts, w_in, w_out) of the checkpoint in ``directory``."""
    path = Path(directory) / CHECKPOINT_NAME
    try:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"]))
            words = [str(w) for w in z["words"]]
            return info, words, z["counts"].copy(), torch.from_numpy(z["w_in"].copy()), torch.from_numpy(z["w_out"].copy())
    except (OSError, ValueError, KeyError) as exc:
        raise UdmError(f"{path}: unreadable checkpoint ({exc}); delete it or run without --resume") from None


def load_model(directory: str | os.PathLike) -> SkipGramModel:
    """The model saved in a checkpoint folder (``udm train --keep-checkpoints``), e.g. to get subword vectors
    for unseen words with :meth:`SkipGramModel.word_vector` / :meth:`SkipGramModel.vectors_for`."""
    info, words, counts, w_in, w_out = load_checkpoint(directory)
    c = dict(info["config"])
    c["subwords"] = tuple(c["subwords"]) if c.get("subwords") else None
    known = set(TrainConfig.__dataclass_fields__)
    return SkipGramModel(TrainConfig(**{k: v for k, v in c.items() if k in known}), words, counts, w_in, w_out)


# --------------------------------------------------------------------------------------------------------
# training


def _keep_prob(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep word w with probability (sqrt(f/(s*T)) + 1) * s*T/f."""
    if sample <= 0:
        return np.ones(len(counts), dtype=np.float64)
    thr = sample * counts.sum()
    p = (np.sqrt(counts / thr) + 1.0) * thr / np.maximum(counts, 1)
    return np.minimum(p, 1.0)


def _windows(ids: np.ndarray, sid: np.ndarray, rng: np.random.Generator, window: int, batch: int
             ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (centres (M,), contexts (M, 2b), valid mask (M, 2b)) for each effective window size b."""
    n = len(ids)
    b = rng.integers(1, window + 1, size=n)
    for size in range(1, window + 1):
        pos = np.nonzero(b == size)[0]
        if pos.size == 0:
            continue
        offs = np.concatenate([np.arange(-size, 0), np.arange(1, size + 1)])
        cpos = pos[:, None] + offs[None, :]
        inside = (cpos >= 0) & (cpos < n)
        np.clip(cpos, 0, n - 1, out=cpos)
        valid = inside & (sid[cpos] == sid[pos][:, None])
        has = valid.any(1)
        pos, cpos, valid = pos[has], cpos[has], valid[has]
        for s in range(0, len(pos), batch):
            yield ids[pos[s:s + batch]], ids[cpos[s:s + batch]], valid[s:s + batch]


def shuffle_sentences(ids: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The corpus ``(ids, offsets)`` with its sentences in a random order (each sentence's tokens kept in order).

    Corpora built by concatenating sources (Bible, then Wikipedia, ..., then fortunes) are otherwise read in that
    order every epoch, always ending on the same source; there the epoch loss rises again in the last epochs
    (experiments/results/training_loss_order.md)."""
    lens = np.diff(offsets)
    perm = rng.permutation(len(lens))
    new_lens = lens[perm]
    new_off = np.zeros_like(offsets)
    np.cumsum(new_lens, out=new_off[1:])
    # token t of new sentence k comes from old position offsets[perm[k]] + (t - new_off[k])
    shift = np.repeat(offsets[:-1][perm] - new_off[:-1], new_lens)
    return ids[np.arange(len(ids), dtype=np.int64) + shift], new_off


def step_batch(batch: int, workers: int) -> int:
    """Centre words per update step when ``workers`` hogwild threads share ``batch``.

    Each worker computes its step from tables that miss the steps the others are applying, so ``workers``
    steps of ``batch`` centres act like one step of ``workers x batch``: the size that diverges. Splitting
    the batch keeps the centres in flight at ``batch``. On a 9M-token French corpus two workers of 256 each
    diverged (first-epoch loss 279,800 on one seed, 62 on another); two of 128 train like one worker
    (``experiments/results/train_workers_enfr_half.md``)."""
    return max(1, int(batch) // max(1, int(workers)))


class _Trainer:
    def __init__(self, model: SkipGramModel, corpus: Corpus, workers: int = 1):
        cfg = model.config
        self.model, self.corpus, self.cfg = model, corpus, cfg
        self.batch = step_batch(cfg.batch, workers)
        self.keep = _keep_prob(corpus.counts, cfg.sample)
        p = corpus.counts.astype(np.float64) ** 0.75
        self.neg_cdf = np.cumsum(p / p.sum())
        self.neg_cdf[-1] = 1.0
        self.total = corpus.n_tokens * cfg.epochs

    def epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's token ids and sentence offsets: the corpus as read, or with ``shuffle`` its sentences in
        an order drawn from ``(seed, epoch)`` (so a resumed run draws the same orders)."""
        corpus = self.corpus
        if not self.cfg.shuffle:
            return corpus.ids, corpus.offsets
        return shuffle_sentences(corpus.ids, corpus.offsets, np.random.default_rng([int(self.cfg.seed), int(epoch), 1]))

    def lr_at(self, done: int) -> float:
        cfg = self.cfg
        return max(cfg.min_lr, cfg.lr - (cfg.lr - cfg.min_lr) * done / self.total)

    def chunks(self, off: np.ndarray) -> Iterator[tuple[int, int]]:
        """(start, end) token ranges of about CHUNK_TOKENS that end at the sentence boundaries ``off``."""
        n = int(off[-1])
        s = 0
        while s < n:
            j = int(np.searchsorted(off, s + CHUNK_TOKENS, side="left"))
            e = int(off[min(j, len(off) - 1)])
            if e <= s:
                e = n
            yield s, e
            s = e

    def batches(self, epoch: int) -> Iterator[tuple]:
        """All update steps of one epoch, in order: (contexts, valid, targets, lr, tokens finished).

        Every random draw of the epoch happens here, from a generator seeded by (seed, epoch)."""
        cfg, corpus = self.cfg, self.corpus
        rng = np.random.default_rng([int(cfg.seed), int(epoch)])
        K = cfg.negative
        base = epoch * corpus.n_tokens
        all_ids, offsets = self.epoch_order(epoch)
        for s, e in self.chunks(offsets):
            lr = self.lr_at(base + s)
            ids = all_ids[s:e]
            si = np.searchsorted(offsets, s, side="right") - 1
            sj = np.searchsorted(offsets, e, side="left")
            lens = np.diff(offsets[si:sj + 1])
            sid = np.repeat(np.arange(len(lens)), lens)
            keep = rng.random(len(ids)) < self.keep[ids]
            ids, sid = ids[keep], sid[keep]
            last = None
            for centre, ctx, valid in _windows(ids, sid, rng, cfg.window, self.batch):
                item = _group(centre, ctx, valid, cfg.share, K, self.neg_cdf, rng)
                if last is not None:
                    yield (*last, 0)
                last = (*item, lr)
            if last is not None:
                yield (*last, e - s)
            else:
                yield (None, None, None, None, lr, e - s)

    def run_epoch(self, epoch: int, on_batch: Callable[[int, float, int], None], workers: int = 1) -> float:
        """Train one epoch: a producer thread prepares the batches (numpy), ``workers`` threads apply them
        (single-threaded torch ops, hogwild on the shared tables). Returns the mean loss per pair."""
        model = self.model
        w_in, w_out, sub = model.w_in, model.w_out, model.sub
        q: queue.Queue = queue.Queue(maxsize=8 + 4 * workers)
        stop = threading.Event()
        errors: list[BaseException] = []
        lock = threading.Lock()
        total = [0.0, 0]

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    pass
            return False

        def produce() -> None:
            try:
                for item in self.batches(epoch):
                    if not put(item):
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                errors.append(exc)
                stop.set()
            finally:
                for _ in range(workers):
                    if not put(None):
                        break

        def consume() -> None:
            try:
                while not stop.is_set():
                    try:
                        item = q.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    if item is None:
                        return
                    ctx, tgt, label, mask, lr, ntok = item
                    loss, pairs = (0.0, 0) if ctx is None else _sgns_step(w_in, w_out, sub, ctx, tgt, label, mask, lr)
                    with lock:
                        total[0] += loss
                        total[1] += pairs
                        on_batch(ntok, loss, pairs)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=produce, name="udm-train-producer", daemon=True)]
        threads += [threading.Thread(target=consume, name=f"udm-train-{i}", daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.2)
        except BaseException:
            stop.set()
            for t in threads:
                t.join()
            raise
        if errors:
            raise errors[0]
        return total[0] / max(total[1], 1)


def _group(centre: np.ndarray, ctx: np.ndarray, valid: np.ndarray, g: int, K: int, neg_cdf: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pack M windows into groups of ``g`` centres that share ``K`` negative draws.

    Returns contexts (B, g*C), targets (B, g+K) = [the g centres, K negatives], the label matrix (g*C, g+K)
    (1 where a context row meets its own centre) and the float mask (B, g*C, g+K): valid context, own centre
    or a negative that is not the row's centre word. g=1 is word2vec's per-centre negatives shared by the
    window ("HogBatch"); a larger g means fewer, larger matrix products per step.
    """
    M, C = ctx.shape
    pad = (-M) % g
    if pad:
        centre = np.concatenate([centre, np.zeros(pad, centre.dtype)])
        ctx = np.concatenate([ctx, np.zeros((pad, C), ctx.dtype)])
        valid = np.concatenate([valid, np.zeros((pad, C), bool)])
    B, R = (M + pad) // g, g * C
    negs = np.searchsorted(neg_cdf, rng.random((B, K)), side="right").astype(np.int64)
    cg = centre.reshape(B, g).astype(np.int64)
    tgt = np.concatenate([cg, negs], axis=1)
    owner = np.repeat(np.arange(g), C)
    label = np.zeros((R, g + K), np.float32)
    label[np.arange(R), owner] = 1.0
    allowed = label.copy()
    allowed[:, g:] = 1.0
    mask = valid.reshape(B, R)[:, :, None] * allowed[None]
    hit = cg[:, owner][:, :, None] == negs[:, None, :]
    mask[:, :, g:] *= ~hit
    return ctx.reshape(B, R), tgt, label, mask.astype(np.float32, copy=False)


def _sgns_step(w_in: torch.Tensor, w_out: torch.Tensor, sub: SubwordIndex | None, ctx: np.ndarray,
               tgt: np.ndarray, label: np.ndarray, mask: np.ndarray, lr: float) -> tuple[float, int]:
    """One hand-written SGD step on B groups of windows; returns (summed loss, number of positive pairs).

    Context words are the input vectors X (B, R, d), centres + negatives the output vectors Y (B, T, d):
    S = X Y^T, gradient of -log s(S) on label entries and -log s(-S) elsewhere, masked, applied with index_add_.
    """
    B, R = ctx.shape
    d = w_in.shape[1]
    T = tgt.shape[1]
    ctx_t = torch.from_numpy(ctx.reshape(-1).astype(np.int64, copy=False))
    tgt_t = torch.from_numpy(tgt.reshape(-1))
    if sub is None:
        X = w_in.index_select(0, ctx_t).view(B, R, d)
    else:
        uniq, inv = np.unique(ctx.reshape(-1), return_inverse=True)
        comp, owner = sub.gather(uniq.astype(np.int64))
        comp_t, owner_t = torch.from_numpy(comp), torch.from_numpy(owner)
        inv_t = torch.from_numpy(inv.reshape(-1).astype(np.int64))
        scale = torch.from_numpy((1.0 / sub.lengths[uniq]).astype(np.float32))[:, None]
        XU = torch.zeros(len(uniq), d).index_add_(0, owner_t, w_in.index_select(0, comp_t)) * scale
        X = XU.index_select(0, inv_t).view(B, R, d)
    Y = w_out.index_select(0, tgt_t).view(B, T, d)
    S = torch.bmm(X, Y.transpose(1, 2))  # (B, R, T)
    L = torch.from_numpy(label)
    Mk = torch.from_numpy(mask)
    with torch.no_grad():
        # -log s(s) on positives, -log s(-s) = -(log s(s) - s) on negatives
        loss = -(Mk * (torch.nn.functional.logsigmoid(S) - (1.0 - L) * S)).sum()
    G = (L - torch.sigmoid(S)).mul_(Mk).mul_(lr)
    gX = torch.bmm(G, Y)  # (B, R, d)
    gY = torch.bmm(G.transpose(1, 2), X)  # (B, T, d)
    w_out.index_add_(0, tgt_t, gY.view(-1, d))
    if sub is None:
        w_in.index_add_(0, ctx_t, gX.view(-1, d))
    else:
        # fastText (skipgram/cbow) adds the full gradient of the mean to every component row
        gU = torch.zeros(len(uniq), d).index_add_(0, inv_t, gX.view(-1, d))
        w_in.index_add_(0, comp_t, gU.index_select(0, owner_t))
    return float(loss), int((mask * label).sum())


@contextlib.contextmanager
def _single_threaded_ops():
    """Run torch ops single-threaded while the hogwild workers train (restored afterwards): one OpenMP team
    per op spinning at barriers collapses on a busy machine, plain worker threads do not."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def train_model(corpus_path: str | os.PathLike, config: TrainConfig, *, threads: int | None = None,
                checkpoint_dir: str | os.PathLike | None = None, resume: bool = False, progress: bool = True,
                stats: dict | None = None) -> SkipGramModel:
    """Train and return the :class:`SkipGramModel` (tables and vocabulary). See :func:`train_embeddings`.

    ``stats`` (a dict), when given, is filled with timings: ``read_s``, ``train_s``, ``tokens``, ``words_per_s``,
    ``epoch_loss`` (mean loss per pair, one per epoch).
    """
    config.check()
    start_epoch = 0
    vocab = None
    ckpt = None
    if resume:
        if checkpoint_dir is None:
            raise UdmError("--resume needs a checkpoint directory (--checkpoint-dir)")
        if (Path(checkpoint_dir) / CHECKPOINT_NAME).is_file():
            ckpt = load_checkpoint(checkpoint_dir)
            info = ckpt[0]
            want = config.resume_key()
            defaults = TrainConfig().resume_key()  # settings added since the checkpoint was made had their default
            for k, v in {**{k: defaults[k] for k in want if k not in info["config"]}, **info["config"]}.items():
                if want.get(k) != v:
                    raise UdmError(f"checkpoint in {checkpoint_dir} was made with {k}={v!r}, not {want.get(k)!r}; "
                                   f"use the same settings or drop --resume")
            start_epoch = int(info["epoch"])
            vocab = ckpt[1]
            log.info("resuming after epoch %d from %s", start_epoch, checkpoint_dir)
        else:
            log.warning("no checkpoint in %s: starting from scratch", checkpoint_dir)
    if threads is not None and threads < 1:
        raise UdmError(f"--threads must be at least 1, got {threads}")
    workers = int(threads) if threads is not None else max(1, torch.get_num_threads())
    with _single_threaded_ops():
        t0 = time.perf_counter()
        corpus = read_corpus(corpus_path, config.lang, min_count=config.min_count, max_vocab=config.max_vocab,
                             lower=config.lower, vocab=vocab, progress=progress)
        read_s = time.perf_counter() - t0
        if ckpt is not None:
            model = SkipGramModel(config, ckpt[1], ckpt[2], ckpt[3], ckpt[4])
        else:
            model = SkipGramModel(config, corpus.words, corpus.counts)
        log.info("corpus %s: %d tokens, %d kept in a vocabulary of %d words", corpus_path, corpus.raw_tokens,
                 corpus.n_tokens, len(corpus.words))
        trainer = _Trainer(model, corpus, workers)
        bar = _bar(progress, total=trainer.total, initial=start_epoch * corpus.n_tokens, unit="word",
                   unit_scale=True, desc="training")
        epoch_loss = []
        untrained = (1 + config.negative) * math.log(2)  # every score 0: the loss near-zero start vectors give
        t1 = time.perf_counter()
        state = {"chunks": 0, "loss": 0.0, "pairs": 0}

        def on_batch(ntok: int, loss: float, npairs: int) -> None:
            # running mean loss per (context, centre) pair over the last few chunks, shown next to words/s
            if bar is None:
                return
            state["loss"] += loss
            state["pairs"] += npairs
            if ntok:
                bar.update(ntok)
                state["chunks"] += 1
                if state["chunks"] >= 5 and state["pairs"]:
                    bar.set_postfix(loss=f"{state['loss'] / state['pairs']:.4f}", refresh=False)
                    state.update(chunks=0, loss=0.0, pairs=0)

        try:
            for epoch in range(start_epoch, config.epochs):
                loss = trainer.run_epoch(epoch, on_batch, workers)
                epoch_loss.append(loss)
                if not math.isfinite(loss) or loss > untrained:
                    # a finite blow-up (mean loss in the thousands) leaves vectors that look trained and are not
                    raise UdmError(f"training diverged in epoch {epoch + 1}: mean loss {loss:.4g} per pair is above "
                                   f"an untrained model's {untrained:.2f}; lower --lr or --batch")
                log.info("epoch %d/%d: mean loss %.4f", epoch + 1, config.epochs, loss)
                if checkpoint_dir is not None:
                    model.save_checkpoint(checkpoint_dir, epoch + 1, {"corpus": str(corpus_path)})
        finally:
            if bar is not None:
                bar.close()
        train_s = time.perf_counter() - t1
    if stats is not None:
        done = (config.epochs - start_epoch) * corpus.n_tokens
        stats.update(read_s=read_s, train_s=train_s, tokens=corpus.n_tokens, raw_tokens=corpus.raw_tokens,
                     vocab=len(corpus.words), epoch_loss=epoch_loss, workers=workers, step_batch=trainer.batch,
                     words_per_s=done / train_s if train_s > 0 else float("nan"))
    return model


def train_embeddings(corpus_path: str | os.PathLike, lang: str = "en", *, dim: int = 300, window: int = 5,
                     negative: int = 5, min_count: int = 5, max_vocab: int | None = None, epochs: int = 5,
                     threads: int | None = None, seed: int = 0, subwords: str | tuple[int, int] | None = None,
                     buckets: int = DEFAULT_BUCKETS, lr: float = 0.025, sample: float = 1e-3,
                     batch: int = DEFAULT_BATCH, shuffle: bool = False,
                     checkpoint_dir: str | os.PathLike | None = None,
                     resume: bool = False, progress: bool = True, stats: dict | None = None) -> Embeddings:
    """Train skip-gram word vectors on a UTF-8 corpus (one sentence per line) and return them in frequency order.

    ``subwords="3-6"`` adds fastText character n-grams hashed into ``buckets``. ``threads`` is the number of
    hogwild training threads (default: ``torch.get_num_threads()``, i.e. whatever the user set for torch);
    torch ops run single-threaded inside them while training, and the torch setting is restored afterwards.
    ``threads=1`` with a fixed ``seed`` is bit-for-bit reproducible. ``batch`` centre words are in flight at once:
    each of the ``threads`` workers steps with ``batch // threads`` (see :func:`step_batch`). ``shuffle`` reads the
    sentences in a new seeded order every epoch (see :func:`shuffle_sentences`). ``checkpoint_dir`` receives an atomic
    checkpoint after every epoch and ``resume=True`` continues from it. Raises UdmError on unusable input.
    """
    cfg = TrainConfig(lang=lang, dim=dim, window=window, negative=negative, min_count=min_count,
                      max_vocab=max_vocab, epochs=epochs, seed=seed, lr=lr, sample=sample,
                      subwords=parse_ngram_range(subwords), buckets=buckets, batch=batch, shuffle=shuffle)
    model = train_model(corpus_path, cfg, threads=threads, checkpoint_dir=checkpoint_dir, resume=resume,
                        progress=progress, stats=stats)
    return model.embeddings()
