"""`--help` of every `kan` command (every package's): an example to copy, help text on every option,
--device defaulting to auto, and a root listing with real descriptions."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner
from kan_core.cli import UnavailableCommand, cli


def _walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "kan")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not isinstance(sub, UnavailableCommand):
                yield from _walk(sub, (*path, name))


COMMANDS = [pytest.param(p, c, id=" ".join(p) or "kan") for p, c in _walk(cli, ())]


@pytest.mark.parametrize(("path", "command"), COMMANDS)
def test_help_has_an_example_and_every_option_is_explained(path, command):
    res = CliRunner().invoke(cli, [*path, "--help"], terminal_width=120)
    assert res.exit_code == 0, res.output
    text = res.output
    example = re.search(r"Examples?:\n((?:\s+\S.*\n)+)", text)
    assert example, f"'kan {' '.join(path)} --help' shows no example:\n{text}"
    lines = [line.strip() for line in example.group(1).splitlines()]
    assert any(line.startswith(("kan ", "torchrun ")) for line in lines), text
    if path:  # the example runs this very command
        assert any(" ".join(("kan", *path)) in line or "-m " in line for line in lines), text
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help and param.help.strip(), f"kan {' '.join(path)}: option {param.opts} has no help"
        if isinstance(param, click.Option) and param.name == "device":
            assert param.default == "auto", f"kan {' '.join(path)}: --device defaults to {param.default!r}"


def test_root_listing_describes_every_command():
    res = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    listing = res.output.split("Commands:", 1)[1]
    assert "Commands from" not in listing and "See 'kan" not in listing
    rows = [line for line in listing.splitlines() if line.strip()]
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        row = next(r for r in rows if r.split()[0] == name)
        assert len(row.split()) > 3, f"no description for {name!r}: {row!r}"
    assert "--seed" not in res.output.split("Commands:", 1)[0]  # no promise about options some commands lack


@pytest.mark.parametrize(
    "args",
    [
        [
            "zoo",
            "build",
            "sine-cpu",
            "--models",
            "2",
            "--epochs",
            "1",
            "--shard-size",
            "1",
            "--device",
            "cpu",
        ],
        ["quickstart", "--steps", "3", "--points", "20", "--log-every", "1"],
    ],
    ids=["zoo-build", "quickstart"],
)
def test_no_progress_bar_when_output_is_not_a_terminal(tmp_path, args):
    """Redirected output gets no bar (no carriage returns, no percentages), and stdout no progress: the
    progress goes to stderr as plain lines (tests/test_progress.py checks their content)."""
    if args[0] == "zoo":
        args = [*args, "--out", str(tmp_path / "zoo")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "\r" not in res.output and "%" not in res.output
    assert "elapsed" not in res.stdout and "elapsed" in res.stderr


def test_progress_bar_on_a_terminal_unless_quiet(tmp_path, monkeypatch):
    import kan_core.progress as prog

    monkeypatch.setattr(prog, "is_terminal", lambda: True)
    base = ["zoo", "build", "sine-cpu", "--models", "2", "--epochs", "1", "--shard-size", "1", "--device", "cpu"]
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "zoo sine-cpu" in res.stderr and "model 2/2" not in res.stderr  # click's bar, not lines
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b"), "--quiet"])
    assert res.exit_code == 0 and "zoo sine-cpu" not in res.output, res.output
