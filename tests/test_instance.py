"""InstanceLoss: Eq. 6 against the queue, enqueue order, accuracy, reduction, temperature."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from contradistinct import InstanceLoss, InstanceOutput
from contradistinct.functional import contrastive_accuracy, info_nce, info_nce_logits


@given(st.integers(1, 10), st.integers(1, 40), st.integers(0, 1000))
def test_loss_uses_the_queue_before_this_batch_is_enqueued(batch, queue_size, seed):
    g = torch.Generator().manual_seed(seed)
    criterion = InstanceLoss(dim=4, queue_size=queue_size)
    old = torch.randn(3, 4, generator=g)
    criterion.queue.enqueue(F.normalize(old))
    q, k = torch.randn(batch, 4, generator=g), torch.randn(batch, 4, generator=g)
    out = criterion(q, k)
    kept = min(3, queue_size)
    expected = info_nce(q, k, old[3 - kept :], temperature=0.07)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)
    accuracy = contrastive_accuracy(info_nce_logits(q, k, old[3 - kept :], temperature=0.07))
    torch.testing.assert_close(out.accuracy, accuracy)
    assert int(criterion.queue.count) == min(3 + batch, queue_size)


@given(st.integers(1, 10), st.sampled_from(["mean", "sum", "none"]), st.integers(0, 1000))
def test_reduction_matches_the_functional_form(batch, reduction, seed):
    g = torch.Generator().manual_seed(seed)
    criterion = InstanceLoss(dim=4, queue_size=16, queue_init="random", reduction=reduction)
    negatives = criterion.queue.keys.clone()
    q, k = torch.randn(batch, 4, generator=g), torch.randn(batch, 4, generator=g)
    out = criterion(q, k)
    expected = info_nce(q, k, negatives, reduction=reduction)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)
    assert out.loss.shape == ((batch,) if reduction == "none" else ())
    assert out.accuracy.shape == ()


def test_returns_a_named_output_and_keeps_no_accuracy_state():
    criterion = InstanceLoss(dim=8, queue_size=32)
    out = criterion(torch.randn(4, 8), torch.randn(4, 8))
    assert isinstance(out, InstanceOutput) and out._fields == ("loss", "accuracy")
    assert not hasattr(criterion, "accuracy")
    assert set(criterion.state_dict()) == {
        "queue.keys",
        "queue.ptr",
        "queue.count",
        "queue.finite",
        "fixed_temperature",
    }


def test_empty_queue_gives_zero_loss_and_full_accuracy():
    criterion = InstanceLoss(dim=8, queue_size=32)
    out = criterion(torch.randn(4, 8), torch.randn(4, 8))
    assert out.loss.item() == 0.0 and out.accuracy.item() == 1.0


def test_enqueue_false_leaves_the_queue_alone():
    criterion = InstanceLoss(dim=8, queue_size=32)
    criterion(torch.randn(4, 8), torch.randn(4, 8), enqueue=False)
    assert int(criterion.queue.count) == 0


def test_queue_holds_normalised_keys():
    criterion = InstanceLoss(dim=8, queue_size=32)
    criterion(torch.randn(4, 8), 5 * torch.randn(4, 8))
    torch.testing.assert_close(criterion.queue.keys[:4].norm(dim=1), torch.ones(4))


def test_accuracy_is_a_tensor_and_correct():
    criterion = InstanceLoss(dim=2, queue_size=8)
    criterion.queue.enqueue(torch.tensor([[0.0, 1.0]]))
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    accuracy = criterion(q, k).accuracy
    assert isinstance(accuracy, torch.Tensor) and not accuracy.requires_grad
    assert accuracy.item() == pytest.approx(0.5)


def test_keys_never_receive_gradients_queries_do():
    criterion = InstanceLoss(dim=8, queue_size=32, queue_init="random")
    q = torch.randn(4, 8, requires_grad=True)
    k = torch.randn(4, 8, requires_grad=True)
    criterion(q, k).loss.backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert k.grad is None


def test_learnable_temperature_is_clamped_and_trained():
    criterion = InstanceLoss(dim=8, queue_size=32, learnable_temperature=True, queue_init="random")
    assert isinstance(criterion.temperature, torch.Tensor)
    torch.testing.assert_close(criterion.temperature, torch.tensor(0.07))
    criterion(torch.randn(4, 8), torch.randn(4, 8)).loss.backward()
    assert criterion.log_temperature.grad is not None
    with torch.no_grad():
        criterion.log_temperature.fill_(math.log(1e-6))
    assert criterion.temperature.item() == pytest.approx(0.01)


def test_in_batch_negatives_match_the_functional_form():
    criterion = InstanceLoss(dim=8, queue_size=16, in_batch_negatives=True)
    q, k = torch.randn(5, 8), torch.randn(5, 8)
    expected = info_nce(q, k, temperature=0.07, in_batch_negatives=True)
    torch.testing.assert_close(criterion(q, k).loss, expected, rtol=1e-5, atol=1e-5)


def test_bf16_autocast():
    criterion = InstanceLoss(dim=16, queue_size=64, queue_init="random")
    q = torch.randn(8, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = criterion(q.bfloat16(), torch.randn(8, 16).bfloat16()).loss
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert q.grad is not None


def test_state_dict_restores_queue_and_temperature():
    a = InstanceLoss(dim=4, queue_size=8, learnable_temperature=True)
    a(torch.randn(3, 4), torch.randn(3, 4))
    b = InstanceLoss(dim=4, queue_size=8, learnable_temperature=True)
    b.load_state_dict(a.state_dict())
    q, k = torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(a(q, k), b(q, k))


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "match"),
    [
        ((4, 8), (4, 7), r"query and key must both have shape \(B, 8\), got query \(4, 8\)"),
        ((4, 7), (4, 7), r"got query \(4, 7\) and key \(4, 7\)"),
        ((4, 8), (3, 8), r"key \(3, 8\)"),
        ((8,), (8,), r"query must have 2 dimensions"),
    ],
)
def test_bad_shapes(q_shape, k_shape, match):
    with pytest.raises(ValueError, match=match):
        InstanceLoss(dim=8, queue_size=16)(torch.randn(q_shape), torch.randn(k_shape))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"temperature": -0.1}, "temperature must be positive"),
        ({"temperature": math.inf}, "temperature must be positive and finite, got inf"),
        ({"temperature": math.nan}, "temperature must be positive and finite, got nan"),
        ({"max_temperature": math.inf}, "max_temperature must be positive and finite"),
        ({"min_temperature": 0.5, "max_temperature": 0.1}, "min_temperature must not exceed"),
        ({"queue_size": 0}, "size must be a positive int"),
        ({"temperature": 2.0, "learnable_temperature": True}, r"must lie in \[min_temperature"),
        ({"reduction": "batchmean"}, r"reduction must be one of \('mean', 'sum', 'none'\)"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InstanceLoss(**kwargs)


# The temperature is part of the state (issue 14: a tau=0.5 state loaded into tau=0.07 silently).


@pytest.mark.parametrize(
    ("saved", "loading", "match"),
    [
        ({"temperature": 0.5}, {"temperature": 0.07}, r"saved with temperature=0.5 .* has "
         r"temperature=0.07"),
        ({"learnable_temperature": True}, {}, r"saved with a learnable temperature .* has "
         r"temperature=0.07"),
        ({}, {"learnable_temperature": True}, r"saved with temperature=0.07 .* has a learnable"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("strict", [True, False])
def test_loading_another_temperature_setting_is_refused(saved, loading, match, strict):
    state = InstanceLoss(dim=4, queue_size=8, **saved).state_dict()
    with pytest.raises(ValueError, match=match):
        InstanceLoss(dim=4, queue_size=8, **loading).load_state_dict(state, strict=strict)


def test_the_same_temperature_loads_and_old_states_without_it_still_load():
    a = InstanceLoss(dim=4, queue_size=8, temperature=0.5)
    a(torch.randn(3, 4), torch.randn(3, 4))
    b = InstanceLoss(dim=4, queue_size=8, temperature=0.5)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.queue.keys, a.queue.keys)
    old = {k: v for k, v in a.state_dict().items() if k != "fixed_temperature"}
    InstanceLoss(dim=4, queue_size=8, temperature=0.07).load_state_dict(old)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_a_state_saved_in_another_dtype_matches_its_own_temperature(dtype):
    saved = InstanceLoss(dim=4, queue_size=8, temperature=0.07).to(dtype).state_dict()
    loading = InstanceLoss(dim=4, queue_size=8, temperature=0.07)
    loading.load_state_dict(saved)
    again = InstanceLoss(dim=4, queue_size=8, temperature=0.07)
    again.load_state_dict(loading.state_dict())  # the record did not take the saved rounding
    with pytest.raises(ValueError, match="temperature=0.5"):
        InstanceLoss(dim=4, queue_size=8, temperature=0.5).load_state_dict(saved)


def test_a_nan_key_poisons_only_its_own_batch():
    # issue 14: one NaN key made every later loss NaN for 16 batches (size 64, batch 4).
    torch.manual_seed(0)
    criterion = InstanceLoss(dim=8, queue_size=64)
    for _ in range(3):
        criterion(torch.randn(4, 8), torch.randn(4, 8))
    key = torch.randn(4, 8)
    key[2, 5] = float("nan")
    assert not criterion(torch.randn(4, 8), key).loss.isfinite()
    for _ in range(20):
        out = criterion(torch.randn(4, 8), torch.randn(4, 8))
        assert out.loss.isfinite() and out.accuracy.isfinite()


def test_infers_shapes_on_the_meta_device():
    # issue 14: torch.autocast(device_type="meta") failed in info_nce and everything above it.
    criterion = InstanceLoss(dim=8, queue_size=16, learnable_temperature=True).to("meta")
    out = criterion(torch.randn(4, 8, device="meta"), torch.randn(4, 8, device="meta"))
    assert out.loss.device.type == "meta" and out.loss.shape == ()


def test_inputs_on_another_device_than_the_module_name_the_fix():
    criterion = InstanceLoss(dim=8, queue_size=16)
    meta = torch.randn(4, 8, device="meta")
    with pytest.raises(ValueError, match=r"query is on meta but this InstanceLoss .* on cpu"):
        criterion(meta, meta)
    with pytest.raises(ValueError, match=r"query and key must be on the same device"):
        criterion(torch.randn(4, 8), meta)
