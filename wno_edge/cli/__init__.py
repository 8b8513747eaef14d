"""`wno-edge`: a thin typer layer over the library. User errors print one line and exit 1."""
from __future__ import annotations

import sys
from importlib import import_module

import typer

from .. import __version__
from ..errors import WNOEdgeError

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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    pass


# Each area keeps its commands in its own module, in the order --help lists them.
COMMAND_MODULES = ("core", "data", "train", "export", "build", "profile")
for _module in COMMAND_MODULES:
    import_module(f".{_module}", __package__).register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script passes it to sys.exit)."""
    try:
        app(args=argv, prog_name="wno-edge")  # standalone mode: ends in SystemExit
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except WNOEdgeError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        return 1
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
