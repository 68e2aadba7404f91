"""Loading the real local LLM in a task leaves stderr (which Airflow's task log shows at
error level) clean of library progress bars; recaug's own info lines say what loads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # loads the real SmolLM2 in a subprocess

LOAD_LIKE_A_TASK = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from recaug.logs import quiet_third_party
    quiet_third_party()  # what every Airflow task does before its stage (recaug_airflow.stage_runner)
    import torch
    torch.set_num_threads(1)
    from recaug.augment.backends.transformers_local import load_model
    load_model(None, None, "cpu")
""")


def test_model_loading_in_a_task_writes_no_progress_bar_to_stderr():
    # without quiet_third_party, stderr held "Converting and de-quantizing GGUF tensors...: 100%|..." lines
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    task = subprocess.run([sys.executable, "-c", LOAD_LIKE_A_TASK], capture_output=True, text=True, env=env,
                          timeout=500, check=True)
    assert "GGUF" not in task.stderr and "%|" not in task.stderr and "it/s" not in task.stderr, task.stderr
    assert "INFO recaug.augment.backends.transformers_local: loading LLM" in task.stdout
    assert "INFO recaug.augment.backends.transformers_local: LLM loaded in" in task.stdout
