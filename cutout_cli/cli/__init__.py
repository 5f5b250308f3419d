"""The ``cutout`` command group: global options, error reporting, exit codes.

Each command lives in ``cutout_cli.cli.commands.<name>`` (imported when it is
run or listed); the global options fill a :class:`~.state.CliState`, shared
options are in :mod:`.options`, and what is printed in :mod:`.output`.  The
modules import the library when a command runs, so ``cutout --help`` pays
only for click.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__
from ..errors import EXIT_INTERNAL, CutoutError
from .output import error_text
from .state import CliState

__all__ = ["COMMANDS", "LazyGroup", "cli", "main", "run"]

MAIN_HELP = """Cut images out of LSST-style coadd repositories.

\b
Examples:
  cutout query --band r --pos "53.318792 -27.844306"
  cutout bbox --ra 53.318792 --dec -27.844306 --size 60arcsec
  cutout subset --ra 53.318792 --dec -27.844306 --size 60arcsec --band r -o agn11.fits --png agn11.png
  cutout batch sample_repo/targets.csv --size 50 --band r --out cutouts --png --grid grid.png

The options below may also follow the command name (cutout subset ... -q).
--repo defaults to $CUTOUT_REPO, then to the bundled sample repository; it may be a
URL: s3://bucket/prefix (AWS credentials from the environment, --anon for public
buckets, --endpoint-url for S3-compatible stores) or http(s)://host/path.
Exit codes: 0 ok, 1 some batch rows failed, 2 usage error, 3 not found,
4 output refused or failed, 5 bad repository or file, 6 access denied by remote
storage, 7 remote storage unavailable (unreachable, timeout), 70 internal error; a batch
stopped by SIGINT, SIGTERM or SIGHUP exits 130, 143 or 129.
"""

COMMANDS = ("query", "bbox", "subset", "batch", "index", "serve")


#: Commands that open no repository: they take only the output options (-v, -q) after their name.
NO_REPOSITORY = {"index"}
#: Global option -> the :class:`CliState` field it sets (``verbose`` counts: occurrences add up).
GLOBAL_FIELDS = {"repo": "repo_root", "collections": "collections", "anon": "anon", "endpoint_url": "endpoint_url",
                 "cache_dir": "cache_dir", "verbose": "verbosity", "quiet": "quiet"}


class LazyGroup(click.Group):
    """Imports a command's module only when that command is run or listed, and gives each command the
    global options, so that ``cutout subset ... -q --repo R`` means ``cutout -q --repo R subset ...``."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        command = importlib.import_module(f"cutout_cli.cli.commands.{name}").command
        if not getattr(command, "takes_global_options", False):
            wanted = {"verbose", "quiet"} if name in NO_REPOSITORY else set(GLOBAL_FIELDS)
            command.params += [_after_command(option) for option in self.params if option.name in wanted]
            command.takes_global_options = True
        return command


def _after_command(option: click.Option) -> click.Option:
    """A copy of a group option for a command's own options; given there, it sets the same state."""
    return click.Option(option.opts + option.secondary_opts, metavar=option.metavar, is_flag=option.is_flag,
                        count=option.count, help=option.help, expose_value=False, callback=_set_global)


def _set_global(ctx, param, value):
    if value is None or value is False or value == 0:  # not given after the command: what the group set stands
        return
    state = ctx.find_object(CliState)
    field = GLOBAL_FIELDS[param.name]
    setattr(state, field, getattr(state, field) + value if field == "verbosity" else value)


@click.group(cls=LazyGroup, help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--repo", metavar="PATH|URL",
              help="Repository: a folder with repo.json, a Butler repository (butler.yaml), a butler "
                   "retrieve-artifacts folder or zip, an indexed image folder; a path, s3://bucket/prefix or "
                   "http(s)://host/path. [env: CUTOUT_REPO]")
@click.option("--collections", metavar="A,B",
              help="Butler collections to search, in order (find-first); default: the repository's one "
                   "obvious choice. [env: CUTOUT_COLLECTIONS]")
@click.option("--anon", is_flag=True, help="S3: unsigned requests, for public buckets (no credentials).")
@click.option("--endpoint-url", metavar="URL",
              help="S3: endpoint of an S3-compatible store. [env: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL]")
@click.option("--cache-dir", metavar="DIR",
              help="Remote files: keep their headers and tile tables in DIR, so that a later read fetches only "
                   "tiles (size-bounded: $CUTOUT_CACHE_MAX_MB, default 256). [env: CUTOUT_CACHE_DIR]")
@click.option("-v", "--verbose", count=True,
              help="More diagnostics on stderr (-v shows tracebacks of internal errors; repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.version_option(__version__, prog_name="cutout")
@click.pass_context
def cli(ctx, repo, collections, anon, endpoint_url, cache_dir, verbose, quiet):
    state = ctx.ensure_object(CliState)
    state.repo_root = repo or os.environ.get("CUTOUT_REPO")
    state.collections = collections
    state.anon, state.endpoint_url = anon, endpoint_url or None
    state.cache_dir = cache_dir
    state.verbosity, state.quiet = verbose, quiet


def main(argv=None) -> int:
    """Console entry point: run the CLI, turn errors into one line and an exit code."""
    state = CliState()  # filled by the group's options; read here when a command fails
    try:
        # without standalone mode click returns ctx.exit()'s code instead of exiting
        code = cli.main(args=argv, prog_name="cutout", standalone_mode=False, obj=state)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as stop:
        return stop.exit_code
    except click.ClickException as err:
        if isinstance(err, click.NoSuchOption):
            _explain_no_such_option(err, sys.argv[1:] if argv is None else list(argv))
        err.show()
        return err.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("cutout: interrupted", err=True)
        return 130
    except CutoutError as err:
        click.echo(error_text(err), err=True)
        return err.exit_code
    except BrokenPipeError:
        # the reader of our stdout went away (e.g. `| head`): not an error of ours
        sys.stderr.close()
        return 0
    except Exception as err:  # a bug: one line by default, the traceback with -v
        return _internal_error(err, state.verbosity)
    except BaseException as err:  # a batch stopped by a signal (batch.stopping.Stopped, not imported here)
        if not hasattr(err, "signum"):
            raise
        click.echo(f"cutout: {err}", err=True)
        return err.exit_code


def _explain_no_such_option(err: click.NoSuchOption, argv: list[str]) -> None:
    """Say what happened where click's message would mislead: a global option a command has no use for, or
    ``--pos 53.3 -27.8`` unquoted (click reads -27.8 as options -2, -7...: say how to quote)."""
    command = err.ctx.command.name if err.ctx is not None else None
    if command in NO_REPOSITORY and any(err.option_name in option.opts for option in cli.params):
        err.message = f"{err.option_name} does not apply to cutout {command} (it reads no repository)"
        return
    at = next((i for i, w in enumerate(argv) if w.startswith(err.option_name) and w[1:2].isdigit()), None)
    if at is not None:
        word, before = argv[at], argv[at - 1] if at else "RA"
        ra = before if before.replace(".", "", 1).replace(":", "").isdigit() else "RA"
        err.message = (f"{word} was read as an option: quote a position with a negative Dec as one word, "
                       f'--pos "{ra} {word}", or give --ra {ra} --dec {word}')


def _internal_error(err: Exception, verbosity: int) -> int:
    if verbosity >= 1:
        import traceback  # only after a bug: not on every start

        traceback.print_exc()
    click.echo(f"cutout: internal error: {type(err).__name__}: {err} (run with -v for the traceback)", err=True)
    return EXIT_INTERNAL


def run():  # pragma: no cover - console script wrapper
    sys.exit(main())
