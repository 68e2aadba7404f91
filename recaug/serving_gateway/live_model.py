"""Which model version the gateway pins requests to, with that version's vocabulary.

A nightly deploy may change the catalogue (new items shift every index), so a history must
be encoded, and the model's top ids decoded, with the vocabulary of the exact version that
answers. The live version is the one recaug.deploy.deploy.live_record names (a deployed,
smoke-tested version); a version Triton has loaded without such a record is never used.

Requests read the pinned version from memory. At most every `check_interval_s`, a request
starts a look at the deploy records folder in the background (names, sizes and times of the
records, not their contents); only when that changed are the records read and the new
version's vocabulary loaded, off the event loop. A record rewritten in place (in_progress ->
deployed) changes its size and time, so it is seen too. A request that finds its pinned
version gone from Triton forces that refresh and waits for it. Vocabularies of the last few
versions stay cached, so a version switch back and forth costs nothing.

While an online experiment runs (recaug.experiments) against the live version, a user whose
salted hash falls in the challenger's share is pinned the same way to the challenger's
version, with its own vocabulary; the experiment records in the lake are watched with the
deploy records. An experiment whose champion is no longer the live version is not served.

With an explicit artifact (`recaug serve gateway --artifact DIR`), requests are pinned to
the newest deployed version whose record names that artifact directory (no experiment).

A version exported with a user tower carries the codes it encodes users with (export.json's
`user_features`); its requests also send the user's declared attributes and profile
embedding, encoded with that version's codes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from recaug import io
from recaug.errors import RecaugError

if TYPE_CHECKING:
    import numpy as np

    from recaug.deploy.deploy import DeployRecord
    from recaug.features.online import UserContext
    from recaug.models.user_spec import UserFeatureSpec
    from recaug.experiments.split import Arm
    from recaug.experiments.store import Experiment
    from recaug.export.evidence import ItemEvidence
    from recaug.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """One deployed version: what to call Triton with and how to encode/decode for it."""

    version: int
    artifact_dir: str
    top_k: int
    vocab: list[str | None] = field(repr=False)
    index: dict[str, int] = field(repr=False)
    diversity: float = 0.0  # MMR weight chosen on validation (recaug.train.diversity): the default of requests
    evidence: "ItemEvidence | None" = field(default=None, repr=False, compare=False)  # for explanations
    users: "UserFeatureSpec | None" = field(default=None, repr=False, compare=False)  # codes of its user tower

    def encode(self, item_ids: list[str], timestamps: list[int]) -> tuple[list[int], list[int]]:
        """History (oldest first) as this version's item indices; items it does not know are left out."""
        pairs = [(self.index[item], int(t)) for item, t in zip(item_ids, timestamps) if item in self.index]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    @property
    def reads_profile(self) -> bool:
        """The version's graph takes the user's profile embedding (a larger online lookup)."""
        return self.users is not None and self.users.profile_dim > 0

    def describes(self, context: "UserContext") -> list[str]:
        """What this version's user tower reads about the user: the declared attributes and the
        profile it has inputs for (empty without a tower, or when the user gave none of them)."""
        if self.users is None:
            return []
        read = [name for name in (*self.users.categorical, *self.users.numeric) if name in context.attributes]
        return read + (["profile"] if self.reads_profile and context.profile_embedding else [])

    def user_inputs(self, context: "UserContext") -> dict[str, "np.ndarray"]:
        """The user tower's inputs for this user (a batch of one); empty without a tower."""
        from recaug.models.user_spec import PROFILE

        if self.users is None:
            return {}
        return self.users.model_inputs([{**context.attributes, PROFILE: context.profile_embedding}])

    def decode(self, index: int) -> str | None:
        return self.vocab[index] if 0 < index < len(self.vocab) else None


@dataclass(frozen=True)
class Pinned:
    """What the records say serves: the live version and, during an experiment, the challenger."""

    champion: ServedModel | None
    experiment: "Experiment | None" = None
    challenger: ServedModel | None = None

    def for_user(self, user_id: str) -> tuple["Arm | None", ServedModel | None]:
        """(arm, version) of this user's requests; arm None when no experiment runs."""
        from recaug.experiments.split import CHALLENGER, CHAMPION, assign_arm

        if self.experiment is None or self.challenger is None:
            return None, self.champion
        if assign_arm(user_id, self.experiment.salt, self.experiment.share) == CHALLENGER:
            return CHALLENGER, self.challenger
        return CHAMPION, self.champion


NOTHING_PINNED = Pinned(None)


class VersionUnusable(RecaugError):
    """A deployed version's artifact cannot be used to encode/decode (missing or changed since deploy)."""


class LiveModel:
    def __init__(self, settings: "Settings", artifact_dir: str | None = None, check_interval_s: float = 0.5,
                 vocabularies_kept: int = 4, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.model_name = settings.deploy.model_name
        self.pinned_artifact = _normalised(artifact_dir) if artifact_dir else None
        self.check_interval_s = check_interval_s
        self.vocabularies_kept = vocabularies_kept
        self._clock = clock
        self._folder = settings.lake.url("deploy", "records")
        self._experiments_folder = settings.lake.url("experiments")
        self._cache: OrderedDict[int, ServedModel] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="deploy-records")
        self._pinned: Pinned = NOTHING_PINNED
        self._listing: tuple | None = None
        self._checked_at = float("-inf")
        self._pending: asyncio.Future | None = None  # background check
        self._forced: asyncio.Future | None = None  # re-read after Triton said the pinned version is gone
        self._install(*self._read(None, force=True))

    @property
    def served(self) -> ServedModel | None:
        """The pinned live version as of now (no I/O)."""
        return self._pinned.champion

    @property
    def pinned(self) -> Pinned:
        """Live version, experiment and challenger as of now (no I/O)."""
        return self._pinned

    def current(self) -> ServedModel | None:
        """The pinned live version; starts a background check of the records when one is due."""
        return self.current_pinned().champion

    def current_pinned(self) -> Pinned:
        """What is pinned; starts a background check of the records when one is due."""
        if self._pending is None and self._clock() - self._checked_at >= self.check_interval_s:
            self._checked_at = self._clock()
            self._pending = asyncio.get_running_loop().run_in_executor(self._executor, self._read, self._listing, False)
            self._pending.add_done_callback(self._installed)
        return self._pinned

    async def refresh(self) -> Pinned:
        """Re-read the records now (Triton said the pinned version is gone) and return what they
        pin. Requests that fail together share one re-read."""
        if self._forced is None:
            self._forced = asyncio.ensure_future(self._forced_read())
        try:
            await asyncio.shield(self._forced)
        finally:
            if self._forced is not None and self._forced.done():
                self._forced = None
        return self._pinned

    async def _forced_read(self) -> None:
        if self._pending is not None:
            await asyncio.shield(self._pending)
        listing, served = await asyncio.get_running_loop().run_in_executor(self._executor, self._read, None, True)
        self._install(listing, served)
        self._checked_at = self._clock()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- internals (the _read side runs on the records thread) ------------------------
    def _installed(self, future: asyncio.Future) -> None:
        self._pending = None
        if future.cancelled():
            return
        if future.exception() is not None:  # _read logs and keeps the version; this is a bug guard
            log.error("gateway: checking deploy records failed: %s", future.exception())
            return
        self._install(*future.result())

    def _install(self, listing: tuple | None, pinned: "Pinned | _Unchanged") -> None:
        if pinned is UNCHANGED:
            return
        self._listing = listing
        previous, self._pinned = self._pinned, pinned
        served = pinned.champion
        if served is not None and (previous.champion is None or previous.champion.version != served.version):
            log.info("gateway: requests now go to %s version %d (%s, %d items, top-%d)", self.model_name,
                     served.version, served.artifact_dir, len(served.vocab) - 1, served.top_k)
        experiment, challenger = pinned.experiment, pinned.challenger
        if experiment is not None and challenger is not None and (
                previous.experiment is None or previous.experiment.experiment_id != experiment.experiment_id):
            log.info("gateway: experiment %s: %.0f%% of users go to challenger version %d", experiment.experiment_id,
                     100 * experiment.share, challenger.version)
        elif previous.experiment is not None and experiment is None:
            log.info("gateway: experiment %s no longer served", previous.experiment.experiment_id)

    def _read(self, previous_listing: tuple | None, force: bool):
        """(listing, Pinned) when something changed, else (listing, UNCHANGED)."""
        try:
            listing = self._list_records()
        except Exception as exc:  # unreadable records folder: keep serving what is pinned
            log.warning("gateway: cannot list deploy records in %s (%s: %s); keeping the pinned version",
                        self._folder, type(exc).__name__, exc)
            return previous_listing, UNCHANGED
        if not force and listing == previous_listing:
            return listing, UNCHANGED
        try:
            record = self._choose_record()
            if record is None:
                log.warning("gateway: no deployed version of %s in %s%s; answering with popular items",
                            self.model_name, self._folder,
                            f" with artifact {self.pinned_artifact}" if self.pinned_artifact else "")
                return listing, NOTHING_PINNED
            champion = self._model(record)
        except VersionUnusable as exc:
            log.error("gateway: %s; answering with popular items", exc)
            return listing, NOTHING_PINNED
        except Exception as exc:  # a record being rewritten, a remote hiccup: look again at the next check
            log.warning("gateway: cannot read deploy records in %s (%s: %s); keeping the pinned version",
                        self._folder, type(exc).__name__, exc)
            return previous_listing, UNCHANGED
        return listing, self._with_experiment(champion)

    def _with_experiment(self, champion: ServedModel) -> Pinned:
        """The running experiment against `champion` with its challenger's vocabulary; the
        champion alone when there is none or it cannot be served."""
        from recaug.deploy.deploy import list_records
        from recaug.experiments.store import running_experiment

        if self.pinned_artifact is not None:
            return Pinned(champion)
        try:
            experiment = running_experiment(self.settings)
            if experiment is None:
                return Pinned(champion)
            if experiment.champion_version != champion.version:
                log.warning("gateway: experiment %s compares against version %d, but version %d is live; "
                            "not serving its challenger", experiment.experiment_id, experiment.champion_version,
                            champion.version)
                return Pinned(champion)
            records = [r for r in list_records(self.settings, self.model_name) if r.outcome == "deployed"
                       and r.role == "challenger" and r.version == experiment.challenger_version]
            if not records:
                log.warning("gateway: experiment %s names challenger version %d, which has no deployed record; "
                            "not serving it", experiment.experiment_id, experiment.challenger_version)
                return Pinned(champion)
            return Pinned(champion, experiment, self._model(records[-1]))
        except Exception as exc:  # an unreadable experiment must not stop the champion from serving
            log.error("gateway: cannot serve the running experiment (%s: %s); every user gets version %d",
                      type(exc).__name__, exc, champion.version)
            return Pinned(champion)

    def _list_records(self) -> tuple:
        """(name, size, modification time) of every deploy and experiment record: both are
        rewritten in place (in_progress -> deployed, running -> stopped), so names alone would
        miss a change."""
        return self._list_folder(self._folder) + self._list_folder(self._experiments_folder)

    @staticmethod
    def _list_folder(folder: str) -> tuple:
        fs, path = io.filesystem(folder)
        if not fs.exists(path):
            return ()
        if io.is_local(folder):
            with os.scandir(path) as entries:
                return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries
                                    if e.name.endswith(".json")))
        return tuple(sorted((e["name"], e.get("size"), str(e.get("mtime") or e.get("LastModified") or e.get("ETag")))
                            for e in fs.ls(path, detail=True) if e["name"].endswith(".json")))

    def _choose_record(self) -> "DeployRecord | None":
        from recaug.deploy.deploy import list_records, live_record

        if self.pinned_artifact is None:
            return live_record(self.settings)
        matching = [r for r in list_records(self.settings, self.model_name)
                    if r.outcome == "deployed" and _normalised(r.artifact_dir) == self.pinned_artifact]
        return matching[-1] if matching else None

    def _model(self, record: "DeployRecord") -> ServedModel:
        with self._cache_lock:
            cached = self._cache.get(record.version)
            if cached is not None:
                self._cache.move_to_end(record.version)
                return cached
        model = _load(record)
        with self._cache_lock:
            self._cache[record.version] = model
            while len(self._cache) > self.vocabularies_kept:
                self._cache.popitem(last=False)
        return model


class _Unchanged:
    """Marker: the records did not change since the last look."""


UNCHANGED = _Unchanged()


def _load(record: "DeployRecord") -> ServedModel:
    """The vocabulary and top-K of a deployed version, refusing an artifact changed since its deploy."""
    from recaug.export.onnx import load_export

    import hashlib

    try:
        document = load_export(record.artifact_dir)
        vocab_bytes = io.read_bytes(io.join(record.artifact_dir, "item_vocab.json"))
        vocab: list[str | None] = json.loads(vocab_bytes)
    except Exception as exc:
        raise VersionUnusable(f"version {record.version} of {record.model_name}: cannot read its artifact "
                              f"{record.artifact_dir} ({type(exc).__name__}: {exc})") from exc
    if document.get("model_sha256") != record.model_sha256:
        raise VersionUnusable(f"version {record.version} of {record.model_name}: {record.artifact_dir} was exported "
                              "again after the deploy (model hash differs from the deploy record); its vocabulary may "
                              "not match the served model, so the gateway will not decode its answers")
    recorded_vocab = getattr(record, "vocab_sha256", "")  # records written before it existed have none
    if recorded_vocab and hashlib.sha256(vocab_bytes).hexdigest() != recorded_vocab:
        raise VersionUnusable(f"version {record.version} of {record.model_name}: {record.artifact_dir}/item_vocab.json "
                              "changed after the deploy (hash differs from the deploy record); the gateway will not "
                              "decode this version's answers with it")
    index = {item: i for i, item in enumerate(vocab) if item is not None}
    return ServedModel(version=int(record.version), artifact_dir=str(record.artifact_dir),
                       top_k=int(document["top_k"]), vocab=vocab, index=index, diversity=_chosen_diversity(record),
                       evidence=_evidence(record, len(vocab)), users=_user_spec(record, document))


def _user_spec(record: "DeployRecord", document: dict) -> "UserFeatureSpec | None":
    """The codes of the version's user tower; None for a graph without user inputs."""
    from recaug.models.user_spec import UserFeatureSpec

    if not document.get("user_inputs"):
        return None
    spec = UserFeatureSpec.from_json(document.get("user_features"))
    if spec.input_widths != document["user_inputs"]:
        raise VersionUnusable(f"version {record.version} of {record.model_name}: {record.artifact_dir}/export.json "
                              f"declares user inputs {document['user_inputs']} but its user_features encode "
                              f"{spec.input_widths}; re-run `recaug export`")
    return spec


def _chosen_diversity(record: "DeployRecord") -> float:
    """The MMR weight chosen on validation for this version; 0 (the model's order) when its
    metrics.json has none or cannot be read (it only sets a default, so it never blocks serving)."""
    from recaug.train.diversity import served_weight

    url = io.join(record.artifact_dir, "metrics.json")
    try:
        return served_weight(io.read_json(url)) if io.exists(url) else 0.0
    except Exception as exc:
        log.warning("gateway: version %s: cannot read the default diversity from %s (%s: %s); using 0",
                    record.version, url, type(exc).__name__, exc)
        return 0.0


def _evidence(record: "DeployRecord", vocab_size: int) -> "ItemEvidence | None":
    """The version's explanation evidence; without it (exported before it existed, or not
    matching the vocabulary) the version still serves, its items explained without history."""
    from recaug.export.evidence import EVIDENCE_FILE, read_evidence

    try:
        evidence = read_evidence(record.artifact_dir)
    except Exception as exc:
        log.warning("gateway: version %d: cannot read %s/%s (%s: %s); its answers are explained without history",
                    record.version, record.artifact_dir, EVIDENCE_FILE, type(exc).__name__, exc)
        return None
    if evidence is None:
        log.warning("gateway: version %d: %s has no %s (exported before explanations; `recaug export` adds it); "
                    "its answers are explained without history", record.version, record.artifact_dir, EVIDENCE_FILE)
    elif evidence.vectors.shape[0] != vocab_size:
        log.warning("gateway: version %d: %s/%s has %d rows for %d vocabulary entries; its answers are explained "
                    "without history", record.version, record.artifact_dir, EVIDENCE_FILE, evidence.vectors.shape[0],
                    vocab_size)
        return None
    return evidence


def _normalised(path: str) -> str:
    path = str(path)
    return os.path.realpath(path) if io.is_local(path) and "://" not in path else path.rstrip("/")
