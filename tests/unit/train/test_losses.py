from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from recaug.train.losses import linear_cross_entropy


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 1000])
def test_chunked_cross_entropy_matches_the_plain_one_with_its_gradients(chunk_rows):
    torch.manual_seed(0)
    query = torch.randn(50, 8, requires_grad=True)
    items = torch.randn(30, 8, requires_grad=True)
    targets = torch.randint(0, 30, (50,))
    weights = torch.rand(50)
    expected = F.cross_entropy(query @ items.T, targets, reduction="none")
    (expected * weights).sum().backward()
    grads = query.grad.clone(), items.grad.clone()
    query.grad = items.grad = None
    losses = linear_cross_entropy(query, items, targets, chunk_rows=chunk_rows)
    (losses * weights).sum().backward()
    assert losses.dtype == torch.float32
    assert torch.allclose(losses, expected, atol=1e-5)
    assert torch.allclose(query.grad, grads[0], atol=1e-5) and torch.allclose(items.grad, grads[1], atol=1e-5)


def test_under_bf16_autocast_matmuls_are_bf16_and_losses_fp32():
    torch.manual_seed(1)
    query = torch.randn(40, 16, requires_grad=True)
    items = torch.randn(100, 16, requires_grad=True)
    targets = torch.randint(0, 100, (40,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = F.cross_entropy((query @ items.T).float(), targets, reduction="none")
        losses = linear_cross_entropy(query, items, targets, chunk_rows=16)
    assert losses.dtype == torch.float32
    assert torch.allclose(losses, expected, atol=1e-4)
    losses.sum().backward()
    assert query.grad.dtype == items.grad.dtype == torch.float32  # fp32 parameters get fp32 gradients
