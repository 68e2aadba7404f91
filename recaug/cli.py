"""`recaug <stage>`: every pipeline stage callable from the shell.

Each stage package owns a `cli.py` with `register(commands)`; this module only builds
the parser, loads the settings and reports errors in words instead of tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import logging
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
    "recaug.train.cli",
    "recaug.export.cli",
    "recaug.deploy.cli",
    "recaug.report.cli",
)

Handler = Callable[[argparse.Namespace, "object"], int | None]


class Commands:
    """Adds subcommands that all accept the common settings options."""

    def __init__(self, subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser):
        self._subparsers = subparsers
        self._common = common
        self._groups: dict[str, Commands] = {}

    def add(self, name: str, help: str, handler: Handler) -> argparse.ArgumentParser:
        parser = self._subparsers.add_parser(name, help=help, description=help, parents=[self._common])
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, help: str) -> "Commands":
        """A command group (`recaug data ...`); several stage modules may add to one group."""
        if name not in self._groups:
            parser = self._subparsers.add_parser(name, help=help, description=help)
            subparsers = parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
            self._groups[name] = Commands(subparsers, self._common)
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
        return int(args.handler(args, settings) or 0)
    except RecaugError as exc:
        print(f"recaug {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
