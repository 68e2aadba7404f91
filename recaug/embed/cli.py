"""`recaug embed [run|merge]`: embed item texts and user profiles (optionally sharded)."""

from __future__ import annotations

import argparse
import json


def register(commands) -> None:
    embed = commands.add(
        "embed",
        "embed item texts and user profiles (only new/changed texts are encoded); "
        "`recaug embed` runs and merges, `--shard i --num-shards n` runs one shard, `merge` combines shards",
        _embed,
    )
    embed.add_argument("action", nargs="?", choices=("run", "merge"), default="run",
                       help="run (default): embed one shard; merge: combine all shards into embeddings/")
    embed.add_argument("--shard", type=int, default=0, help="this worker's shard index (0-based)")
    embed.add_argument("--num-shards", type=int, default=1, help="number of shards (1: run and merge in one go)")
    embed.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")


def _embed(args: argparse.Namespace, settings) -> int:
    from recaug.embed.job import merge_shards, run_embedding

    if args.action == "merge":
        print(json.dumps(merge_shards(settings, args.num_shards).model_dump(mode="json"), indent=2))
        return 0
    result = run_embedding(settings, args.shard, args.num_shards, progress=not args.no_progress)
    output = {"shard": result.model_dump(mode="json")}
    if args.num_shards == 1:
        output["merged"] = merge_shards(settings, 1).model_dump(mode="json")
    print(json.dumps(output, indent=2))
    return 0
