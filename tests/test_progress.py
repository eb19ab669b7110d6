"""Progress of every command through one mechanism (kan_core.progress): with output redirected (no
terminal) a line per epoch/model/stage with elapsed time and an ETA, the projected total after the first
unit, a bounded rate, --log-file, --quiet."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from kan_core.cli import cli
from kan_core.progress import Progress, configure_logging, format_seconds, reset_logging

ETA = re.compile(r"\| \d+:\d\d:\d\d elapsed, ETA \d+:\d\d:\d\d$")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def captured(caplog):
    caplog.set_level("INFO", logger="kan")
    yield caplog
    reset_logging()


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("kan")]


def test_format_seconds():
    assert format_seconds(0) == "0:00:00"
    assert format_seconds(3725.4) == "1:02:05"
    assert format_seconds(float("nan")) == "?"


def test_lines_projection_eta_and_rate_bound(captured):
    """First unit: the projected total. Then at most one line a second (faster units are summed into
    the next line), the last unit always, every line with elapsed time and (but the last) an ETA."""
    clock = FakeClock()
    logger = __import__("logging").getLogger("kan.progress")
    with Progress(10, "train", unit="epoch", bar=False, heartbeat=None, clock=clock, logger=logger) as p:
        for i in range(10):
            clock.t += 0.4  # 0.4 s an epoch: at most every third epoch may be reported
            p.update(1, f"loss {i}")
    lines = _lines(captured)
    assert lines[0] == "train: epoch 1/10 done after 0:00:00; projected total 0:00:04 (ETA 0:00:04)"
    body = lines[1:]
    assert body[-1] == "train: epoch 10/10 loss 9 | 0:00:04 elapsed"
    assert [re.search(r"epoch (\d+)/", line).group(1) for line in body] == ["4", "7", "10"]
    assert all(ETA.search(line) for line in body[:-1]), body


def test_every_unit_reported_when_slower_than_a_second(captured):
    clock = FakeClock()
    with Progress(3, "zoo", unit="shard", bar=False, heartbeat=None, clock=clock) as p:
        for _ in range(3):
            clock.t += 30.0
            p.update(1)
    lines = _lines(captured)
    assert lines == [
        "zoo: shard 1/3 done after 0:00:30; projected total 0:01:30 (ETA 0:01:00)",
        "zoo: shard 2/3 | 0:01:00 elapsed, ETA 0:00:30",
        "zoo: shard 3/3 | 0:01:30 elapsed",
    ]


def test_heartbeat_while_a_long_unit_runs(captured):
    """A unit longer than the heartbeat still gives a line (at least one a minute by default)."""
    with Progress(2, "pde", unit="run", bar=False, heartbeat=0.2) as p:
        time.sleep(5.5)  # the heartbeat thread wakes at most every 5 s
    assert any(line.startswith("pde: still working on run 1/2 | ") for line in _lines(captured))
    assert p.done == 0


def test_ws_train_redirected_writes_per_epoch_lines_with_eta(tmp_path, sine_zoo):
    """`kan ws train ... 2> log` (stderr not a terminal): one line per epoch, an ETA after the first,
    the projected total, and a --log-file copy with timestamps; stdout keeps only the result."""
    log_file = tmp_path / "logs" / "train.log"
    out = tmp_path / "ws"
    args = ["ws", "train", "--task", "sine", "--zoo", str(sine_zoo), "--model", "mlp", "--epochs", "4",
            "--hidden", "8", "--out", str(out), "--log-file", str(log_file)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    err = res.stderr.splitlines()
    assert err[0].startswith("sine/mlp/s0: epoch 1/4 done after ") and "projected total" in err[0]
    # each epoch is short here, so the rate bound may sum epochs; the last is always reported
    assert err[-1].startswith("sine/mlp/s0: epoch 4/4 train_loss=") and err[-1].endswith(" elapsed")
    assert all(ETA.search(line) for line in err[1:-1]), err
    assert "epoch" not in res.stdout and '"task": "sine"' in res.stdout
    logged = log_file.read_text().splitlines()
    assert [line[20:] for line in logged] == err  # same lines, after "YYYY-MM-DD HH:MM:SS "
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in logged)


def test_quiet_silences_stderr_but_not_the_log_file(tmp_path, sine_zoo):
    log_file = tmp_path / "q.log"
    args = ["ws", "train", "--task", "sine", "--zoo", str(sine_zoo), "--model", "mlp", "--epochs", "2",
            "--hidden", "8", "--out", str(tmp_path / "ws"), "--quiet", "--log-file", str(log_file)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert "epoch 2/2" in log_file.read_text()


def test_zoo_build_in_a_subprocess_logs_per_model_lines(tmp_path, subprocess_env):
    """A real redirected process (not CliRunner): stderr is a pipe, and lines reach it."""
    out = tmp_path / "zoo"
    cmd = [sys.executable, "-c", "from kan_core.cli import main; main()", "zoo", "build", "sine-cpu",
           "--models", "3", "--shard-size", "1", "--epochs", "1", "--device", "cpu", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("zoo sine-cpu: model 1/3 done after ") and "projected total" in lines[0]
    assert lines[-1].startswith("zoo sine-cpu: model 3/3 | ") and lines[-1].endswith(" elapsed")
    assert "\r" not in proc.stderr


def test_library_code_does_not_print(tmp_path, capsys):
    """Progress from library code goes through logging only: nothing on stdout/stderr without a setup."""
    reset_logging()
    with Progress(2, "lib", bar=False, heartbeat=None) as p:
        p.update(2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_configure_logging_twice_keeps_one_handler_each(tmp_path):
    import logging

    configure_logging(log_file=tmp_path / "a.log")
    configure_logging(quiet=True, log_file=tmp_path / "a.log")
    try:
        ours = [h for h in logging.getLogger("kan").handlers if getattr(h, "_kan_handler", False)]
        assert sorted(type(h).__name__ for h in ours) == ["FileHandler", "_StderrHandler"]
    finally:
        reset_logging()
    assert not [h for h in logging.getLogger("kan").handlers if getattr(h, "_kan_handler", False)]
