"""One typed settings object for every stage.

Precedence (lowest first): defaults in code < `params.yaml` < environment variables
(`RECAUG_<SECTION>__<KEY>`, e.g. `RECAUG_TRAIN__EPOCHS=3`) < explicit overrides
(CLI `--set train.epochs=3`, Airflow Params). The defaults run on one machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from recaug.augment.config import AugmentConfig
from recaug.data.config import DataConfig
from recaug.deploy.config import DeployConfig
from recaug.embed.config import EmbedConfig
from recaug.experiments.config import ExperimentConfig
from recaug.export.config import ExportConfig
from recaug.events.config import EventsConfig
from recaug.features.config import FeaturesConfig
from recaug.lake import Lake
from recaug.lake_lock import LakeLockConfig
from recaug.models.config import ModelConfig
from recaug.privacy.config import PrivacyConfig
from recaug.train.config import TrainConfig
from recaug.validate.config import ValidateConfig

PARAMS_ENV = "RECAUG_PARAMS"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECAUG_", env_nested_delimiter="__", extra="forbid")

    lake_root: str = Field("var/lake", description="data lake root: a local path or an fsspec URL")
    run_id: str | None = Field(None, description="identifies one pipeline run; derived when absent")
    data: DataConfig = DataConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    augment: AugmentConfig = AugmentConfig()
    embed: EmbedConfig = EmbedConfig()
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()
    deploy: DeployConfig = DeployConfig()
    events: EventsConfig = EventsConfig()
    experiment: ExperimentConfig = ExperimentConfig()
    lock: LakeLockConfig = LakeLockConfig()
    privacy: PrivacyConfig = Field(PrivacyConfig(), description="pseudonym key, personal fields, DVC remote column drop")

    @property
    def lake(self) -> Lake:
        return Lake.at(self.lake_root)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ParamsYamlSource(settings_cls))


class _ParamsYamlSource(PydanticBaseSettingsSource):
    """Reads `params.yaml` (the file DVC also reads) from $RECAUG_PARAMS or the cwd."""

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get(PARAMS_ENV, "params.yaml"))
        if not path.is_file():
            return {}
        with path.open() as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return data


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ["train.epochs=3", "lake_root=/x"] into a nested dict (values parsed as YAML)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"override {pair!r} must look like section.key=value")
        dotted, raw = pair.split("=", 1)
        node = result
        keys = dotted.strip().split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = yaml.safe_load(raw)
    return result



def load_settings(overrides: dict[str, Any] | list[str] | None = None) -> Settings:
    """Build the settings with explicit overrides on top of env and params.yaml."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    overrides = overrides or {}
    return Settings(**overrides)


def to_params(settings: Settings) -> dict[str, Any]:
    """The settings as a plain nested dict (as written to manifests and reports)."""
    return settings.model_dump(mode="json", by_alias=True)
