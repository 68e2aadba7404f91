"""The environment of a hermetic test session: every per-user cache and config in one folder."""

from __future__ import annotations

import os
from pathlib import Path


def hermetic_environment(home: Path, real_home: Path) -> dict[str, str]:
    """Variables that point every per-user cache and config of the stack into `home`."""
    env = {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "HF_HOME": str(home / ".cache" / "huggingface"),
        "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache"),  # default /var/tmp/dvc, shared by all users
        "DVC_GLOBAL_CONFIG_DIR": str(home / ".config" / "dvc"),
        # no usage reports leave the machine, and none of their ids are written
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "FEAST_USAGE": "False",
        "DO_NOT_TRACK": "1",
        # what recaug.logs.quiet_third_party would otherwise set for good
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # tests share two cores with everything else; keep native thread pools small
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    pyenv = real_home / ".pyenv"
    if "PYENV_ROOT" not in os.environ and pyenv.is_dir():
        env["PYENV_ROOT"] = str(pyenv)  # pyenv shims on PATH find their interpreters by $HOME otherwise
    return env
