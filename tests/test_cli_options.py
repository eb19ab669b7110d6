"""One set of shared options with one meaning: a walk over every command of the whole `kan` group (all
installed packages) checks that each shared option exists where it applies, with the same help text,
default and type; plus one refusal style, reruns that keep earlier results, single-package installs."""

from __future__ import annotations

import json
from importlib import metadata

import click
import pytest
from click.testing import CliRunner
from kan_core import cli_options as opts
from kan_core.cli import KanGroup, UnavailableCommand, cli


def _walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "kan")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not isinstance(sub, UnavailableCommand):
                yield from _walk(sub, (*path, name))


LEAVES = {" ".join(p): c for p, c in _walk(cli, ()) if p and not isinstance(c, click.Group)}

# Commands that compute with torch (a model, a zoo, training, evaluation): --device and --threads.
COMPUTE = {
    "quickstart", "plot", "zoo build", "ws train", "ws eval", "ws ood", "ws predict", "ws prune-eval",
    "prune", "demo", "graph convert", "graph align", "metakan feynman", "metakan highdim", "metakan images",
    "metakan conv", "metakan pde", "metakan memory", "metakan symbolic", "repro wskan", "repro metakan",
}  # fmt: skip
# Commands that run long enough to report progress: --quiet and --log-file.
LONG = COMPUTE - {"plot", "prune"}
# Commands with a random choice of their own: --seed.
SEEDED = {"quickstart", "zoo build", "ws train", "demo", "graph align"} | {
    c for c in COMPUTE if c.startswith("metakan ")
}
# Commands that write: --force.
WRITERS = COMPUTE - {"quickstart"} | {"zoo export", "ws table"}
# Commands that read a trained model: --checkpoint.
CHECKPOINT = {"ws eval", "ws ood", "ws predict", "ws prune-eval", "prune"}


def _option(command: click.Command, name: str) -> click.Option | None:
    return next((p for p in command.params if isinstance(p, click.Option) and f"--{name}" in p.opts), None)


def _present(names: set[str]) -> list[str]:
    return sorted(n for n in names if n in LEAVES)


def test_the_walk_reaches_every_installed_package():
    assert {"quickstart", "plot", "info"} <= set(LEAVES)
    installed = {d for d in ("kan-ws", "kan-graph", "kan-metakan") if _installed(d)}
    if "kan-ws" in installed:
        assert {"zoo build", "ws train", "demo", "repro wskan"} <= set(LEAVES)
    if "kan-metakan" in installed:
        assert {"metakan pde", "repro metakan"} <= set(LEAVES)
    if "kan-graph" in installed:
        assert {"graph align", "graph convert"} <= set(LEAVES)


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("name", _present(COMPUTE))
def test_device_and_threads_are_the_shared_ones(name):
    cmd = LEAVES[name]
    device, threads = _option(cmd, "device"), _option(cmd, "threads")
    assert device is not None and threads is not None, f"kan {name} lacks --device or --threads"
    assert device.help == opts.DEVICE_HELP and device.default == "auto"
    assert "mps" in device.help
    assert threads.help == opts.THREADS_HELP and threads.default == 1 and threads.envvar == "KAN_THREADS"
    assert threads.type.min == 0  # 0 means torch's choice everywhere


@pytest.mark.parametrize("name", _present(LONG))
def test_quiet_and_log_file_are_the_shared_ones(name):
    cmd = LEAVES[name]
    quiet, log_file = _option(cmd, "quiet"), _option(cmd, "log-file")
    assert quiet is not None and log_file is not None, f"kan {name} lacks --quiet or --log-file"
    assert quiet.help == opts.QUIET_HELP and "-q" in quiet.opts
    assert log_file.help == opts.LOG_FILE_HELP


@pytest.mark.parametrize("name", _present(SEEDED))
def test_seed_is_the_shared_one(name):
    seed = _option(LEAVES[name], "seed")
    assert seed is not None and seed.help == opts.SEED_HELP and seed.default == 0


@pytest.mark.parametrize("name", _present(WRITERS))
def test_force_says_what_it_replaces(name):
    force = _option(LEAVES[name], "force")
    assert force is not None, f"kan {name} lacks --force"
    assert force.help.startswith(opts.FORCE_HELP + ": ") and len(force.help) > len(opts.FORCE_HELP) + 10


@pytest.mark.parametrize("name", _present(CHECKPOINT))
def test_one_way_to_name_a_checkpoint(name):
    ckpt = _option(LEAVES[name], "checkpoint")
    assert ckpt is not None and ckpt.help.startswith(opts.CHECKPOINT_HELP)
    assert not any(isinstance(p, click.Argument) and p.name == "checkpoint" for p in LEAVES[name].params)


def test_no_other_command_has_a_look_alike_option():
    """Shared names never carry another meaning: wherever --threads/--seed/--device/--quiet appear they
    are the shared ones (catches a command that declares its own)."""
    helps = {"threads": opts.THREADS_HELP, "device": opts.DEVICE_HELP, "quiet": opts.QUIET_HELP,
             "seed": opts.SEED_HELP, "log-file": opts.LOG_FILE_HELP}  # fmt: skip
    for name, cmd in LEAVES.items():
        for opt, text in helps.items():
            o = _option(cmd, opt)
            assert o is None or o.help == text, f"kan {name} --{opt}: {o.help!r}"


def test_parse_models():
    assert opts.parse_models("0,3,5-7") == [0, 3, 5, 6, 7]
    assert opts.parse_models(None) is None
    with pytest.raises(click.BadParameter, match="'x' is not an index or a range like 5-9"):
        opts.parse_models("1,x")


def test_free_path_numbers_reruns(tmp_path):
    first = tmp_path / "sine-wskan-s0.json"
    assert opts.free_path(first, companions=(".safetensors",)) == first
    first.write_text("{}")
    assert opts.free_path(first, companions=(".safetensors",)).name == "sine-wskan-s0-run2.json"
    (tmp_path / "sine-wskan-s0-run2.safetensors").write_text("")  # a companion also takes the name
    assert opts.free_path(first, companions=(".safetensors",)).name == "sine-wskan-s0-run3.json"
    assert opts.free_path(first, force=True) == first


def test_threads_zero_keeps_torch_choice_and_n_is_restored_after_the_command():
    import torch

    before = torch.get_num_threads()
    res = CliRunner().invoke(cli, ["quickstart", "--steps", "2", "--points", "20", "--threads", "2"])
    assert res.exit_code == 0, res.output
    assert torch.get_num_threads() == before
    res = CliRunner().invoke(cli, ["quickstart", "--steps", "2", "--points", "20", "--threads", "-1"])
    assert res.exit_code == 2
    assert "Error: Invalid value for '--threads': -1 is not in the range x>=0." in res.output


def test_rerun_into_its_own_folder_keeps_the_earlier_result(tmp_path, sine_zoo):
    """`kan ws train` twice into one --out: no --force needed, the first result stays, the second goes
    beside it; with --force the first is replaced."""
    out = tmp_path / "ws"
    args = ["ws", "train", "--task", "sine", "--zoo", str(sine_zoo), "--model", "mlp", "--epochs", "1",
            "--hidden", "8", "--out", str(out), "-q"]  # fmt: skip
    r1 = CliRunner().invoke(cli, args)
    assert r1.exit_code == 0, r1.output
    first = (out / "sine-mlp-s0.json").read_text()
    r2 = CliRunner().invoke(cli, args)
    assert r2.exit_code == 0, r2.output
    assert (out / "sine-mlp-s0.json").read_text() == first
    assert (out / "sine-mlp-s0-run2.json").is_file() and (out / "sine-mlp-s0-run2.safetensors").is_file()
    assert json.loads(r2.stdout.splitlines()[-1])["out"] == str(out / "sine-mlp-s0-run2.json")
    r3 = CliRunner().invoke(cli, [*args, "--force"])
    assert r3.exit_code == 0 and not (out / "sine-mlp-s0-run3.json").exists()
    from kan_ws.plots import collect_results

    rows = collect_results([out])  # the rerun of seed 0 counts once in tables: the newest file
    assert len(rows) == 1 and rows[0] == json.loads((out / "sine-mlp-s0.json").read_text())


def test_one_refusal_style_without_python_syntax(tmp_path, sine_zoo):
    """An existing explicit output file: exit 2, 'Error: Invalid value for '--out': ...', the option
    named, no Python syntax."""
    target = tmp_path / "m.safetensors"
    target.write_text("")
    res = CliRunner().invoke(cli, ["zoo", "export", str(sine_zoo), "0", "--out", str(target)])
    assert res.exit_code == 2
    assert f"Error: Invalid value for --out: {target} already exists; pass --force to overwrite it" in res.output
    assert "force=True" not in res.output and "=True" not in res.output


def test_missing_package_names_the_package_to_install(monkeypatch):
    """A known command whose package is not installed: listed nowhere, and asking for it says which
    package brings it (simulated by hiding kan-ws's entry points)."""
    real = metadata.entry_points

    def without_ws(**kw):
        eps = real(**kw)
        return [ep for ep in eps if not ep.value.startswith("kan_ws")]

    monkeypatch.setattr(metadata, "entry_points", without_ws)
    group = KanGroup(name="kan", commands={})
    res = CliRunner().invoke(group, ["--help"])
    assert res.exit_code == 0
    listing = res.output.split("Commands:")[1] if "Commands:" in res.output else ""
    for name in ("zoo", "ws", "demo", "prune"):
        assert f"  {name} " not in listing
    res = CliRunner().invoke(group, ["zoo", "build", "sine-cpu"])
    assert res.exit_code == 2
    assert (
        "Error: 'kan zoo' comes with the kan-ws package, which is not installed here; install it with: "
        "pip install kan-ws"
    ) in res.output
    res = CliRunner().invoke(group, ["nonsense"])
    assert res.exit_code == 2 and "No such command 'nonsense'" in res.output
