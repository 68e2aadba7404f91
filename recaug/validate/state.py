"""The ledger of processed landing batches (`state/batches.json`).

Written atomically after a batch's data is safely published (raw/ or quarantine/), so
a crash leaves at worst a published batch without its ledger entry, which the next run
recognises by content hash and completes.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from recaug import io

ACCEPTED = "accepted"
REJECTED = "rejected"


class BatchRecord(BaseModel):
    status: str = Field(description="accepted | rejected")
    location: str = Field(description="lake-relative directory holding the batch's bytes")
    files: dict[str, str] = Field(description="file name -> sha256")
    processed_at: str
    failures: int = 0


class Ledger(BaseModel):
    batches: dict[str, BatchRecord] = Field(default_factory=dict)

    @classmethod
    def load(cls, url: str) -> "Ledger":
        if not io.exists(url):
            return cls()
        return cls.model_validate(io.read_json(url))

    def save(self, url: str) -> None:
        io.write_json(url, self.model_dump(mode="json"))
