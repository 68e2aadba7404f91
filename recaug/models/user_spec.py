"""The user tower's feature codes: raw attributes and profile -> model inputs, without torch.

`UserFeatureSpec` is what the model learnt the codes from; it is saved in params.json and
export.json so that training, the exported graph and the gateway encode a user alike. It
lives apart from the tower (recaug.models.user_tower) because the gateway encodes users
for Triton and never imports torch.

The exported graph takes one input per non-empty part of the spec (a model whose training
users had no visible profile has no profile input): `user_categorical` int64 [B, C] (code
= position in the spec's values + 1, 0 = missing/unseen), `user_numeric` float32 [B, K]
(raw values, NaN = missing; the graph standardises and buckets them), `user_profile`
float32 [B, P] (zeros = no profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from recaug.models.user_tower import UserInputs

CATEGORICAL = ("gender", "occupation", "region")
NUMERIC = ("age",)
PROFILE = "profile_embedding"
NUMERIC_BUCKETS = 8
# exported input name -> numpy dtype, in the order the graph takes them (after history, timestamps, now)
INPUT_TYPES = {"user_categorical": "int64", "user_numeric": "float32", "user_profile": "float32"}


@dataclass(frozen=True)
class UserFeatureSpec:
    """Which user features the tower reads and how raw values become model inputs."""

    categorical: dict[str, list[str]]  # field -> values; code = position + 1, 0 = missing/unknown
    numeric: dict[str, dict[str, Any]]  # field -> {"mean", "std", "edges"}
    profile_dim: int

    @property
    def empty(self) -> bool:
        return not self.categorical and not self.numeric and not self.profile_dim

    @property
    def input_widths(self) -> dict[str, int]:
        """Exported input name -> width, for the parts this spec has (none when empty)."""
        widths = {"user_categorical": len(self.categorical), "user_numeric": len(self.numeric),
                  "user_profile": self.profile_dim}
        return {name: width for name, width in widths.items() if width}

    @classmethod
    def fit(cls, frame: "pd.DataFrame | None") -> "UserFeatureSpec":
        """Codes, standardisation and quantile edges from the training users' features."""
        import pandas as pd

        if frame is None or frame.empty:
            return cls({}, {}, 0)
        categorical = {}
        for name in CATEGORICAL:
            if name in frame:
                values = sorted(frame[name].dropna().astype(str).unique())
                if values:
                    categorical[name] = values
        numeric = {}
        for name in NUMERIC:
            values = pd.to_numeric(frame[name], errors="coerce").dropna().to_numpy(dtype=float) if name in frame else []
            if len(values):
                edges = np.unique(np.quantile(values, np.linspace(0, 1, NUMERIC_BUCKETS + 1)[1:-1]))
                numeric[name] = {"mean": float(values.mean()), "std": float(values.std() or 1.0),
                                 "edges": [float(e) for e in edges]}
        profiles = [v for v in frame[PROFILE] if v is not None and len(v)] if PROFILE in frame else []
        return cls(categorical, numeric, int(len(profiles[0])) if profiles else 0)

    def to_json(self) -> dict[str, Any]:
        return {"categorical": self.categorical, "numeric": self.numeric, "profile_dim": self.profile_dim}

    @classmethod
    def from_json(cls, document: dict[str, Any] | None) -> "UserFeatureSpec":
        if not document:
            return cls({}, {}, 0)
        return cls(dict(document["categorical"]), dict(document["numeric"]), int(document["profile_dim"]))

    def arrays(self, columns: Mapping[str, Sequence[Any]], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw features column-wise (attribute name or `profile_embedding` -> n values; absent
        columns count as missing) -> (categorical int64 [n, C], numeric float32 [n, K], profile
        float32 [n, P]); values never seen in training and missing values get 0 / NaN / zeros."""
        codes = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for column, (name, values) in enumerate(self.categorical.items()):
            lookup = {value: code for code, value in enumerate(values, start=1)}
            raw = columns.get(name) or [None] * n
            codes[:, column] = [0 if _missing(v) else lookup.get(str(v), 0) for v in raw]
        numbers = np.full((n, len(self.numeric)), np.nan, dtype=np.float32)
        for column, name in enumerate(self.numeric):
            if columns.get(name) is not None:
                numbers[:, column] = [_number(v) for v in columns[name]]
        profile = np.zeros((n, self.profile_dim), dtype=np.float32)
        if self.profile_dim and columns.get(PROFILE) is not None:
            for row, vector in enumerate(columns[PROFILE]):
                if vector is not None and len(vector) == self.profile_dim:
                    profile[row] = np.asarray(vector, dtype=np.float32)
        return codes, numbers, profile

    def model_inputs(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """The exported graph's user inputs for `rows` (one mapping of raw features per user)."""
        columns = {name: [row.get(name) for row in rows] for name in (*self.categorical, *self.numeric, PROFILE)}
        arrays = dict(zip(INPUT_TYPES, self.arrays(columns, len(rows))))
        return {name: arrays[name] for name in self.input_widths}

    def encode(self, frame: "pd.DataFrame") -> "UserInputs":
        """Raw features (one row per user: attribute columns, `profile_embedding` lists or None)
        -> the tower's torch inputs."""
        import torch

        from recaug.models.user_tower import UserInputs

        columns = {name: frame[name].tolist() for name in frame.columns}
        return UserInputs(*(torch.from_numpy(a) for a in self.arrays(columns, len(frame))))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:  # pandas.NA refuses to be a bool
        return True


def _number(value: Any) -> float:
    if _missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
