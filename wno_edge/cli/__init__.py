"""`wno-edge`: a thin typer layer over the library. User errors print one line and exit 1."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from typer._click import exceptions as click
else:
    try:  # typer >= 0.20 carries its own copy of click
        from typer._click import exceptions as click
    except ImportError:  # typer 0.12 .. 0.19 (pyproject allows >= 0.12): click itself
        from click import exceptions as click

from .. import __version__
from ..errors import WNOEdgeError, missing_dependency, one_line

# What main() catches, by name, from the click that typer uses: all present from click 8.0
# (the oldest typer 0.12 allows) to typer's own copy (tests/test_cli.py checks both ends).
# NoArgsIsHelpError is click >= 8.2 only; older click prints the help and exits 0 itself.
CLICK_EXCEPTIONS = ("UsageError", "ClickException")
_NO_ARGS_IS_HELP: Any = getattr(click, "NoArgsIsHelpError", ())
DEBUG_ENV = "WNO_EDGE_DEBUG"

app = typer.Typer(
    name="wno-edge",
    help="Winograd Neural Operators from PyTorch to edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_debug = {"flag": False}  # the root --debug of the current main() call


def _version(value: bool):
    if value:
        typer.echo(f"wno-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help=f"Show the traceback of an unexpected error (a bug), as {DEBUG_ENV}=1 does."
    ),
):
    _debug["flag"] = debug


# Each area keeps its commands in its own module, in the order --help lists them.
COMMAND_MODULES = ("core", "data", "train", "export", "build", "profile", "neuralop", "physicsnemo")
for _module in COMMAND_MODULES:
    import_module(f".{_module}", __package__).register(app)


class _Interrupted(Exception):
    """Ctrl-C in a command, carried past typer to main(): typer >= 0.20 turns a KeyboardInterrupt
    into a silent exit 130, older typer into a blank line and an Abort."""


def _interruptible(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)  # typer reads the parameters through __wrapped__
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt:
            raise _Interrupted from None

    run._wno_edge_interruptible = True  # type: ignore[attr-defined]
    return run


def _catch_interrupts(typer_app: object) -> None:
    """Wrap every command of `typer_app` (groups included) once, so Ctrl-C reaches main()."""
    for info in getattr(typer_app, "registered_commands", ()):
        if info.callback is not None and not getattr(info.callback, "_wno_edge_interruptible", False):
            info.callback = _interruptible(info.callback)
    for group in getattr(typer_app, "registered_groups", ()):
        _catch_interrupts(group.typer_instance)


def _debugging() -> bool:
    return _debug["flag"] or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _bug(e: BaseException) -> str:
    kind = type(e).__qualname__ if type(e).__module__ == "builtins" else f"{type(e).__module__}.{type(e).__qualname__}"
    try:
        message = one_line(str(e), 200)
    except Exception:  # a broken __str__ must not hide the error itself
        message = ""
    return (
        f"error: this is a bug in wno-edge: {kind}" + (f": {message}" if message else "") + f" (for the traceback run "
        f"`wno-edge --debug COMMAND ...` or set {DEBUG_ENV}=1; please report it)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script passes it to sys.exit).

    Every error is one line on stderr: a user error (file, value, data) exits 1, a command
    line the parser rejects (unknown option, missing argument, wrong type) exits 2, Ctrl-C
    exits 130, and anything unexpected (a bug) exits 1 naming its type, or raises with its
    traceback under --debug or WNO_EDGE_DEBUG=1.
    """
    _debug["flag"] = False
    _catch_interrupts(app)
    try:
        code = app(args=argv, prog_name="wno-edge", standalone_mode=False)
    except _NO_ARGS_IS_HELP as e:  # `wno-edge` alone: the help, as --help
        typer.echo(e.ctx.get_help())
        return 0
    except click.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        typer.secho(f"error: {one_line(e.format_message(), 300)}{hint}", err=True, fg=typer.colors.RED)
        return 2
    except click.ClickException as e:  # e.g. a file option that cannot be opened
        typer.secho(f"error: {one_line(e.format_message(), 300)}", err=True, fg=typer.colors.RED)
        return 1
    except WNOEdgeError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        return 1
    except (_Interrupted, KeyboardInterrupt, typer.Abort):  # Abort: EOF at a prompt
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except OSError as e:  # the system's answer (disk full, permission denied), not wno-edge's bug
        if _debugging():
            raise
        where = f"{e.filename}: " if e.filename is not None else ""
        typer.secho(f"error: {one_line(where + (e.strerror or str(e)), 300)}", err=True, fg=typer.colors.RED)
        return 1
    except Exception as e:
        error = missing_dependency(e, "this command") if isinstance(e, ImportError) else None
        if error is not None:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            return 1
        if _debugging():
            raise
        typer.secho(_bug(e), err=True, fg=typer.colors.RED)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
