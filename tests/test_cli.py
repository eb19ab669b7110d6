"""The `kan` CLI: --help on every command, lazy loading, built-in commands."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from kan_core.cli import KanGroup, UnavailableCommand, cli, command_available


def _not_written_yet(cmd: UnavailableCommand) -> bool:
    """The entry point's module (or a parent package of it) does not exist at all."""
    err = cmd.error
    module = cmd.entry_point.value.split(":")[0].strip()
    if not isinstance(err, ModuleNotFoundError) or err.name is None:
        return False
    return module == err.name or module.startswith(err.name + ".")


def _walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "kan")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                yield from _walk(sub, (*path, name))


def _cases():
    for path, command in _walk(cli, ()):
        ident = " ".join(path) or "kan"
        if isinstance(command, UnavailableCommand):
            if _not_written_yet(command):
                reason = f"module of {command.entry_point.value!r} does not exist yet"
                yield pytest.param(path, command, id=ident, marks=pytest.mark.skip(reason=reason))
                continue
        yield pytest.param(path, command, id=ident)


@pytest.mark.parametrize(("path", "command"), list(_cases()))
def test_help_of_every_command(path, command):
    if isinstance(command, UnavailableCommand):
        pytest.fail(
            f"'kan {' '.join(path)}' is declared but its module exists and fails to load: "
            f"{type(command.error).__name__}: {command.error}"
        )
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Usage:" in result.output
    assert command.name is not None


def test_root_lists_builtins_and_entry_points():
    declared = {ep.name for ep in metadata.entry_points(group="kan.commands")}
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = set(re.findall(r"^  (\S+)\s", result.output.split("Commands:")[1], flags=re.M))
    assert {"info", "quickstart"} | declared <= listed
    assert command_available("info") and command_available("quickstart")
    assert not command_available("no-such-command")
    version = CliRunner().invoke(cli, ["--version"])
    assert version.exit_code == 0 and f"kan-core {metadata.version('kan-core')}" in version.output


def test_root_help_does_not_import_torch(python, subprocess_env):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import kan_core.cli as c\n"
        "r = CliRunner().invoke(c.cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'quickstart' in r.output\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'torch_geometric', 'scipy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=subprocess_env, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_console_script_help(python, subprocess_env):
    script = Path(python).parent / "kan"
    if not script.exists():
        pytest.skip(f"no console script next to {python}")
    proc = subprocess.run(
        [python, "-X", "importtime", str(script), "--help"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: kan" in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "kan_core.cli" in imported


def _group_with(entry_points: dict[str, metadata.EntryPoint]) -> KanGroup:
    group = KanGroup(name="kan")

    @group.command()
    def hello():
        """Say hello."""
        click.echo("hello")

    group._eps = entry_points
    return group


def test_broken_entry_points_do_not_break_help():
    eps = {
        "missing": metadata.EntryPoint("missing", "kan_no_such_module_xyz.cli:group", "kan.commands"),
        "notcmd": metadata.EntryPoint("notcmd", "json:dumps", "kan.commands"),
        "good": metadata.EntryPoint("good", "kan_core.cli:info", "kan.commands"),
    }
    group = _group_with(eps)
    runner = CliRunner()
    result = runner.invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("missing", "notcmd", "good", "hello"):
        assert re.search(rf"^  {name}\s", result.output, flags=re.M), result.output

    result = runner.invoke(group, ["missing", "--help"])
    assert result.exit_code == 1
    assert "could not be loaded" in result.output and "kan_no_such_module_xyz" in result.output
    result = runner.invoke(group, ["notcmd", "x", "--flag"])
    assert result.exit_code == 1 and "not a click command" in result.output
    # after a failed load, the listing marks the command unavailable
    result = runner.invoke(group, ["--help"])
    assert re.search(r"missing\s+\(unavailable: ModuleNotFoundError", result.output), result.output
    result = runner.invoke(group, ["good", "--help"])
    assert result.exit_code == 0 and "--json" in result.output
    assert runner.invoke(group, ["hello"]).output == "hello\n"


def test_info_json():
    import torch

    result = CliRunner().invoke(cli, ["info", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["device"] == "cpu"
    assert report["torch"] == torch.__version__
    assert report["cuda_available"] == torch.cuda.is_available()
    assert report["threads"] == torch.get_num_threads()
    from kan_core.native import native_status

    assert report["native_bspline"] == native_status()  # "ok", or why the pure-torch path runs
    from kan_core.triton import bspline_paths, triton_status

    assert report["triton_bspline"] == triton_status()  # "ok", or why CUDA takes the dense path
    assert report["bspline_paths"] == bspline_paths() and set(bspline_paths()) == {"cpu", "cuda"}
    text = CliRunner().invoke(cli, ["info", "--device", "cpu"]).output
    assert f"b-splines   cpu: {bspline_paths()['cpu']}; cuda: {bspline_paths()['cuda']}" in text
    assert report["packages"]["kan-core"] == metadata.version("kan-core")
    assert {"info", "quickstart"} <= set(report["commands"])


def test_info_text_and_bad_device():
    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0
    assert "kan-core" in result.output and "threads" in result.output
    result = CliRunner().invoke(cli, ["info", "--device", "tpu-please"])
    assert result.exit_code == 2 and "--device" in result.output


def _final_rmse(output: str) -> tuple[float, float]:
    m = re.search(r"final: train RMSE ([\d.]+)\s+test RMSE ([\d.]+)", output)
    assert m, output
    return float(m.group(1)), float(m.group(2))


def test_quickstart_learns_and_is_seeded():
    runner = CliRunner()
    args = ["quickstart", "--device", "cpu", "--steps", "150", "--points", "800", "--log-every", "50"]
    a = runner.invoke(cli, [*args, "--seed", "1"])
    b = runner.invoke(cli, [*args, "--seed", "1"])
    c = runner.invoke(cli, [*args, "--seed", "2"])
    assert a.exit_code == 0, a.output
    baseline = float(re.search(r"mean-predictor test RMSE ([\d.]+)", a.output).group(1))
    train, test = _final_rmse(a.output)
    assert test < 0.1 * baseline, a.output
    assert a.output.count("step ") == 3
    assert _final_rmse(b.output) == (train, test)  # same seed, same numbers
    assert _final_rmse(c.output) != (train, test)


def test_quickstart_default_run_reaches_low_error():
    import torch

    threads = torch.get_num_threads()
    result = CliRunner().invoke(cli, ["quickstart", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == threads  # --threads 1 is undone after the command
    _, test = _final_rmse(result.output)
    assert test < 0.05, result.output
