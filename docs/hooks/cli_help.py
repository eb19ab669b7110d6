"""mkdocs hook: ``<!-- kan-help: GROUP -->`` in a page becomes the ``--help`` text of that command group and of
each of its commands (``<!-- kan-help: kan -->``: the root help and its plain commands), so the command
pages always show exactly what ``kan ... --help`` prints. A command that cannot be loaded fails the build."""

from __future__ import annotations

import re

import click

WIDTH = 100
MARKER = re.compile(r"<!-- kan-help: ([\w-]+) -->")


def _help(cmd: click.Command, names: list[str]) -> str:
    from kan_core.cli import UnavailableCommand, cli

    ctx = click.Context(cli, info_name="kan", terminal_width=WIDTH, max_content_width=WIDTH)
    for name in names:
        ctx = click.Context(
            cmd if name == names[-1] else ctx.command.get_command(ctx, name), info_name=name, parent=ctx
        )
    if isinstance(cmd, UnavailableCommand):
        raise RuntimeError(f"kan {' '.join(names)}: {cmd.help}")
    return f"```text\n{cmd.get_help(ctx)}\n```\n"


def _section(name: str) -> str:
    from kan_core.cli import cli

    root_ctx = click.Context(cli, info_name="kan")
    if name == "kan":
        parts = [_root_help()]
        for sub in cli.list_commands(root_ctx):
            cmd = cli.get_command(root_ctx, sub)
            if not isinstance(cmd, click.Group):
                parts.append(f"## kan {sub}\n\n" + _help(cmd, [sub]))
        return "\n".join(parts)
    group = cli.get_command(root_ctx, name)
    if not isinstance(group, click.Group):
        raise RuntimeError(f"kan {name} is not a command group")
    parts = [_help(group, [name])]
    for sub in group.list_commands(root_ctx):
        parts.append(f"## kan {name} {sub}\n\n" + _help(group.get_command(root_ctx, sub), [name, sub]))
    return "\n".join(parts)


def _root_help() -> str:
    from kan_core.cli import cli

    ctx = click.Context(cli, info_name="kan", terminal_width=WIDTH, max_content_width=WIDTH)
    return f"```text\n{cli.get_help(ctx)}\n```\n"


def on_page_markdown(markdown: str, **_: object) -> str:
    return MARKER.sub(lambda m: _section(m.group(1)), markdown)
