"""A test run leaves the user's home as it found it.

Runs tests that touch the per-user caches of the stack (matplotlib's font cache,
onnxruntime's device id, DVC and git in a temp repository, Feast) in a fresh pytest
process whose HOME is an empty folder and whose environment names none of the cache
variables tests/conftest.py sets: the folder must stay empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hermetic_env import hermetic_environment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TOUCH_THE_HOME = [
    "tests/unit/report/test_report_build.py",  # matplotlib
    "tests/unit/export/test_export_onnx.py::test_export_writes_model_and_parity_report",  # onnxruntime
    "tests/integration/test_versioning.py::test_same_run_id_is_idempotent_and_recorded",  # DVC, git
    "tests/integration/features/test_store.py",  # Feast
]


def as_a_fresh_user(home: Path) -> dict[str, str]:
    """This process's environment without the session's redirections, HOME an empty folder."""
    redirected = set(hermetic_environment(home, home)) - {"OMP_NUM_THREADS"}
    env = {name: value for name, value in os.environ.items() if name not in redirected}
    return {**env, "HOME": str(home)}


def test_representative_tests_write_nothing_into_the_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TOUCH_THE_HOME],
        cwd=ROOT, env=as_a_fresh_user(home), capture_output=True, text=True, timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    written = sorted(str(path.relative_to(home)) for path in home.rglob("*"))
    assert written == [], f"the tests wrote into HOME: {written}"
