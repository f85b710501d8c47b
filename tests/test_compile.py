"""torch.compile(fullgraph=True) traces the training-step hot paths without graph breaks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contradistinct import NegativeQueue
from contradistinct.functional import info_nce


def compiler_available() -> bool:
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not compiler_available(), reason="torch.compile needs a C++ compiler for the CPU backend"
)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_info_nce_with_a_negative_mask_compiles_and_matches_eager():
    def loss_and_grad(query, positive, negatives, mask):
        query = query.detach().requires_grad_(True)
        loss = info_nce(query, positive, negatives, temperature=0.1, negative_mask=mask)
        (grad,) = torch.autograd.grad(loss, query)
        return loss, grad

    # dynamic=True: one compilation serves both batch sizes (compiling dominates the test time).
    compiled = torch.compile(info_nce, fullgraph=True, dynamic=True)
    g = torch.Generator().manual_seed(0)
    for batch in (4, 6):  # the second call, with another batch size, must not fail either
        query = torch.randn(batch, 8, generator=g, requires_grad=True)
        positive, negatives = torch.randn(batch, 8, generator=g), torch.randn(32, 8, generator=g)
        mask = torch.arange(32) < 20
        loss = compiled(query, positive, negatives, temperature=0.1, negative_mask=mask)
        (grad,) = torch.autograd.grad(loss, query)
        expected_loss, expected_grad = loss_and_grad(query, positive, negatives, mask)
        torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)


def enqueue(queue: NegativeQueue, keys: torch.Tensor) -> None:
    queue.enqueue(keys)


def test_negative_queue_enqueue_compiles_and_matches_eager():
    compiled = torch.compile(enqueue, fullgraph=True, dynamic=True)
    queue, reference = NegativeQueue(size=10, dim=4), NegativeQueue(size=10, dim=4)
    g = torch.Generator().manual_seed(0)
    for batch in (3, 4, 6):  # later calls change the batch size and wrap the ring
        keys = F.normalize(torch.randn(batch, 4, generator=g), dim=1)
        compiled(queue, keys)
        reference.enqueue(keys)
        assert torch.equal(queue.keys, reference.keys)
        assert torch.equal(queue.ptr, reference.ptr)
        assert torch.equal(queue.count, reference.count)
