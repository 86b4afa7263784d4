"""The "Python (mslc)" kernel spec: in the environment, idempotent, safe under concurrent runs."""

from __future__ import annotations

import json
import sys
import threading

from jupyter_client.kernelspec import KernelSpecManager

from mslc_utils.kernel import DISPLAY_NAME, KERNEL_NAME, ensure_kernel, kernels_dir


def test_spec_is_written_under_the_prefix_and_found_through_jupyter_path(tmp_path, monkeypatch) -> None:
    path = ensure_kernel(prefix=tmp_path)
    assert path == tmp_path / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    spec = json.loads(path.read_text())
    assert spec["argv"][0] == sys.executable
    assert spec["display_name"] == DISPLAY_NAME
    # what run_all.sh does: this environment's share/jupyter first on JUPYTER_PATH
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    found = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert found.resource_dir == str(path.parent)
    assert found.argv[0] == sys.executable


def test_an_up_to_date_spec_is_left_untouched_and_a_stale_one_replaced(tmp_path) -> None:
    path = ensure_kernel(prefix=tmp_path)
    before = path.stat()
    assert ensure_kernel(prefix=tmp_path) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    stale = json.loads(path.read_text())
    stale["argv"][0] = "/another/clone/.venv/bin/python"
    path.write_text(json.dumps(stale))
    ensure_kernel(prefix=tmp_path)
    assert json.loads(path.read_text())["argv"][0] == sys.executable
    # no temporary files left beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["kernel.json"]


def test_concurrent_installs_never_expose_a_missing_or_partial_spec(tmp_path) -> None:
    """Two run_all.sh starting at once used to race in `ipykernel install` (rmtree + copy)."""
    path = ensure_kernel(prefix=tmp_path)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                json.loads(path.read_text())
            except BaseException as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)
                return

    def writer(i: int) -> None:
        try:
            for j in range(50):
                # alternate two interpreters so that every call really rewrites the file
                ensure_kernel(prefix=tmp_path, python=f"/python-{(i + j) % 2}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["argv"][0] in {"/python-0", "/python-1"}
    assert sorted(p.name for p in kernels_dir(tmp_path).joinpath(KERNEL_NAME).iterdir()) == ["kernel.json"]
