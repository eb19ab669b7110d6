"""One writer per output folder: a second run on the same --out exits at once naming the folder and the
holding process; the lock of a dead process is taken over."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from kan_core.cli import cli
from kan_core.locks import FolderBusyError, folder_lock, lock_path

HOLD = """
import sys, time
from kan_core.locks import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path, subprocess_env):
    """Another process holding the lock of tmp_path/zoo; yields (folder, its pid)."""
    folder = tmp_path / "zoo"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True,
                            env=subprocess_env)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "held"
        yield folder, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_second_run_on_the_same_out_exits_at_once(holder):
    folder, pid = holder
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["zoo", "build", "sine-cpu", "--models", "2", "--epochs", "1", "--out", str(folder)])
    assert time.perf_counter() - t0 < 10
    assert res.exit_code == 2
    host = os.uname().nodename
    assert (
        f"Error: Invalid value for --out: {folder} is in use by another run (PID {pid} on {host}); "
        "wait for it to finish or use another folder"
    ) in res.output
    assert not (folder / "manifest.json").exists()


def test_two_processes_on_one_out_one_wins(tmp_path, subprocess_env):
    """Two real `kan zoo build` processes started together on one --out: exactly one builds, the other
    is refused naming the folder."""
    out = tmp_path / "zoo"
    cmd = [sys.executable, "-c", "from kan_core.cli import main; main()", "zoo", "build", "sine-cpu",
           "--models", "8", "--epochs", "40", "--device", "cpu", "-q", "--out", str(out)]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env)
             for _ in range(2)]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert f"{out} is in use by another run (PID " in refused
    assert (out / "manifest.json").is_file()


def test_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    folder = tmp_path / "run"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(folder).write_text(f"{dead.pid} somehost\n")  # left behind by a killed run
    caplog.set_level("INFO", logger="kan")
    with folder_lock(folder) as path:
        assert path.read_text().split()[0] == str(os.getpid())
    assert f"took over the lock of process {dead.pid}, which no longer runs" in caplog.text
    assert not lock_path(folder).exists()  # released and removed


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    with folder_lock(tmp_path / "x"):
        with pytest.raises(FolderBusyError, match=r"x is in use by another run \(PID \d+ on "):
            with folder_lock(tmp_path / "x"):
                pass
    with folder_lock(tmp_path / "x"):  # free again
        pass
