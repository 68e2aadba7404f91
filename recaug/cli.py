"""`recaug <stage>`: every pipeline stage callable from the shell.

Each stage package owns a `cli.py` with `register(commands)`; this module only builds
the parser, loads the settings, holds the lake lock around every command that writes
the lake (`recaug.lake_lock`; the commands in LOCK_FREE_COMMANDS only read or only drop
batches into the landing inbox) and reports errors in words instead of tracebacks.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from typing import Callable

from recaug.errors import RecaugError

STAGE_CLI_MODULES = (
    "recaug.data.cli",
    "recaug.data.versioning_cli",
    "recaug.validate.cli",
    "recaug.augment.cli",
    "recaug.embed.cli",
    "recaug.features.cli",
    "recaug.events.cli",
    "recaug.train.cli",
    "recaug.export.cli",
    "recaug.orchestrate.cli",
    "recaug.deploy.cli",
    "recaug.experiments.cli",
    "recaug.report.cli",
    "recaug.privacy.cli",
    "recaug.lake_cli",
)

# Commands that main() runs without the lake lock: they never write the lake outside
# landing/ (an inbox with atomic publication that producers fill without the lock), or
# they manage the lock themselves (`lake ...`).
LOCK_FREE_COMMANDS = frozenset({
    "data fetch", "data load", "data synth", "data versions",
    "features serve", "features context",
    "serve triton start", "serve triton stop", "serve triton status", "serve gateway",
    "lake status", "lake unlock", "lake hold",
    "experiment list", "experiment report",
})

Handler = Callable[[argparse.Namespace, "object"], int | None]


class Commands:
    """Adds subcommands that all accept the common settings options."""

    def __init__(self, subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser, prefix: str = ""):
        self._subparsers = subparsers
        self._common = common
        self._prefix = prefix
        self._groups: dict[str, Commands] = {}

    def add(self, name: str, help: str, handler: Handler) -> argparse.ArgumentParser:
        parser = self._subparsers.add_parser(name, help=help, description=help, parents=[self._common])
        parser.set_defaults(handler=handler, command_path=f"{self._prefix}{name}")
        return parser

    def group(self, name: str, help: str) -> "Commands":
        """A command group (`recaug data ...`); several stage modules may add to one group."""
        if name not in self._groups:
            parser = self._subparsers.add_parser(name, help=help, description=help)
            subparsers = parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
            self._groups[name] = Commands(subparsers, self._common, prefix=f"{self._prefix}{name} ")
        return self._groups[name]


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a setting (repeatable), e.g. --set train.epochs=3",
    )
    common.add_argument("--lake", dest="lake_root", help="data lake root (path or fsspec URL)")
    common.add_argument("--run-id", dest="run_id", help="identifier of this pipeline run")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recaug", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = Commands(subparsers, _common_options())
    for module_name in STAGE_CLI_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


def settings_from_args(args: argparse.Namespace):
    from recaug.settings import load_settings, parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.lake_root:
        overrides["lake_root"] = args.lake_root
    if args.run_id:
        overrides["run_id"] = args.run_id
    return load_settings(overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from recaug.logs import configure_logging

    configure_logging(verbose=args.verbose)
    try:
        settings = settings_from_args(args)
        if args.command_path in LOCK_FREE_COMMANDS:
            return int(args.handler(args, settings) or 0)
        from recaug.lake_lock import cli_claim, lake_writer

        command = " ".join(["recaug", *(argv if argv is not None else sys.argv[1:])])[:200]
        with lake_writer(settings, cli_claim(settings.run_id, command)):
            return int(args.handler(args, settings) or 0)
    except RecaugError as exc:
        print(f"recaug {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        print(f"recaug {args.command}: error: out of space writing {exc.filename or 'the lake'}: {exc.strerror}; "
              "files already in the lake are unchanged. Free space and run the command again", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
