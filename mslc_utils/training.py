"""Fold training with the ``transformers`` Trainer, for any model that follows the protocol.

Model protocol
--------------
``model(**batch)`` returns a ``ModelOutput`` (or dict) whose first fields are

* ``loss`` — scalar, when the batch has ``labels`` (int64 class indices in Table 1 order);
* ``logits`` — B×21, the prediction used for metrics and saved probabilities (softmax);
* ``embeddings`` — B×D, the representation saved for fusion.

Batches are produced by ``torch.utils.data.default_collate`` from dataset items that are
dicts of tensors / numbers (e.g. ``{"pixel_values": uint8 C×H×W, "labels": int}``). Any
extra keys are passed to ``forward`` (accept ``**kwargs`` to ignore them).

Generic API (used by the SwinV2 models here and by ATAT in :mod:`mslc_utils.atat`)
-------------------------------------------------------------------------------
* :class:`TrainSettings` — learning rate, batch size, epochs, patience, workers, seed, device;
  ``TrainSettings.from_config(ctx.section("training"), seed=ctx.seed, device=ctx.device)``.
* :func:`fit` ``(model, train_dataset, eval_dataset, train_labels, output_dir, settings)``
  → :class:`FitResult`: Trainer with a seeded ``WeightedRandomSampler`` (weights
  1/count[class] of ``train_labels``, never read by iterating the dataset), torch Adam at
  constant learning rate, evaluation every epoch with macro-F1, early stopping on it, best
  model restored, safetensors checkpoints in ``output_dir``, resumed from the last one.
* :func:`predict` ``(model, dataset, batch_size=..., device=...)`` → :class:`Predictions`
  (``logits``, ``embeddings`` as float32 NumPy, one row per dataset item, in order).
* :func:`save_fold_outputs` ``(fold_dir, split, object_ids, labels, probs, embeddings)``
  writes ``predictions_<split>.parquet`` and ``embeddings_<split>.parquet``.
* :func:`mean_by_object` — aggregate per-sample rows sharing an object id (ATAT windows):
  mean probabilities and mean embeddings per object.
* :func:`run_fold` — the whole fold: skip if complete, fit (or resume), save weights,
  predict train/val/test (optionally aggregated), metrics, log, ``COMPLETE`` last.

SwinV2 driver: :func:`train_model_folds` ``(ctx, dataset, model_id, folds=None, force=False)``.

Speed options (same mathematics; ``docs/gpu-speed.md``): :func:`compile_model` (``training.compile``),
fused Adam (``training.fused_adam``), ``eval_batch_size``, ``prefetch_factor``, and
:func:`prerender_view` (the image cache filled on all cores before the first epoch).

Distributed runs (``torchrun -m mslc_utils.train_folds``, :mod:`mslc_utils.train_folds`): the
Trainer handles DDP, each process takes ``batch_size / N`` of every batch
(:func:`per_process_batch`); only the main process writes artifacts and predicts (every
object once), the others wait for it.
"""
from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler, default_collate
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from . import artifacts
from .taxonomy import N_CLASSES

log = logging.getLogger(__name__)

class _DropMtimeWarning(logging.Filter):
    # checkpoint rotation warns on every save on filesystems with coarse mtimes; it then
    # falls back to step numbers, which is what we want anyway
    def filter(self, record: logging.LogRecord) -> bool:
        return "mtime may not be reliable" not in record.getMessage()


logging.getLogger("transformers.trainer_utils").addFilter(_DropMtimeWarning())

CHECKPOINT_DIR = "checkpoints"
TRAINED_FILE = "TRAINED"  # JSON: best weights of this config hash saved; removed when COMPLETE is written


# ----------------------------------------------------------------------------- datasets
class ArrayDataset(torch.utils.data.Dataset):
    """In-memory map-style dataset: item ``i`` is ``{key: tensor(arrays[key][i]), ...,
    "labels": labels[i]}``. Picklable (safe with DataLoader workers in notebooks).

    Used for images rendered once per view (uint8 N×3×H×W) so that epochs do not re-render,
    and for tests.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], labels: Sequence[int]):
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.labels = np.asarray(labels, dtype=np.int64)
        for k, v in self.arrays.items():
            if len(v) != len(self.labels):
                raise ValueError(f"array {k!r} has {len(v)} rows but there are {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            k: torch.as_tensor(v[i]) if v.ndim == 1 else torch.from_numpy(np.ascontiguousarray(v[i]))
            for k, v in self.arrays.items()
        }
        item["labels"] = int(self.labels[i])
        return item


# ----------------------------------------------------------------------------- settings
#: early-stopping criteria: the log key of each and whether higher is better
EARLY_STOPPING_METRICS: tuple[str, ...] = ("macro_f1", "loss")


@dataclass
class TrainSettings:
    """Optimisation settings of one fold (a profile's ``training`` section plus seed/device)."""

    learning_rate: float
    batch_size: int
    max_epochs: int
    patience: int
    num_workers: int = 0
    seed: int = 0
    device: str = "auto"  # "auto", "cpu" or "cuda"
    eval_batch_size: int | None = None
    save_total_limit: int = 2
    bf16: bool | None = None  # None: bf16 autocast when CUDA supports it
    #: PyTorch deterministic algorithms on the GPU (slower; applied by :func:`fit`; see README)
    full_determinism: bool = False
    verbose: bool = True  # one line per epoch
    #: what early stopping watches and which epoch's weights are kept: ``"macro_f1"``
    #: (validation macro-F1, higher is better: the paper) or ``"loss"`` (validation
    #: cross-entropy, lower is better). On a small validation set macro-F1 jumps by several
    #: points from one epoch to the next and ends folds on a noise spike while the loss
    #: still falls; the loss is the smoother signal (the quick profile, docs/quick-profile.md).
    early_stopping_metric: str = "macro_f1"
    #: torch intra-op threads (process-wide) for CPU training; None: torch's default (one
    #: per core). On a machine whose cores other processes also use, 1 avoids the heavy
    #: slow-down of oversubscribed threads on these small models.
    torch_threads: int | None = None
    # --- speed only (same mathematics; see docs/gpu-speed.md) ---
    #: ``torch.compile`` the SwinV2 backbone (:func:`compile_model`); compiled once per
    #: process and input shape, reused by every later fold and model of the same architecture.
    #: ``"auto"``: on CUDA only (on a CPU compiling costs minutes and gains little); True/False: force
    compile: bool | str = False
    compile_backend: str = "inductor"  # "aot_eager": the same graph capture without code generation (tests)
    compile_mode: str | None = None  # e.g. "max-autotune"; None: torch's default
    #: ``torch.optim.Adam(fused=True)``: the same Adam update in one kernel per step.
    #: None: on CUDA only (where it is fastest); True/False: force
    fused_adam: bool | None = None
    #: batches each data-loader worker prepares ahead (None: torch's default, 2)
    prefetch_factor: int | None = None

    @classmethod
    def from_config(cls, training: Mapping[str, Any], seed: int = 0, device: str = "auto", **overrides: Any) -> "TrainSettings":
        """From a profile's ``training`` (or ``atat``) section; unknown keys are ignored."""
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in dict(training).items() if k in known}
        kw.update(seed=seed, device=device)
        kw.update(overrides)
        missing = [k for k in ("learning_rate", "batch_size", "max_epochs", "patience") if k not in kw]
        if missing:
            raise KeyError(f"training settings lack {missing} (got keys {sorted(training)})")
        return cls(**kw)

    def __post_init__(self) -> None:
        if self.early_stopping_metric not in EARLY_STOPPING_METRICS:
            raise ValueError(f"early_stopping_metric must be one of {EARLY_STOPPING_METRICS}, "
                             f"got {self.early_stopping_metric!r}")

    def resolved_device(self) -> str:
        if self.device in (None, "auto"):
            return "cuda" if torch.cuda.is_available() else "cpu"
        return str(self.device)

    def use_compile(self) -> bool:
        if self.compile == "auto":
            return self.resolved_device() == "cuda"
        if not isinstance(self.compile, bool):
            raise ValueError(f"training.compile must be true, false or 'auto', got {self.compile!r}")
        return self.compile

    def use_fused_adam(self) -> bool:
        if self.fused_adam is not None:
            return bool(self.fused_adam)
        return self.resolved_device() == "cuda"

    def optimizer(self) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
        """The paper's optimiser: Adam at constant learning rate, no weight decay (fused when
        :meth:`use_fused_adam`; the update is the same).

        Otherwise ``foreach=True``: torch picks the per-tensor Python loop on the CPU, whose
        ~6 operations per parameter tensor were 7 ms of a quick SwinV2 step's ~56 ms; the
        multi-tensor implementation does the same element-wise operations in the same order
        in one call per operation, so the weights are bit-identical
        (``tests/test_training.py``), in about half the time."""
        kwargs: dict[str, Any] = {"lr": float(self.learning_rate), "weight_decay": 0.0}
        if self.use_fused_adam():
            kwargs["fused"] = True
        else:
            kwargs["foreach"] = True
        return torch.optim.Adam, kwargs

    def use_bf16(self) -> bool:
        if self.bf16 is not None:
            return bool(self.bf16)
        return self.resolved_device() == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


# ----------------------------------------------------------------------------- compilation
def compile_model(model: nn.Module, settings: TrainSettings) -> nn.Module:
    """With ``settings.use_compile()``: ``torch.compile`` the model's ``backbone`` (the whole model
    if it has none) **in place** (``nn.Module.compile``), so parameter names, checkpoints and
    ``model.safetensors`` are unchanged. Returns ``model``.

    Compiled code lives in TorchDynamo's process-wide cache, keyed by the code and guarded by
    input shapes, dtypes and train/eval mode, not by the module instance: the first fold of a
    process compiles (one graph for training, one for evaluation, one more when the last
    batch's size first differs), and every later fold and model with the same backbone
    architecture reuses them. :func:`compiled_graph_count` counts them.
    """
    if not settings.use_compile():
        return model
    target = getattr(model, "backbone", None)
    if not isinstance(target, nn.Module):
        target = model
    target.compile(backend=settings.compile_backend, mode=settings.compile_mode)
    return model


def per_process_batch(batch_size: int, n_processes: int) -> int:
    """The per-process batch of a distributed run that keeps the global batch at
    ``batch_size`` (the paper's optimisation); ``ValueError`` unless ``n_processes`` divides it."""
    if batch_size % n_processes:
        raise ValueError(
            f"training.batch_size {batch_size} is not divisible by the {n_processes} processes of this run: "
            "the paper's batch would change; use a number of processes that divides it"
        )
    return batch_size // n_processes


def compiled_graph_count() -> int:
    """Graphs TorchDynamo has compiled in this process so far (for tests and benchmarks)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


# ----------------------------------------------------------------------------- sampler
def class_counts(labels: Sequence[int], n_classes: int = N_CLASSES) -> np.ndarray:
    """Number of samples of each class (length ``n_classes``)."""
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got range [{y.min()}, {y.max()}]")
    return np.bincount(y, minlength=n_classes)


def sample_weights(labels: Sequence[int], n_classes: int = N_CLASSES) -> np.ndarray:
    """Per-sample weights ``1 / count[class]`` from the training labels (every class then has
    the same total weight, so a ``WeightedRandomSampler`` draws classes equally often)."""
    y = np.asarray(labels, dtype=np.int64)
    counts = class_counts(y, n_classes)
    return (1.0 / counts[y]).astype(np.float64)


class EpochSeededWeightedSampler(WeightedRandomSampler):
    """``WeightedRandomSampler`` whose draw depends only on ``(seed, epoch)``.

    The Trainer (through accelerate) calls :meth:`set_epoch` before every epoch, so a run
    resumed from a checkpoint draws the same samples as an uninterrupted one, and every
    process of a distributed run draws the same sequence (accelerate then shards it).
    """

    def __init__(self, weights: Sequence[float], num_samples: int, seed: int = 0):
        super().__init__(torch.as_tensor(np.asarray(weights), dtype=torch.double), num_samples, replacement=True)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed * 100_003 + self.epoch)
        self.generator = g
        return super().__iter__()


# ----------------------------------------------------------------------------- Trainer
class BalancedTrainer(Trainer):
    """``Trainer`` with two minimal changes: the class-balanced, seeded training sampler, and
    evaluation that keeps only the ``logits`` of the model output (not embeddings or
    auxiliary heads), so ``compute_metrics`` receives B×21 arrays."""

    def __init__(self, *args: Any, train_sample_weights: np.ndarray, sampler_seed: int = 0, **kwargs: Any):
        self._train_sample_weights = np.asarray(train_sample_weights, dtype=np.float64)
        self._sampler_seed = int(sampler_seed)
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):  # noqa: D401 - Trainer hook
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if len(ds) != len(self._train_sample_weights):
            raise ValueError(
                f"train_labels has {len(self._train_sample_weights)} entries but the training dataset has {len(ds)} items"
            )
        return EpochSeededWeightedSampler(self._train_sample_weights, len(ds), seed=self._sampler_seed)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad(), self.compute_loss_context_manager():
            out = model(**inputs)
        loss = out["loss"].detach().mean() if (labels is not None and out.get("loss") is not None) else None
        if prediction_loss_only:
            return loss, None, None
        return loss, out["logits"].detach().float(), labels


def compute_macro_f1(eval_pred) -> dict[str, float]:
    """``compute_metrics`` of the Trainer: macro-F1 over the 21 classes (contract definition)."""
    logits = eval_pred.predictions
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    y_pred = np.asarray(logits).argmax(axis=-1)
    return {"macro_f1": artifacts.macro_f1(np.asarray(eval_pred.label_ids), y_pred)}


class EpochLineCallback(TrainerCallback):
    """One short line per evaluation (epoch): training loss and validation macro-F1."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self._last_loss: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._last_loss = float(logs["loss"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        f1 = metrics.get("eval_macro_f1", float("nan"))
        loss = f"{self._last_loss:.3f}" if self._last_loss is not None else "-"
        print(f"{self.prefix}epoch {state.epoch:.0f}: train loss {loss}, val loss {metrics.get('eval_loss', float('nan')):.3f}, "
              f"val macro-F1 {f1:.3f}", flush=True)


def training_arguments(output_dir: str | Path, settings: TrainSettings) -> TrainingArguments:
    """The ``TrainingArguments`` of every fold (see the module docstring)."""
    device = settings.resolved_device()
    nw = int(settings.num_workers)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=float(settings.max_epochs),
        per_device_train_batch_size=int(settings.batch_size),
        per_device_eval_batch_size=int(settings.eval_batch_size or settings.batch_size),
        learning_rate=float(settings.learning_rate),
        weight_decay=0.0,
        lr_scheduler_type="constant",  # the paper: Adam without a scheduler
        warmup_steps=0,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=int(settings.save_total_limit),
        load_best_model_at_end=True,
        metric_for_best_model=settings.early_stopping_metric,
        greater_is_better=settings.early_stopping_metric == "macro_f1",
        restore_callback_states_from_checkpoint=True,  # early-stopping counter survives a resume
        seed=int(settings.seed),
        data_seed=int(settings.seed),
        full_determinism=False,  # applied by fit() with warn_only=True instead
        use_cpu=(device == "cpu"),
        bf16=settings.use_bf16(),
        dataloader_num_workers=nw,
        dataloader_persistent_workers=nw > 0,
        dataloader_prefetch_factor=(int(settings.prefetch_factor) if nw > 0 and settings.prefetch_factor else None),
        dataloader_pin_memory=(device == "cuda"),
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="none",
        disable_tqdm=True,
        log_level="warning",
        log_level_replica="error",
        ddp_find_unused_parameters=False,
    )


@dataclass
class FitResult:
    """Summary of one :func:`fit` call; ``model`` holds the best weights."""

    model: nn.Module
    best_epoch: int | None
    best_metric: float | None
    epochs_run: int
    global_step: int
    train_seconds: float
    log_history: list[dict[str, Any]]
    resumed_from: str | None


def _best_epoch(log_history: list[dict[str, Any]], metric: str = "macro_f1") -> tuple[int | None, float | None]:
    # the Trainer keeps the first epoch reaching the best value (strict improvement)
    sign = 1.0 if metric == "macro_f1" else -1.0
    best_e, best_m = None, None
    for rec in log_history:
        m = rec.get(f"eval_{metric}")
        if m is not None and (best_m is None or sign * m > sign * best_m):
            best_e, best_m = int(round(rec.get("epoch", 0))), float(m)
    return best_e, best_m


_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest checkpoint a run can resume from; newer, half-written ones are deleted.

    A process killed while the Trainer saves a checkpoint leaves ``checkpoint-<step>/``
    without its ``trainer_state.json``, which the Trainer writes last (after the weights,
    optimizer and RNG states). ``transformers.trainer_utils.get_last_checkpoint`` would pick
    that directory and the resume would fail; here it is removed (and logged) and the previous
    complete checkpoint is used instead.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))),
        reverse=True,
    )
    for _, path in found:
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            log.warning("removing %s: an incomplete checkpoint (the run was interrupted while saving it)", path)
            print(f"removing the incomplete checkpoint {path.name} (interrupted while saving)", flush=True)
            shutil.rmtree(path, ignore_errors=True)
            continue
        return str(path)
    return None


def fit(
    model: nn.Module,
    train_dataset: torch.utils.data.Dataset,
    eval_dataset: torch.utils.data.Dataset,
    train_labels: Sequence[int],
    output_dir: str | Path,
    settings: TrainSettings,
    *,
    callbacks: Iterable[TrainerCallback] = (),
    resume: bool = True,
    data_collator: Callable | None = None,
    log_prefix: str = "",
) -> FitResult:
    """Train ``model`` with the Trainer on one fold; the best model (validation macro-F1) is
    restored at the end.

    Parameters
    ----------
    model
        Follows the module's model protocol.
    train_dataset, eval_dataset
        Map-style datasets of dict items with ``labels``.
    train_labels
        Integer class of every training item, in dataset order (for the sampler weights;
        taken from the tables, never by iterating the dataset).
    output_dir
        Checkpoint directory (``checkpoint-<step>/`` with ``model.safetensors``, optimizer,
        RNG and Trainer state). If it holds a checkpoint and ``resume``, training resumes
        from the last one (same global step, optimizer, sampler epoch, early-stopping counter).
    settings
        :class:`TrainSettings`.
    callbacks
        Extra Trainer callbacks (e.g. for tests).
    """
    output_dir = Path(output_dir)
    labels = np.asarray(train_labels, dtype=np.int64)
    if settings.torch_threads:
        torch.set_num_threads(int(settings.torch_threads))
    if settings.full_determinism:
        # process-wide: deterministic cuDNN, no cuDNN benchmark, CUBLAS_WORKSPACE_CONFIG,
        # CUDA_LAUNCH_BLOCKING. warn_only: an op without a deterministic CUDA kernel is named
        # in a warning instead of stopping a long GPU run (the Trainer's own switch raises).
        from transformers import enable_full_determinism

        enable_full_determinism(int(settings.seed), warn_only=True)
    args = training_arguments(output_dir, settings)
    cbs: list[TrainerCallback] = [EarlyStoppingCallback(early_stopping_patience=int(settings.patience))]
    if settings.verbose:
        cbs.append(EpochLineCallback(log_prefix))
    cbs.extend(callbacks)
    trainer = BalancedTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=data_collator or default_collate,
        compute_metrics=compute_macro_f1,
        callbacks=cbs,
        optimizer_cls_and_kwargs=settings.optimizer(),
        train_sample_weights=sample_weights(labels),
        sampler_seed=settings.seed,
    )
    # keep notebook output short: our EpochLineCallback replaces the Trainer's log printer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    last = last_complete_checkpoint(output_dir) if resume else None
    if last is not None:
        print(f"{log_prefix}resuming from {Path(last).name} (an interrupted run)", flush=True)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - t0
    history = list(trainer.state.log_history)
    best_epoch, best_metric = _best_epoch(history, settings.early_stopping_metric)
    return FitResult(
        model=trainer.model,
        best_epoch=best_epoch,
        best_metric=best_metric,
        epochs_run=int(math.ceil(trainer.state.epoch or 0)),
        global_step=int(trainer.state.global_step),
        train_seconds=seconds,
        log_history=history,
        resumed_from=last,
    )


# ----------------------------------------------------------------------------- prediction
@dataclass
class Predictions:
    """Per-item model outputs (float32, dataset order)."""

    logits: np.ndarray
    embeddings: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        """Softmax of the logits (float32)."""
        return softmax(self.logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable row softmax in float32."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    collate_fn: Callable | None = None,
    bf16: bool | None = None,
    prefetch_factor: int | None = None,
) -> Predictions:
    """Run ``model`` over ``dataset`` (eval mode, no labels passed) and collect ``logits`` and
    ``embeddings`` as float32 arrays in dataset order. ``device`` defaults to the model's;
    ``bf16`` (default: on CUDA when supported) runs the forward under bf16 autocast."""
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    if bf16 is None:
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    was_training = model.training
    model.eval()
    model.to(device)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_fn or default_collate,
        pin_memory=device.type == "cuda",
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
    )
    logits, embs = [], []
    for batch in loader:
        batch = {k: v for k, v in batch.items() if k != "labels"}
        batch = _to_device(batch, device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bool(bf16)):
            out = model(**batch)
        logits.append(out["logits"].float().cpu().numpy())
        embs.append(out["embeddings"].float().cpu().numpy())
    model.train(was_training)
    if not logits:
        return Predictions(np.zeros((0, N_CLASSES), np.float32), np.zeros((0, 0), np.float32))
    return Predictions(np.concatenate(logits).astype(np.float32), np.concatenate(embs).astype(np.float32))


def mean_by_object(
    object_ids: Sequence[str], labels: Sequence[int], probs: np.ndarray, embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate per-sample rows that share an object id (e.g. ATAT windows): mean of the
    probabilities and of the embeddings per object, in order of first appearance.

    Raises ``ValueError`` if one object id carries two different labels.
    """
    ids = np.asarray(object_ids).astype(str)
    y = np.asarray(labels, dtype=np.int64)
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # first-appearance order
    n = len(uniq)
    counts = np.bincount(inverse, minlength=n).astype(np.float64)
    p = np.zeros((n, probs.shape[1]), np.float64)
    np.add.at(p, inverse, probs)
    e = np.zeros((n, embeddings.shape[1]), np.float64)
    np.add.at(e, inverse, embeddings)
    lab = y[first]
    if not np.array_equal(lab[inverse], y):
        bad = ids[lab[inverse] != y][:3]
        raise ValueError(f"samples of the same object carry different labels: {list(bad)}")
    p /= counts[:, None]
    e /= counts[:, None]
    return uniq[order], lab[order], p[order].astype(np.float32), e[order].astype(np.float32)


def save_fold_outputs(
    fold_dir: str | Path,
    split: str,
    object_ids: Sequence[str],
    labels: Sequence[int],
    probs: np.ndarray,
    embeddings: np.ndarray,
) -> None:
    """Write ``predictions_<split>.parquet`` and ``embeddings_<split>.parquet`` (contract format)."""
    artifacts.save_predictions(fold_dir, split, object_ids, labels, probs)
    artifacts.save_embeddings(fold_dir, split, object_ids, embeddings)


# ----------------------------------------------------------------------------- one fold
@dataclass
class PredictSet:
    """A split to predict after training: the dataset and, per item, object id and label."""

    dataset: torch.utils.data.Dataset
    object_ids: Sequence[str]
    labels: Sequence[int]


def _dist_state():
    from accelerate import PartialState

    return PartialState()


def _save_weights(model: nn.Module, path: Path) -> None:
    import safetensors.torch

    # save_model de-duplicates shared tensors (tied weights) instead of failing on them
    safetensors.torch.save_model(model, str(path), metadata={"format": "pt"})


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load ``model.safetensors`` written by :func:`run_fold` into ``model`` (strict)."""
    import safetensors.torch

    safetensors.torch.load_model(model, str(path), strict=True)  # raises on missing/unexpected keys
    return model


def run_fold(
    fold_dir: str | Path,
    run_config: dict[str, Any],
    model_factory: Callable[[], nn.Module],
    train_dataset: torch.utils.data.Dataset,
    val_dataset: torch.utils.data.Dataset,
    train_labels: Sequence[int],
    predict_sets: Mapping[str, PredictSet],
    settings: TrainSettings,
    *,
    force: bool = False,
    aggregate: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] | None = None,
    callbacks: Iterable[TrainerCallback] = (),
    data_collator: Callable | None = None,
    log_prefix: str = "",
) -> dict[str, Any]:
    """Train, predict and save one fold of one model (the contract's artifact layout).

    Steps: (1) if ``COMPLETE`` holds ``config_hash(run_config)`` and not ``force``: return the
    saved metrics (``skipped=True``); (2) a fold directory of another config (or ``force``) is
    wiped; (3) ``model_factory()`` is called after seeding (deterministic init); (4)
    :func:`fit`, resuming from ``fold_dir/checkpoints`` after an interruption — or, if the
    best weights of this config were already saved (``TRAINED``), they are loaded instead;
    (5) predictions and embeddings of every split in ``predict_sets`` (``"train"``, ``"val"``,
    ``"test"``), passed through ``aggregate(object_ids, labels, probs, embeddings)`` when given
    (e.g. :func:`mean_by_object` for ATAT windows); (6) ``metrics.json``, ``train_log.json``;
    checkpoints deleted; ``COMPLETE`` written last. Only the main process writes.

    Returns the metrics dict (``val_macro_f1``, ``test_macro_f1``, ``best_epoch``,
    ``epochs_run``, ``train_seconds``, ``resumed_from``, ``skipped``).
    """
    from transformers import set_seed

    fold_dir = Path(fold_dir)
    state = _dist_state()
    h = artifacts.config_hash(run_config)
    if not force and artifacts.is_complete(fold_dir, h):
        metrics = artifacts.read_json(fold_dir / artifacts.METRICS_FILE)
        return {**metrics, "skipped": True}
    if state.is_main_process:
        cfg_file = fold_dir / artifacts.CONFIG_FILE
        stale = force or (
            fold_dir.exists() and (not cfg_file.exists() or artifacts.config_hash(artifacts.read_json(cfg_file)) != h)
        )
        if stale and fold_dir.exists():
            shutil.rmtree(fold_dir)
        fold_dir.mkdir(parents=True, exist_ok=True)
        artifacts.clear_complete(fold_dir)
        artifacts.write_config(fold_dir, run_config)
    state.wait_for_everyone()

    if settings.torch_threads:
        torch.set_num_threads(int(settings.torch_threads))
    set_seed(int(settings.seed))
    model = compile_model(model_factory(), settings)
    weights = fold_dir / artifacts.WEIGHTS_FILE
    trained_marker = fold_dir / TRAINED_FILE
    prev = _read_trained_marker(trained_marker)
    if prev is not None and prev.get("config_hash") == h and weights.exists():
        # trained before an interruption during prediction: reuse the saved best weights
        load_weights(model, weights)
        history = artifacts.read_json(fold_dir / artifacts.TRAIN_LOG_FILE)
        best_epoch, epochs_run, seconds = prev["best_epoch"], prev["epochs_run"], prev["train_seconds"]
        resumed_from = TRAINED_FILE
    else:
        res = fit(
            model,
            train_dataset,
            val_dataset,
            train_labels,
            fold_dir / CHECKPOINT_DIR,
            settings,
            callbacks=callbacks,
            data_collator=data_collator,
            log_prefix=log_prefix,
        )
        model = res.model
        history, best_epoch, epochs_run, seconds = res.log_history, res.best_epoch, res.epochs_run, res.train_seconds
        resumed_from = Path(res.resumed_from).name if res.resumed_from else None
        if state.is_main_process:
            _save_weights(_unwrap(model), weights)
            artifacts.write_json(fold_dir / artifacts.TRAIN_LOG_FILE, history)
            artifacts.write_json(
                trained_marker,
                {"config_hash": h, "best_epoch": best_epoch, "epochs_run": epochs_run, "train_seconds": seconds},
            )
    state.wait_for_everyone()

    metrics: dict[str, Any] = {
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "train_seconds": round(float(seconds), 3),
        "resumed_from": resumed_from,  # None, a checkpoint name, or TRAINED (weights saved, predictions not)
    }
    if state.is_main_process:
        model = _unwrap(model)
        device = settings.resolved_device()
        t0 = time.perf_counter()
        for split, ps in predict_sets.items():
            pred = predict(
                model,
                ps.dataset,
                batch_size=int(settings.eval_batch_size or settings.batch_size),
                device=device,
                num_workers=int(settings.num_workers),
                collate_fn=data_collator,
                bf16=settings.use_bf16(),
                prefetch_factor=settings.prefetch_factor,
            )
            ids, y, probs, emb = np.asarray(ps.object_ids), np.asarray(ps.labels, dtype=np.int64), pred.probs, pred.embeddings
            if aggregate is not None:
                ids, y, probs, emb = aggregate(ids, y, probs, emb)
            save_fold_outputs(fold_dir, split, ids, y, probs, emb)
            metrics[f"{split}_macro_f1"] = artifacts.macro_f1(y, probs.argmax(axis=1))
        metrics["predict_seconds"] = round(time.perf_counter() - t0, 3)
        artifacts.write_json(fold_dir / artifacts.METRICS_FILE, metrics)
        shutil.rmtree(fold_dir / CHECKPOINT_DIR, ignore_errors=True)
        trained_marker.unlink(missing_ok=True)
        artifacts.write_complete(fold_dir, h)
    state.wait_for_everyone()
    if not state.is_main_process:
        metrics = artifacts.read_json(fold_dir / artifacts.METRICS_FILE)
    return {**metrics, "skipped": False}


def _read_trained_marker(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return artifacts.read_json(path)
    except ValueError:  # a truncated marker: ignore it, retrain
        return None


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


# ----------------------------------------------------------------------------- SwinV2 driver
def data_fingerprint(dataset: Any) -> str:
    """A short hash identifying a data set for skip-if-complete: its splits (object ids,
    labels, folds) and the manifest counts (or the number of light-curve rows)."""
    import pandas as pd

    splits = dataset.splits
    if splits is None:
        raise ValueError("the data set has no splits; build it with mslc_utils.data.get_dataset(ctx)")
    s = splits[["object_id", "label", "fold"]].astype({"object_id": str, "label": str, "fold": int})
    s = s.sort_values("object_id", kind="stable")
    man = dict(dataset.manifest or {})
    counts = {k: man.get(k) for k in ("n_objects", "n_epochs", "per_survey")} if man else {"rows": len(dataset.lightcurves)}
    h = pd.util.hash_pandas_object(s, index=False).to_numpy()
    return artifacts.config_hash({"splits": h.tolist(), "counts": counts})


_VIEW_CACHE: dict[tuple, dict[str, Any]] = {}


def clear_image_cache() -> None:
    """Forget the per-view datasets and images kept in this process (see :func:`view_source`)."""
    _VIEW_CACHE.clear()


def _view_key(ctx: Any, dataset: Any, view: str) -> tuple:
    return (str(ctx.out_dir), view, artifacts.config_hash(ctx.section("render")), data_fingerprint(dataset))


def view_source(ctx: Any, dataset: Any, view: str, preload: bool, verbose: bool = True) -> dict[str, Any]:
    """The images of one view for every object of the splits, built once per process.

    Returns ``{"ids": [...], "position": {id: row}, "dataset": LightCurveImageDataset}`` and,
    when ``preload``, ``"arrays"``: ``{"pixel_values": uint8 N×3×H×W}`` (views ``"ZTF"``,
    ``"ATLAS"``, ``"stacked"``) or ``{"pixel_values_ztf", "pixel_values_atlas", "has_ztf",
    "has_atlas"}`` (``"multi"``), rendered once with :func:`mslc_utils.image_dataset.render_batch`
    so that epochs and folds never re-render. Rendering uses the profile's ``render``
    section; with ``render.cache`` the renderer's on-disk cache lives in
    ``OUT_DIR/image_cache`` (shared by notebooks and runs).
    """
    from .image_dataset import LightCurveImageDataset, render_batch
    from .render import RenderSettings
    from .taxonomy import label_to_index

    key = _view_key(ctx, dataset, view)
    src = _VIEW_CACHE.get(key)
    if src is None:
        render = ctx.section("render")
        ids = dataset.splits["object_id"].astype(str).tolist()
        labels = label_to_index(dataset.splits["label"].astype(str).tolist())
        cache_dir = ctx.out_dir / "image_cache" if render.get("cache", False) else None
        full = LightCurveImageDataset(
            dataset.lightcurves, ids, labels, view=view, settings=RenderSettings.from_config(render), cache_dir=cache_dir
        )
        src = {"ids": ids, "position": {o: i for i, o in enumerate(ids)}, "dataset": full}
        _VIEW_CACHE[key] = src
    if preload and "arrays" not in src:
        t0 = time.perf_counter()
        imgs = render_batch(src["dataset"], n_jobs=-1, progress=False)
        if view == "multi":  # N×2×H×W×3: ZTF then ATLAS
            arrays = {
                "pixel_values_ztf": np.ascontiguousarray(imgs[:, 0].transpose(0, 3, 1, 2)),
                "pixel_values_atlas": np.ascontiguousarray(imgs[:, 1].transpose(0, 3, 1, 2)),
                "has_ztf": np.asarray(src["dataset"].has_ztf, dtype=bool),
                "has_atlas": np.asarray(src["dataset"].has_atlas, dtype=bool),
            }
        else:
            arrays = {"pixel_values": np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))}
        src["arrays"] = arrays
        if verbose:
            print(f"rendered {len(imgs)} {view} images in {time.perf_counter() - t0:.1f} s", flush=True)
    return src


def prerender_view(ctx: Any, dataset: Any, view: str, verbose: bool = True) -> int:
    """Render every image of ``view`` that ``OUT_DIR/image_cache`` lacks, once per process,
    in parallel over all cores (:func:`mslc_utils.image_dataset.fill_cache`), so that no
    epoch waits for the renderer: the data-loader workers then only read ``.npy`` files.
    Under ``torchrun`` the main process renders and the others wait. Returns the number of
    images rendered here (0 without ``render.cache``, or when the cache was complete)."""
    from .image_dataset import fill_cache

    src = view_source(ctx, dataset, view, preload=False, verbose=verbose)
    if src.get("cache_filled") or src["dataset"].cache is None:
        return 0
    state = _dist_state()
    rendered = 0
    if state.is_main_process:
        t0 = time.perf_counter()
        rendered = fill_cache(src["dataset"], n_jobs=-1)
        if verbose and rendered:
            print(f"rendered {rendered} {view} images into the image cache in {time.perf_counter() - t0:.1f} s", flush=True)
    state.wait_for_everyone()
    src["cache_filled"] = True
    return rendered


def _fold_sets(ctx: Any, dataset: Any, view: str, part: Any, preload: bool, verbose: bool) -> dict[str, PredictSet]:
    src = view_source(ctx, dataset, view, preload, verbose)
    full_labels = src["dataset"].labels
    sets = {}
    for split, ids in (("train", part.train), ("val", part.val), ("test", part.test)):
        ids = [str(i) for i in ids]
        try:
            idx = np.array([src["position"][o] for o in ids], dtype=np.int64)
        except KeyError as err:
            raise KeyError(f"object {err.args[0]!r} of the fold is not in the data set's splits") from None
        y = full_labels[idx]
        if preload:
            ds: torch.utils.data.Dataset = ArrayDataset({k: v[idx] for k, v in src["arrays"].items()}, y)
        else:
            ds = torch.utils.data.Subset(src["dataset"], idx.tolist())
        sets[split] = PredictSet(ds, ids, y)
    return sets


def train_model_folds(
    ctx: Any,
    dataset: Any,
    model_id: str,
    folds: Iterable[int] | None = None,
    force: bool = False,
    verbose: bool = True,
    epoch_log: bool = False,
) -> "Any":
    """Train one SwinV2 model of the paper (rows 3–7) on every fold and save its artifacts.

    Parameters
    ----------
    ctx
        The :class:`~mslc_utils.config.RunContext` (sections ``swin``, ``training``, ``render``).
    dataset
        :class:`~mslc_utils.schema.Dataset` with splits (``mslc_utils.data.get_dataset(ctx)``).
    model_id
        ``swin_ztf``, ``swin_atlas``, ``swin_stacked``, ``ms_swin_linear`` or ``ms_swin_mlp``.
    folds
        Folds to run (default: all).
    force
        Retrain folds that are already complete with the same configuration.
    verbose
        Print one line per fold (validation and test macro-F1, epochs, time).
    epoch_log
        Also print one line per epoch (training loss, validation loss and macro-F1).

    Returns
    -------
    DataFrame, one row per fold: ``model_id``, ``fold``, ``val_macro_f1``, ``test_macro_f1``,
    ``best_epoch``, ``epochs_run``, ``train_seconds``, ``skipped``.

    Images: with ``training.preload_images`` true (quick profile) each view is rendered once
    into memory and shared by all folds and models of the process; otherwise read by the
    data loader workers (``training.num_workers``) from the disk cache (``render.cache``) in
    ``OUT_DIR/image_cache``, which :func:`prerender_view` fills in parallel before the first
    fold that trains (``training.prerender_images``, default true; false: rendered on the fly).
    """
    import pandas as pd

    from .models import build_model, model_spec
    from .splits import fold_partition, n_folds_of

    spec = model_spec(model_id)
    swin, training, render = ctx.section("swin"), ctx.section("training"), ctx.section("render")
    n_proc = _dist_state().num_processes  # > 1 under torchrun: each process takes its share of a batch
    settings = TrainSettings.from_config(
        training, seed=ctx.seed, device=ctx.device, verbose=epoch_log,
        batch_size=per_process_batch(int(training["batch_size"]), n_proc),
    )
    preload = bool(training.get("preload_images", False))
    prerender = not preload and bool(training.get("prerender_images", True))
    base = {
        "model_id": model_id,
        "paper_row": spec.paper_row,
        "view": spec.view,
        "profile": ctx.profile,
        "seed": ctx.seed,
        "swin": swin,
        "training": training,
        "render": render,
        "data": data_fingerprint(dataset),
    }
    folds = list(range(n_folds_of(dataset.splits))) if folds is None else [int(k) for k in folds]
    rows = []
    for k in folds:
        run_config = {**base, "fold": k}
        fd = artifacts.fold_dir(ctx.out_dir, model_id, k)
        if not force and artifacts.is_complete(fd, artifacts.config_hash(run_config)):
            metrics = {**artifacts.read_json(fd / artifacts.METRICS_FILE), "skipped": True}
        else:
            if prerender:
                prerender_view(ctx, dataset, spec.view, verbose)
            sets = _fold_sets(ctx, dataset, spec.view, fold_partition(dataset.splits, k), preload, verbose)
            metrics = run_fold(
                fd,
                run_config,
                lambda: build_model(model_id, swin, training),
                sets["train"].dataset,
                sets["val"].dataset,
                sets["train"].labels,
                sets,
                settings,
                force=force,
                log_prefix=f"{model_id} fold {k}: ",
            )
        if verbose:
            status = "skipped (complete)" if metrics.get("skipped") else f"{metrics.get('train_seconds', 0):.0f} s"
            print(
                f"{model_id} fold {k}: val macro-F1 {metrics['val_macro_f1']:.3f}, "
                f"test macro-F1 {metrics['test_macro_f1']:.3f}, best epoch {metrics.get('best_epoch')} "
                f"of {metrics.get('epochs_run')} [{status}]",
                flush=True,
            )
        rows.append({"model_id": model_id, "fold": k, **{m: metrics.get(m) for m in (
            "val_macro_f1", "test_macro_f1", "best_epoch", "epochs_run", "train_seconds", "skipped")}})
    return pd.DataFrame(rows)
