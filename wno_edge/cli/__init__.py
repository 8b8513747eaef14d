"""`wno-edge`: a thin typer layer over the library. User errors print one line and exit 1."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from typer._click import exceptions as click
else:
    try:  # typer >= 0.20 carries its own copy of click
        from typer._click import exceptions as click
    except ImportError:
        from click import exceptions as click

from .. import __version__
from ..errors import WNOEdgeError, missing_dependency

app = typer.Typer(
    name="wno-edge",
    help="Winograd Neural Operators from PyTorch to edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool):
    if value:
        typer.echo(f"wno-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
):
    pass


# Each area keeps its commands in its own module, in the order --help lists them.
COMMAND_MODULES = ("core", "data", "train", "export", "build", "profile", "neuralop")
for _module in COMMAND_MODULES:
    import_module(f".{_module}", __package__).register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script passes it to sys.exit).

    Every error is one line on stderr: a user error (file, value, data) exits 1, a command
    line the parser rejects (unknown option, missing argument, wrong type) exits 2.
    """
    try:
        code = app(args=argv, prog_name="wno-edge", standalone_mode=False)
    except click.NoArgsIsHelpError as e:  # `wno-edge` alone: the help, as --help
        typer.echo(e.ctx.get_help())
        return 0
    except click.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        typer.secho(f"error: {e.format_message()}{hint}", err=True, fg=typer.colors.RED)
        return 2
    except click.ClickException as e:  # e.g. a file option that cannot be opened
        typer.secho(f"error: {e.format_message()}", err=True, fg=typer.colors.RED)
        return 1
    except WNOEdgeError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        return 1
    except ImportError as e:
        error = missing_dependency(e, "this command")
        if error is None:
            raise
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        return 1
    except (KeyboardInterrupt, typer.Abort):  # typer's Abort (click's before typer 0.20): EOF at a prompt
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
