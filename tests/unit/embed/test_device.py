from __future__ import annotations

import pytest

from recaug.embed.device import onnx_providers, select_device
from recaug.embed.errors import EmbedError


def test_device_is_chosen_at_run_time():
    import torch

    has_cuda = torch.cuda.is_available()
    assert select_device("auto") == ("cuda" if has_cuda else "cpu")
    assert select_device("cpu") == "cpu"
    if not has_cuda:
        assert select_device() == "cpu"  # this machine
        with pytest.raises(EmbedError, match="no CUDA"):
            select_device("cuda")


def test_cpu_provider_is_always_the_fallback():
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert onnx_providers("cuda")[-1] == "CPUExecutionProvider"
