"""torch.compile(fullgraph=True) traces the training-step hot paths without graph breaks."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from contradistinct import (
    DeepSupervisionHead,
    MultiScaleContrastive,
    NegativeQueue,
    ProjectionHead,
)
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


def test_multiscale_contrastive_with_a_tensor_step_compiles_as_one_graph():
    # fullgraph=True fails on any graph break, such as reading the step on the host to decide
    # which scales run: the start steps must enter through the weights alone.
    torch.manual_seed(0)
    eager = MultiScaleContrastive(
        {"block1": DeepSupervisionHead(4, 8, spatial_size=4), "pool": ProjectionHead(4, 8)},
        queue_size=16,
        start_steps={"block1": 2},
        key_momentum=0.9,
    )
    module = copy.deepcopy(eager)
    compiled = torch.compile(module, fullgraph=True)
    g = torch.Generator().manual_seed(0)
    for step in range(4):  # crosses the start step without recompiling into another path
        queries = {"block1": torch.randn(3, 4, 4, 4, generator=g), "pool": torch.randn(3, 4)}
        keys = {"block1": torch.randn(3, 4, 4, 4, generator=g), "pool": torch.randn(3, 4)}
        expected = eager(queries, keys, step=torch.tensor(step))
        out = compiled(queries, keys, step=torch.tensor(step))
        torch.testing.assert_close(out.loss, expected.loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out.accuracy, expected.accuracy)
        for name in eager.names:
            torch.testing.assert_close(out.weights[name], expected.weights[name])
    torch.testing.assert_close(module.state_dict(), eager.state_dict())
