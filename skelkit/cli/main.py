"""`skelkit` command line: one group, one module per subcommand.

Each subcommand lives in ``skelkit/cli/<name>.py`` and exposes a click object
called ``command`` (or ``make_command()``, built when invoked, for commands
whose flags come from the method table); they are imported only when invoked
so `skelkit --help` stays quick and a broken optional dependency affects only
its own command.
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import SkelkitError

# subcommand name -> module under skelkit.cli
SUBCOMMANDS = {
    "skeletonize": "skeletonize",
    "eval": "evaluate",
    "synth": "synth",
    "train": "train",
    "bench": "bench",
    "demo": "demo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name, mod in SUBCOMMANDS.items() if _module_exists(mod))

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS or not _module_exists(SUBCOMMANDS[name]):
            return None
        mod = importlib.import_module(f"skelkit.cli.{SUBCOMMANDS[name]}")
        return mod.make_command() if hasattr(mod, "make_command") else mod.command


def _module_exists(mod: str) -> bool:
    return importlib.util.find_spec(f"skelkit.cli.{mod}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skelkit")
def cli():
    """skelkit: thin, connected skeletons of binary images and volumes."""


def main(argv=None):
    """Console entry point: SkelkitError becomes a one-line message and exit code 2."""
    try:
        cli.main(args=argv, prog_name="skelkit", standalone_mode=False)
    except SkelkitError as exc:
        click.echo(f"skelkit: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("skelkit: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:
        click.echo(f"skelkit: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
