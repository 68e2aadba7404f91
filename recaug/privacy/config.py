"""Privacy settings outside augmentation (`settings.privacy.*`; the LLM data-flow policy is
`augment.privacy.*`). docs/PRIVACY.md says what each one changes."""

from __future__ import annotations

from pydantic import BaseModel, Field

PERSONAL_FIELDS = ["user_id", "age", "gender", "occupation", "region", "zip_code", "email", "name", "ip"]


class PrivacyConfig(BaseModel):
    pseudonym_key_env: str | None = Field(
        "RECAUG_PSEUDONYM_KEY", description="environment variable holding the key of user pseudonyms; when unset, a "
        "random key is generated once and kept in <lake>/secrets/pseudonym.key (mode 0600, never versioned)"
    )
    personal_fields: list[str] = Field(
        PERSONAL_FIELDS, description="columns whose values are personal: masked in quarantine reports and logs"
    )
    dvc_remote_drop_columns: list[str] = Field(
        [], description="columns removed from the tables pushed to the DVC remote (the local DVC cache keeps the "
        "full tables; the remote gets a redacted copy of each Parquet/CSV file that has such a column)"
    )
