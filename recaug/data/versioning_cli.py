"""`recaug data version | versions | checkout`: DVC versions of the data lake."""

from __future__ import annotations

import json


def register(commands) -> None:
    data = commands.group("data", "data generation, loading and versioning")
    parser = data.add("version", "dvc add + push accepted batches and derived data; write manifests/<run>.json", _version)
    parser.add_argument("targets", nargs="*", help="lake-relative paths (default: raw/<batch> for every batch + derived sections)")
    data.add("versions", "list recorded data versions (manifests/)", _versions)
    parser = data.add("checkout", "restore a recorded data version byte for byte (batches accepted after it are "
                      "re-queued for the next ingest; replaced unversioned data is backed up)", _checkout)
    parser.add_argument("version", help="a version from `recaug data versions`")
    parser.add_argument("--force", action="store_true",
                        help="restore a version recorded without its batch ledger (the ledger is then left as it is)")


def _version(args, settings) -> int:
    from recaug.data.versioning import version_data

    manifest = version_data(settings, args.targets or None)
    print(json.dumps({"version": manifest.version, "targets": manifest.hashes()}, indent=2))
    return 0


def _versions(args, settings) -> int:
    from recaug.data.versioning import list_versions

    versions = list_versions(settings)
    if not versions:
        print("no data versions yet (run `recaug data version`)")
    for manifest in versions:
        print(f"{manifest.version}\t{manifest.created_at}\t{len(manifest.targets)} target(s)\t{', '.join(manifest.targets)}")
    return 0


def _checkout(args, settings) -> int:
    from recaug.data.versioning import checkout_version

    result = checkout_version(settings, args.version, force=args.force)
    print(json.dumps(result.model_dump(mode="json"), indent=2))
    return 0
