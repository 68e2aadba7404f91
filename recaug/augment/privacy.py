"""The data-flow policy of the augmentation tasks, applied before any prompt is sent.

A prompt may leave the machine only through an OpenAI-compatible endpoint whose host
is not on the loopback. For such an endpoint each task's policy
(`augment.privacy.<task>`) decides: `local_only` refuses the task before anything is
sent, `pseudonymised` minimises the user's history (no dates; categories instead of
titles when `generalise_titles`), `allowed` sends what a local model gets. Prompts
never hold user ids in any policy; what does name a user inside the lake (the
generation cache's subject tags) is a keyed pseudonym (`recaug.privacy.pseudonyms`).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from recaug.errors import ConfigError

TASK_DATA = {
    "item": "catalogue fields of items",
    "profile": "users' recent items",
    "pick": "users' recent items and candidate items",
}
TASK_CAPS = {"item": "augment.max_items_per_run", "profile": "augment.max_profiles_per_run",
             "pick": "augment.interactions.max_users_per_run"}


class PrivacyRefused(ConfigError):
    """A task's data-flow policy forbids sending its prompts to the configured endpoint."""


@dataclass(frozen=True)
class DataFlow:
    """How one task's prompts are built for this run's endpoint."""

    task: str
    endpoint: str | None  # None: a local backend (no network)
    external: bool
    policy: str

    @property
    def minimised(self) -> bool:
        return self.external and self.policy == "pseudonymised"

    def describe(self) -> str:
        if not self.external:
            return "local" if self.endpoint is None else f"local endpoint {self.endpoint}"
        return f"{self.policy} to external endpoint {self.endpoint}"


def is_loopback_host(host: str) -> bool:
    """True when `host` is localhost or every address it resolves to is a loopback address.
    A name that does not resolve counts as external (the safe answer)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return _is_loopback(host)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError, OSError):
        return False
    addresses = {info[4][0].split("%", 1)[0] for info in infos}
    return bool(addresses) and all(_is_loopback(a) for a in addresses)


def _is_loopback(address: str) -> bool:
    """Loopback, also when written as an IPv4-mapped IPv6 address (::ffff:127.0.0.1)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def endpoint_is_external(endpoint: str | None, location: str) -> bool:
    """Whether prompts sent to `endpoint` leave the machine, given `augment.privacy.endpoint_location`."""
    if endpoint is None:
        return False
    if location != "auto":
        return location == "external"
    host = urlsplit(endpoint).hostname
    return not (host and is_loopback_host(host))


class PromptPrivacy:
    """The policy bound to one generator: which tasks may prompt, how histories are shaped,
    and the pseudonym that tags a user's cache entries. The runner holds one, so every
    caller that sends prompts through a GenerationRunner is under the policy."""

    def __init__(self, policy, endpoint: str | None, pseudonymise: Callable[[str], str] | None = None):
        self.policy = policy
        self.endpoint = endpoint
        self.external = endpoint_is_external(endpoint, policy.endpoint_location)
        self._pseudonymise = pseudonymise

    def flow(self, task: str) -> DataFlow:
        return DataFlow(task, self.endpoint, self.external, getattr(self.policy, task, "local_only"))

    def check(self, tasks: list[str]) -> dict[str, DataFlow]:
        """The flows of `tasks`; PrivacyRefused (naming the task, the endpoint and the
        setting to change) when one may not send to this endpoint."""
        flows = {t: self.flow(t) for t in tasks}
        refused = [f for f in flows.values() if f.external and f.policy == "local_only"]
        if refused:
            flow = refused[0]
            how = ("augment.privacy.endpoint_location=external" if self.policy.endpoint_location == "external"
                   else "its host is not on the loopback")
            raise PrivacyRefused(
                f"augment task '{flow.task}' would send {TASK_DATA.get(flow.task, 'its prompts')} to {self.endpoint}, "
                f"which is external ({how}), and augment.privacy.{flow.task}=local_only refuses that. Nothing was "
                f"sent. Set augment.privacy.{flow.task}=pseudonymised (no dates, categories for titles) or allowed, "
                f"or {TASK_CAPS.get(flow.task, 'its cap')}=0 to skip its LLM prompts, or use a local backend "
                "(docs/PRIVACY.md)" + (f"; also refused: {', '.join(f.task for f in refused[1:])}" if len(refused) > 1 else "")
            )
        return flows

    def shape(self, task: str) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
        """How `task` shows a user's history: unchanged, or minimised under `pseudonymised`."""
        flow = self.flow(task)
        generalise = self.policy.generalise_titles
        return lambda history: minimise_history(history, flow, generalise)

    def subject(self, user_id: str) -> str | None:
        return self._pseudonymise(user_id) if self._pseudonymise else None


def minimise_brief(brief: dict[str, str], generalise_titles: bool) -> dict[str, str]:
    """One history entry as a pseudonymised prompt shows it: no date, and with
    `generalise_titles` the categories instead of the title."""
    kept = {k: v for k, v in brief.items() if k != "date"}
    if generalise_titles:
        kept.pop("title", None)
        kept.setdefault("categories", "uncategorised")
    return kept


def minimise_history(history: list[dict[str, str]], flow: DataFlow | None, generalise_titles: bool) -> list[dict[str, str]]:
    """The history as this flow may send it (unchanged unless the flow is minimised)."""
    if flow is None or not flow.minimised:
        return history
    return [minimise_brief(b, generalise_titles) for b in history]
