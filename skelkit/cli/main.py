"""`skelkit` command line: one group, one module per subcommand.

Each subcommand lives in ``skelkit/cli/<name>.py`` and exposes a click object
called ``command`` (or ``make_command()``, built when invoked, for commands
whose flags come from the method table); they are imported only when invoked
so `skelkit --help` stays quick and a broken optional dependency affects only
its own command.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ..errors import SkelkitError

# subcommand name -> module under skelkit.cli
SUBCOMMANDS = {
    "skeletonize": "skeletonize",
    "analyze": "analyze",
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


#: Exit codes (documented in docs/errors.md).
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(BaseException):
    """SIGTERM (``timeout``, batch schedulers): unwinds like Ctrl-C, so temporary files are cleaned up."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None):
    """Console entry point.

    Exit codes: 0 success; 1 a one-line error about the data or the run
    (:class:`SkelkitError`, unreadable files, inputs that failed with
    ``--keep-going``); 2 a usage error (click's); 130 interrupted (Ctrl-C);
    143 terminated (SIGTERM). Temporary files are removed in all of these.
    """
    import signal

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        cli.main(args=argv, prog_name="skelkit", standalone_mode=False)
    except SkelkitError as exc:
        _fail(str(exc), EXIT_ERROR)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _stop("interrupted", EXIT_INTERRUPTED)
    except Terminated:
        _stop("terminated (SIGTERM)", EXIT_TERMINATED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MemoryError:
        _fail("out of memory (a smaller input, --chunks for volumes, or fewer --workers may help)", EXIT_ERROR)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), EXIT_ERROR)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _fail(message: str, code: int):
    click.echo(f"skelkit: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _stop(message: str, code: int):
    """Exit after Ctrl-C or SIGTERM: remove what is left of this run's temporaries and do not wait for worker
    threads (a dask task still running would otherwise keep the process alive and write into removed folders)."""
    import threading

    from ..io.atomic import remove_live

    remove_live()
    click.echo(f"skelkit: error: {message}", err=True)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    main()
