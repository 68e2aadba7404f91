"""`recaug data fetch | load | synth`: get a dataset into landing batches."""

from __future__ import annotations

import argparse
import json

from recaug.errors import ConfigError

FORMATS_HELP = "ml-100k, ml-dat (ml-1m, ml-10m), ml-latest (ml-latest-small, ml-20m, ml-25m), amazon, csv, parquet"


def register(commands) -> None:
    data = commands.group("data", "datasets: download, load into landing batches, synthesize")

    fetch = data.add("fetch", "download a public dataset (checksum-verified) and extract it", _fetch)
    fetch.add_argument("name", help="dataset name, e.g. ml-100k, ml-1m, ml-latest-small")
    fetch.add_argument("--dest", help="download folder (default: setting data.fetch.dest)")
    fetch.add_argument("--url", help="download from this address instead of the registry's")
    fetch.add_argument("--sha256", help="expected SHA-256 of the archive")
    fetch.add_argument("--md5", help="expected MD5 of the archive")
    fetch.add_argument("--format", dest="fmt", help="loader format of a dataset fetched with --url")

    load = data.add("load", "turn a dataset on disk into landing batches", _load)
    load.add_argument("--format", dest="fmt", required=True, help=f"dataset format: {FORMATS_HELP}")
    load.add_argument("--path", required=True, help="dataset folder or file")
    load.add_argument("--out", help="landing folder (default: <lake>/landing)")
    load.add_argument("--batch-by", choices=("day", "month", "none"), help="batch period (default: data.load.batch_by)")
    load.add_argument("--map", dest="mapping", action="append", default=[], metavar="CANONICAL=SOURCE",
                      help="csv/parquet: canonical column name = column in the file (repeatable)")
    load.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                      help="loader option, e.g. time_unit=ms (csv/parquet), meta=meta_Books.jsonl (amazon)")

    synth = data.add("synth", "generate the synthetic marketplace as daily landing batches", _synth)
    synth.add_argument("--out", help="landing folder (default: <lake>/landing)")
    for flag, field in (("--users", "n_users"), ("--items", "n_items"), ("--interactions", "n_interactions"),
                        ("--days", "n_days"), ("--seed", "seed")):
        synth.add_argument(flag, dest=field, type=int, help=f"overrides data.synth.{field}")


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise ConfigError(f"{flag} {value!r}: expected KEY=VALUE")
        out[key.strip()] = rest.strip()
    return out


def _print(result) -> None:
    print(json.dumps(result.model_dump(mode="json"), indent=2))


def _fetch(args: argparse.Namespace, settings) -> int:
    from recaug.data.fetch import fetch

    cfg = settings.data.fetch
    result = fetch(args.name, args.dest or cfg.dest, url=args.url, sha256=args.sha256, md5=args.md5, fmt=args.fmt,
                   timeout=cfg.timeout_seconds, retries=cfg.retries)
    _print(result)
    return 0


def _load(args: argparse.Namespace, settings) -> int:
    from recaug.data.landing import load_to_landing

    options: dict = _pairs(args.options, "--option")
    if args.mapping:
        options["mapping"] = _pairs(args.mapping, "--map")
    out = args.out or settings.lake.url("landing")
    _print(load_to_landing(args.fmt, args.path, out, batch_by=args.batch_by or settings.data.load.batch_by, **options))
    return 0


def _synth(args: argparse.Namespace, settings) -> int:
    from pydantic import ValidationError

    from recaug.data.config import SynthConfig
    from recaug.data.synth import synthesize

    updates = {f: getattr(args, f) for f in ("n_users", "n_items", "n_interactions", "n_days", "seed")
               if getattr(args, f) is not None}
    try:
        synth_config = SynthConfig.model_validate({**settings.data.synth.model_dump(), **updates})
    except ValidationError as exc:
        raise ConfigError(f"data synth: {exc}") from exc
    settings = settings.model_copy(update={"data": settings.data.model_copy(update={"synth": synth_config})})
    _print(synthesize(settings, args.out or settings.lake.url("landing")))
    return 0
