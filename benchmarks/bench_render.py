"""Throughput of the light-curve image renderers, fast vs reference (Matplotlib), one core.

Usage::

    python benchmarks/bench_render.py            # prints the figures
    python benchmarks/bench_render.py --check    # exit 1 if a goal is missed

What is measured: rendering a 256x256 Overlay image of a two-band (ZTF g + r) light curve of
about 950 epochs from arrays (what the training Dataset does; no pandas in the loop). The
light curves are simulated (``mslc_utils.simulate``): the ``--n-curves`` ZTF light curves of
the embedded data set whose length is closest to ``--points``, drawn round-robin. Each
renderer runs ``--repeats`` timed runs after a warm-up (the numba compilation is timed
separately); the figure reported is the median over runs. Both renderers run in the same
process, pinned to one CPU, with every thread pool limited to one thread.

Goals (issue 4): fast >= 800 images/s, and >= 25x the reference.
"""
from __future__ import annotations

import os

# one thread everywhere, set before numpy / numba are imported
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

GOAL_FAST_IMG_S = 800.0
GOAL_RATIO = 25.0


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_idle_ticks() -> dict[int, int]:
    ticks = {}
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                ticks[int(name[3:])] = int(vals[3]) + int(vals[4])  # idle + iowait
    return ticks


def pin_one_cpu() -> str:
    """Pin this process to one CPU, the idlest over 0.5 s (Linux); return a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[0]
    try:
        t0 = _cpu_idle_ticks()
        time.sleep(0.5)
        t1 = _cpu_idle_ticks()
        cpu = max(cpus, key=lambda c: t1.get(c, 0) - t0.get(c, 0))
    except (OSError, ValueError, IndexError):
        pass
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu} (the idlest of {len(cpus)} allowed)"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def time_runs(fn, items, n_per_run: int, repeats: int) -> list[float]:
    """Images per second of ``fn(item)`` over ``repeats`` runs of ``n_per_run`` calls."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n_per_run):
            fn(items[i % len(items)])
        rates.append(n_per_run / (time.perf_counter() - t0))
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=950, help="target epochs per light curve (both bands)")
    ap.add_argument("--n-curves", type=int, default=5, help="light curves drawn round-robin")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per renderer")
    ap.add_argument("--fast-per-run", type=int, default=500, help="images per timed run, fast renderer")
    ap.add_argument("--ref-per-run", type=int, default=20, help="images per timed run, reference renderer")
    ap.add_argument("--size", type=int, default=256, help="image size in pixels")
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = ap.parse_args(argv)

    pinned = pin_one_cpu()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass

    import matplotlib
    import numba

    from mslc_utils import render
    from mslc_utils.simulate import simulate_dataset

    settings = render.RenderSettings(image_size=args.size)
    lc, objects = simulate_dataset(63, seed=0, min_per_class=3)
    ztf = lc[lc["survey"] == "ZTF"]
    sizes = ztf.groupby("object_id").size()
    chosen = (sizes - args.points).abs().sort_values(kind="stable").index[: args.n_curves]
    labels = objects.set_index("object_id")["label"]
    items = []
    for oid in chosen:
        items.append(render.table_to_band_data(ztf[ztf["object_id"] == oid], ("g", "r")))

    print("== render benchmark ==")
    print(f"machine : {cpu_model()}, {os.cpu_count()} logical CPUs; {pinned}; load average {load_average()}")
    print(
        f"software: Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"matplotlib {matplotlib.__version__}"
    )
    print(f"images  : {args.size}x{args.size}x3, ZTF g+r light curves:")
    for oid in chosen:
        print(f"          {oid} ({labels[oid]}, {int(sizes[oid])} epochs)")

    t0 = time.perf_counter()
    render.render_fast(items[0], settings)  # numba compilation (or cache load)
    compile_s = time.perf_counter() - t0
    for it in items:
        render.render_fast(it, settings)
        render.render_reference(it, settings)

    fast = time_runs(lambda it: render.render_fast(it, settings), items, args.fast_per_run, args.repeats)
    ref = time_runs(lambda it: render.render_reference(it, settings), items, args.ref_per_run, args.repeats)
    fast_med, ref_med = statistics.median(fast), statistics.median(ref)
    ratio = fast_med / ref_med

    per_curve = []
    for oid, it in zip(chosen, items):
        r = statistics.median(time_runs(lambda x: render.render_fast(x, settings), [it], 200, 3))
        per_curve.append((oid, r))
    diffs = [render.image_difference(render.render_reference(it, settings), render.render_fast(it, settings)) for it in items]

    print(f"first call (compile or cache load): {compile_s:.2f} s")
    print(f"fast      : {fast_med:8.1f} img/s  (median of {args.repeats} runs x {args.fast_per_run}; "
          f"min {min(fast):.1f}, max {max(fast):.1f})")
    print(f"reference : {ref_med:8.1f} img/s  (median of {args.repeats} runs x {args.ref_per_run}; "
          f"min {min(ref):.1f}, max {max(ref):.1f})")
    print(f"ratio     : {ratio:8.1f} x")
    print("fast per light curve: " + ", ".join(f"{oid} {r:.0f} img/s" for oid, r in per_curve))
    print(
        "fidelity on these curves: mean |diff| "
        + ", ".join(f"{m:.3f}" for m, _ in diffs)
        + "; fraction > 32: "
        + ", ".join(f"{f:.5f}" for _, f in diffs)
    )
    ok_speed = fast_med >= GOAL_FAST_IMG_S
    ok_ratio = ratio >= GOAL_RATIO
    print(
        f"goals     : fast >= {GOAL_FAST_IMG_S:.0f} img/s: {'met' if ok_speed else 'MISSED'}; "
        f"ratio >= {GOAL_RATIO:.0f}x: {'met' if ok_ratio else 'MISSED'}"
    )
    if args.check and not (ok_speed and ok_ratio):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
