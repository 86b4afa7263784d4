"""Train the folds of several models in worker processes, one fold per worker at a time.

Notebooks 03 and 05 call :func:`train_models` with the models of their table rows. With
``training.fold_workers`` = 1 (the paper profile, and any GPU run) it trains the models one
after the other in the notebook's own process, exactly as
:func:`mslc_utils.atat.train_atat_folds` and :func:`mslc_utils.training.train_model_folds`
do when called directly. With ``fold_workers`` = N > 1 on the CPU (the quick profile: 2) the
(model, fold) jobs are shared among N worker processes, each with ``cores / N`` torch threads.

Why: the quick profile's models are small (a 0.2 M-parameter SwinV2 at 64 px, ATAT with
d = 32 and 8-wide attention heads), and a small model does not keep two cores busy: on the
project's 2-core machines one training process with 2 threads is only ~1.2-1.5x faster than
with 1 thread, while two 1-thread processes side by side get ~1.3-1.6x the throughput of one
2-thread process (``benchmarks/bench_parallel_folds.py`` measures it). Training the folds side by side is
the cheapest way to fit a quick run in its 15-minute budget.

What does not change: every fold is trained by the same function with the same seed
(``run_fold`` seeds itself), so its result does not depend on which worker ran it, in
which order, or what ran beside it; finished folds are skipped and an interrupted fold
resumes, as before. What does change is the number of torch threads a fold runs with,
which changes the last bits of its arithmetic (as any other thread count does:
``docs/determinism.md``). ``training.fold_workers`` is in the ``training`` section that every
SwinV2 fold hashes, so changing it retrains those folds; ATAT folds hash the ``atat`` section
only and are kept (their results differ only in those last bits).

Worker processes are started with ``spawn`` (never ``fork``: a forked child of a process
whose OpenMP threads are running can hang). Each worker loads the run's data set once from
its cache (``OUT_DIR/data`` or ``DATA_DIR/canonical``, written by notebook 01) and renders
the image views it needs once. A worker's printed progress goes to one log file per fold;
when every job is done the fold logs are joined, in fold order, into the model's log
``OUT_DIR/logs/<model>.log`` (the file a serial run writes), so nothing in a notebook's
output depends on which job finished first. A worker ends itself when the process that started
it dies (:func:`exit_with_parent`), so killing a kernel leaves no fold training behind.

Worker processes are started with ``spawn``: a script that calls :func:`train_models` must do
so under ``if __name__ == "__main__":`` (a notebook kernel needs nothing).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

#: relative cost of one fold of each kind of model on the CPU in the quick profile (ATAT's
#: attention over its windows of observations dominates; MS-SwinV2 sees two images an object).
#: Used only to start the longest jobs first, so that the workers finish together.
JOB_COST: dict[str, float] = {"atat": 4.0, "ms_swin": 2.0, "swin": 1.0}


def _kind(model_id: str) -> str:
    if model_id.startswith("atat_"):
        return "atat"
    return "ms_swin" if model_id.startswith("ms_swin") else "swin"


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def fold_workers(ctx: Any) -> int:
    """Worker processes for a run: ``training.fold_workers`` (default 1), at most one per
    core, and 1 on a GPU (one device: folds side by side would only compete for it)."""
    n = ctx.section("training").get("fold_workers")
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"training.fold_workers must be a positive integer or null, got {n!r}")
    if ctx.device != "cpu":
        return 1
    return min(n, available_cores())


def worker_threads(ctx: Any, workers: int | None = None) -> int | None:
    """torch threads of one fold: ``training.torch_threads`` if set, else ``cores / workers``
    when folds run side by side (``None``, torch's default, for a serial run)."""
    training = ctx.section("training")
    workers = fold_workers(ctx) if workers is None else workers
    if training.get("torch_threads"):
        return int(training["torch_threads"])
    return max(1, available_cores() // workers) if workers > 1 else None


def _model_folds(dataset: Any, folds: Iterable[int] | None) -> list[int]:
    from .splits import n_folds_of

    return list(range(n_folds_of(dataset.splits))) if folds is None else [int(k) for k in folds]


def _train_one(ctx: Any, dataset: Any, model_id: str, folds: Sequence[int] | None, force: bool) -> pd.DataFrame:
    """The folds of one model in this process (the serial path, and one job of a worker)."""
    from .atat import ATAT_MODEL_IDS, train_atat_folds
    from .training import train_model_folds

    surveys = {v: k for k, v in ATAT_MODEL_IDS.items()}
    if model_id in surveys:
        return train_atat_folds(ctx, dataset, surveys[model_id], folds=folds, force=force)
    return train_model_folds(ctx, dataset, model_id, folds=folds, force=force)


def _check_model_ids(model_ids: Sequence[str]) -> None:
    from .atat import ATAT_MODEL_IDS
    from .models import SWIN_MODEL_IDS

    known = list(ATAT_MODEL_IDS.values()) + list(SWIN_MODEL_IDS)
    unknown = [m for m in model_ids if m not in known]
    if unknown:
        raise ValueError(f"unknown model id(s) {unknown}; known: {', '.join(known)}")


# ----------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> threading.Thread:
    """Start a daemon thread that ends this process as soon as ``parent_pid`` is gone.

    A worker whose notebook kernel is killed (a kernel restart, ``kill -9``) would otherwise
    train its fold to the end as an orphan, beside the next run that resumes the same fold.
    """
    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:  # re-parented: the parent process has died
                os._exit(3)

    t = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    t.start()
    return t


def _init_worker(ctx: Any, threads: int, parent_pid: int) -> None:
    exit_with_parent(parent_pid)
    # before torch is imported in this fresh (spawned) process: OpenMP reads it at start-up
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    from .data import get_dataset

    torch.set_num_threads(threads)
    _WORKER["ctx"] = ctx
    _WORKER["dataset"] = get_dataset(ctx)


def _run_job(model_id: str, fold: int, force: bool, log_path: str) -> dict[str, Any]:
    ctx, dataset = _WORKER["ctx"], _WORKER["dataset"]
    t0 = time.perf_counter()
    with open(log_path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        df = _train_one(ctx, dataset, model_id, [fold], force)
    row = df.iloc[0].to_dict()
    row.setdefault("model_id", model_id)
    row["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return row


def _fold_log(log_dir: Path, model_id: str, fold: int) -> Path:
    return log_dir / f"{model_id}.fold{fold}.log"


def train_models(
    ctx: Any,
    dataset: Any,
    model_ids: Sequence[str],
    *,
    folds: Iterable[int] | None = None,
    force: bool = False,
    workers: int | None = None,
    log_dir: str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Train every fold of ``model_ids`` (ATAT ``atat_ztf``/``atat_atlas`` and SwinV2 ids).

    Parameters
    ----------
    ctx, dataset
        The run context (:func:`mslc_utils.config.setup`) and its data set with splits.
    model_ids
        Models in the order of the returned dict.
    folds
        Folds to train (default: all).
    force
        Retrain folds that are already complete.
    workers
        Worker processes (default :func:`fold_workers`: ``training.fold_workers``).
    log_dir
        Where each model's progress log ``<model>.log`` goes (default ``OUT_DIR/logs``).

    Returns
    -------
    ``{model_id: DataFrame}``, one row per fold in fold order — what
    :func:`~mslc_utils.atat.train_atat_folds` / :func:`~mslc_utils.training.train_model_folds`
    return.
    """
    _check_model_ids(model_ids)
    log_dir = Path(log_dir) if log_dir is not None else ctx.out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = fold_workers(ctx) if workers is None else int(workers)
    fold_list = _model_folds(dataset, folds)
    if workers <= 1:
        out = {}
        for m in model_ids:
            with open(log_dir / f"{m}.log", "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                out[m] = _train_one(ctx, dataset, m, fold_list, force)
        return out

    jobs = [(m, k) for m in model_ids for k in fold_list]
    jobs.sort(key=lambda j: -JOB_COST[_kind(j[0])])  # stable: model order, then fold order
    threads = worker_threads(ctx, workers) or 1
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(ctx, threads, os.getpid())) as pool:
        futures = {pool.submit(_run_job, m, k, force, str(_fold_log(log_dir, m, k))): (m, k) for m, k in jobs}
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            err = fut.exception()
            if err is not None:
                for f in futures:
                    f.cancel()
                m, k = futures[fut]
                raise RuntimeError(
                    f"{m} fold {k} failed in a worker process: {err!r} (its log: {_fold_log(log_dir, m, k)})"
                ) from err
        for fut, key in futures.items():
            rows[key] = fut.result()
    out = {}
    for m in model_ids:
        parts = []
        for k in fold_list:
            p = _fold_log(log_dir, m, k)
            parts.append(p.read_text() if p.exists() else "")
            p.unlink(missing_ok=True)
        (log_dir / f"{m}.log").write_text("".join(parts))
        out[m] = pd.DataFrame([rows[(m, k)] for k in fold_list])
    return out


def echo_log_events(log_path: str | Path, pattern: str | None = None) -> list[str]:
    """Lines of a progress log that say a fold was skipped, resumed or restarted
    (:data:`mslc_utils.report.EVENT_LINES`), for a notebook to print."""
    import re

    from .report import EVENT_LINES

    path = Path(log_path)
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if re.search(pattern or EVENT_LINES, line)]


def summary_lines(scores: Mapping[str, pd.DataFrame]) -> list[str]:
    """One line per model: its description and how many folds ran now or were loaded."""
    from .report import fold_status
    from .results import MODEL_ROWS

    return [f"{MODEL_ROWS[m].description if m in MODEL_ROWS else m} — {fold_status(df)}" for m, df in scores.items()]
