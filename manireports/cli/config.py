"""config show: the effective configuration with where each value came from."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from manireports.cli.environment import env_of
from manireports.cli.output import write_text
from manireports.config import mask

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration with secrets masked and where each value came from.

    Example: manireports config show
    """
    config = env_of(ctx).config()
    if as_json:
        data = {
            key: {
                "value": mask(s.value) if s.secret and s.value else s.value,
                "origin": s.origin,
            }
            for key, s in config.items()
        }
        write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    lines = [f"# configuration file: {config.path or 'none found'}"]
    section = None
    for key, setting in config.items():
        name, _, leaf = key.rpartition(".")
        if name != section:
            section = name
            lines.append(f"\n[{name}]")
        value = mask(setting.value) if setting.secret and setting.value else setting.value
        lines.append(f"{leaf} = {_toml_value(value)}  # {setting.origin}")
    write_text("\n".join(lines) + "\n")


def _toml_value(value: Any) -> str:
    if value is None:
        return '""  # unset'.replace("  # unset", "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
