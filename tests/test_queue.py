"""NegativeQueue: ring-buffer semantics, masking, state_dict and bad input (DC-VAE Eq. 6, MoCo)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct import NegativeQueue


def _batches(sizes: list[int], dim: int, start: int = 0) -> list[torch.Tensor]:
    out, n = [], start
    for size in sizes:
        out.append(torch.arange(n, n + size * dim, dtype=torch.float32).reshape(size, dim))
        n += size * dim
    return out


@given(st.integers(1, 20), st.integers(1, 4), st.lists(st.integers(1, 30), max_size=8))
def test_holds_exactly_the_newest_keys(size, dim, sizes):
    queue = NegativeQueue(size, dim)
    batches = _batches(sizes, dim)
    for b in batches:
        queue.enqueue(b)
    everything = torch.cat(batches) if batches else torch.zeros(0, dim)
    kept = min(len(everything), size)
    expected = everything[len(everything) - kept :]
    mask = queue.valid_mask()
    assert int(mask.sum()) == kept == int(queue.count)
    assert int(queue.ptr) == len(everything) % size
    held = queue.keys[mask]
    # The set of held rows is the newest `kept` rows, whatever the wrap-around.
    assert sorted(map(tuple, held.tolist())) == sorted(map(tuple, expected.tolist()))
    # And the ring order is preserved: reading from the pointer gives oldest to newest.
    if kept == size:
        order = torch.roll(queue.keys, -int(queue.ptr), dims=0)
        torch.testing.assert_close(order, expected)


@given(st.integers(1, 12), st.lists(st.integers(1, 15), min_size=1, max_size=6))
def test_state_dict_round_trip_restores_identical_behaviour(size, sizes):
    a = NegativeQueue(size, 3)
    for b in _batches(sizes, 3):
        a.enqueue(b)
    b_queue = NegativeQueue(size, 3)
    b_queue.load_state_dict(a.state_dict())
    nxt = _batches([5], 3, start=10_000)[0]
    a.enqueue(nxt)
    b_queue.enqueue(nxt)
    for name in ("keys", "ptr", "count", "finite"):
        assert torch.equal(getattr(a, name), getattr(b_queue, name))
    assert torch.equal(a.valid_mask(), b_queue.valid_mask())


def test_state_dict_holds_pointer_and_count():
    queue = NegativeQueue(4, 2)
    queue.enqueue(torch.ones(3, 2))
    state = queue.state_dict()
    assert set(state) == {"keys", "ptr", "count", "finite"}
    assert state["ptr"].item() == 3 and state["count"].item() == 3


@pytest.mark.parametrize(("size", "dim"), [(5, 2), (4, 3)])
def test_loading_another_size_or_dim_is_a_clear_error(size, dim):
    queue = NegativeQueue(4, 2)
    with pytest.raises(ValueError, match=rf"\({size}, {dim}\) into a queue of .* \(4, 2\)"):
        queue.load_state_dict(NegativeQueue(size, dim).state_dict())


def test_random_init_is_full_and_normalised():
    queue = NegativeQueue(16, 8, init="random")
    assert queue.valid_mask().all()
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(16))


def test_enqueue_detaches_and_casts():
    queue = NegativeQueue(4, 2)
    keys = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    queue.enqueue(keys)
    assert queue.keys.dtype == torch.float32 and not queue.keys.requires_grad


def test_reset_empties():
    queue = NegativeQueue(4, 2)
    queue.enqueue(torch.ones(3, 2))
    queue.reset()
    assert not queue.valid_mask().any() and int(queue.ptr) == 0


def test_forward_returns_keys_and_mask():
    queue = NegativeQueue(3, 2)
    queue.enqueue(torch.ones(1, 2))
    keys, mask = queue()
    assert keys is queue.keys and mask.tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda q: q.enqueue(torch.ones(3)), ValueError, r"keys must have 2 dimensions .*\(3,\)"),
        (lambda q: q.enqueue(torch.ones(3, 5)), ValueError, r"shape \(B, 2\) .* got \(3, 5\)"),
        (lambda q: q.enqueue(torch.ones(3, 2, dtype=torch.long)), TypeError, "floating"),
    ],
)
def test_bad_enqueue(call, error, match):
    with pytest.raises(error, match=match):
        call(NegativeQueue(4, 2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 0, "dim": 2}, ValueError, "size must be a positive int, got 0"),
        ({"size": 4, "dim": -1}, ValueError, "dim must be a positive int"),
        ({"size": 4.0, "dim": 2}, TypeError, "size must be an int"),
        ({"size": 4, "dim": 2, "init": "zeros"}, ValueError, "init must be one of"),
    ],
)
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        NegativeQueue(**kwargs)


# A non-finite key never becomes a negative (issue 14: one NaN key poisoned 16 batches).


@given(
    st.integers(1, 12),
    st.lists(st.integers(1, 6), min_size=1, max_size=6),
    st.data(),
)
def test_a_non_finite_key_is_never_a_valid_negative(size, sizes, data):
    queue, written = NegativeQueue(size, 2), []
    for batch in sizes:
        keys = torch.randn(batch, 2)
        bad = data.draw(st.lists(st.booleans(), min_size=batch, max_size=batch))
        value = data.draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
        keys[torch.tensor(bad), 0] = value
        queue.enqueue(keys)
        written.extend(keys)
        held, mask = queue()
        assert torch.isfinite(held).all()
        # Exactly the finite rows among the newest `count` written are valid negatives.
        newest = torch.stack(written[-int(queue.count) :])
        assert int(mask.sum()) == int(newest.isfinite().all(dim=1).sum())
        finite_rows = {tuple(row.tolist()) for row in newest if row.isfinite().all()}
        assert {tuple(row.tolist()) for row in held[mask]} == finite_rows


def test_a_nan_key_takes_its_slot_and_is_masked_until_overwritten():
    queue = NegativeQueue(4, 2)
    queue.enqueue(torch.tensor([[1.0, 0.0], [float("nan"), 1.0], [0.0, 1.0]]))
    assert queue.valid_mask().tolist() == [True, False, True, False]
    assert int(queue.ptr) == 3 and int(queue.count) == 3
    assert queue.keys[1].tolist() == [0.0, 0.0]
    queue.enqueue(torch.ones(3, 2))  # slots 3, 0, 1: the masked slot is overwritten
    assert queue.valid_mask().all()


def test_a_state_with_non_finite_keys_loads_them_masked():
    queue = NegativeQueue(3, 2)
    queue.enqueue(torch.ones(3, 2))
    state = queue.state_dict()
    state["keys"][2] = float("inf")
    restored = NegativeQueue(3, 2)
    restored.load_state_dict(state)
    assert restored.valid_mask().tolist() == [True, True, False]
    assert torch.isfinite(restored.keys).all()


# Loading validates the state (issue 14: count=99 at size 16 marked zero keys valid).


def _state(size=16, dim=2, filled=5, **changes):
    queue = NegativeQueue(size, dim)
    queue.enqueue(torch.randn(filled, dim))
    state = queue.state_dict()
    state.update(changes)
    return state


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"count": torch.tensor(99)}, r"ptr = 5 and count = 99; .* 0 <= count <= 16"),
        ({"count": torch.tensor(-3)}, r"count = -3"),
        ({"ptr": torch.tensor(16)}, r"ptr = 16 .* 0 <= ptr < 16"),
        ({"ptr": torch.tensor(-1)}, r"ptr = -1"),
        ({"ptr": torch.tensor(2)}, r"ptr = 2 but count = 5: .* must equal its count"),
        ({"ptr": torch.tensor(5.0)}, r"ptr must be a 0-dim integer tensor, got dtype .*float32"),
        ({"count": torch.tensor([5])}, r"count must be a 0-dim integer tensor, got .*\(1,\)"),
        ({"count": torch.tensor(True)}, r"count must be a 0-dim integer tensor"),
        ({"keys": torch.zeros(16, 2, dtype=torch.long)}, r"keys must be a floating tensor"),
        ({"keys": [[0.0, 0.0]] * 16}, r"keys must be a floating tensor, got list"),
        ({"finite": torch.ones(16)}, r"finite must be a \(K,\) bool tensor"),
        ({"finite": torch.ones(3, dtype=torch.bool)}, r"finite must be a \(K,\) bool tensor"),
    ],
)
def test_loading_an_inconsistent_state_is_a_clear_error(changes, match):
    queue = NegativeQueue(16, 2)
    before = {name: value.clone() for name, value in queue.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        queue.load_state_dict(_state(**changes))
    for name, value in queue.state_dict().items():  # nothing was half-loaded
        assert torch.equal(value, before[name])


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("kept", [("keys",), ("keys", "ptr"), ("ptr", "count")])
def test_a_partial_state_is_refused_even_under_strict_false(strict, kept):
    state = {name: value for name, value in _state().items() if name in kept}
    with pytest.raises(ValueError, match=r"holds .* but not .* keys, ptr and count only mean"):
        NegativeQueue(16, 2).load_state_dict(state, strict=strict)


def test_a_state_without_finite_has_it_inferred_from_the_keys():
    # States saved before the ``finite`` buffer existed: every finite loaded key stays valid.
    state = _state(filled=5)
    del state["finite"]
    state["keys"][1, 0] = float("nan")
    queue = NegativeQueue(16, 2)
    result = queue.load_state_dict(state, strict=True)
    assert not result.missing_keys
    assert queue.valid_mask()[:6].tolist() == [True, False, True, True, True, False]


def test_a_state_without_any_queue_entry_leaves_the_queue_alone_under_strict_false():
    queue = NegativeQueue(16, 2)
    queue.enqueue(torch.ones(2, 2))
    result = queue.load_state_dict({}, strict=False)
    assert set(result.missing_keys) == {"keys", "ptr", "count", "finite"}
    assert int(queue.count) == 2


def test_a_full_queue_may_have_any_pointer():
    state = _state(size=4, filled=6)
    assert int(state["ptr"]) == 2 and int(state["count"]) == 4
    NegativeQueue(4, 2).load_state_dict(state)


def test_an_empty_batch_changes_nothing():
    queue = NegativeQueue(4, 2)
    queue.enqueue(torch.ones(1, 2))
    before = {name: value.clone() for name, value in queue.state_dict().items()}
    queue.enqueue(torch.ones(0, 2))
    for name, value in queue.state_dict().items():
        assert torch.equal(value, before[name])
