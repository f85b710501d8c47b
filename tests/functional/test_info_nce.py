"""InfoNCE (DC-VAE Eq. 6): properties, reference values, gradients, autocast and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.functional import contrastive_accuracy, info_nce, info_nce_logits

temperatures = st.floats(min_value=0.05, max_value=2.0)
sizes = st.tuples(
    st.integers(1, 8), st.integers(1, 24), st.integers(2, 12), st.integers(0, 2**31 - 1)
)


def _draw(batch: int, negs: int, dim: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, dim, generator=g, dtype=torch.float64),
        torch.randn(batch, dim, generator=g, dtype=torch.float64),
        torch.randn(negs, dim, generator=g, dtype=torch.float64),
    )


@given(sizes, temperatures)
def test_non_negative_and_matches_a_hand_written_softmax(size, tau):
    q, k, n = _draw(*size)
    loss = info_nce(q, k, n, temperature=tau, reduction="none")
    qn, kn, nn_ = (F.normalize(t.double(), dim=1) for t in (q, k, n))
    pos = torch.exp((qn * kn).sum(1) / tau)
    neg = torch.exp(qn @ nn_.T / tau).sum(1)
    expected = -torch.log(pos / (pos + neg))
    assert loss.dtype == torch.float64  # half precision is upcast to float32, float64 is kept
    assert (loss >= 0).all()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-4, atol=1e-5)


@given(st.integers(1, 6), st.integers(1, 40), st.integers(2, 10), temperatures)
def test_equals_log_k_plus_one_when_all_similarities_are_equal(batch, negs, dim, tau):
    v = torch.randn(dim)
    q = v.expand(batch, dim)
    loss = info_nce(q, 3.0 * q, v.expand(negs, dim), temperature=tau)
    torch.testing.assert_close(loss, torch.tensor(math.log(negs + 1)), rtol=1e-5, atol=1e-5)


@given(sizes, temperatures, st.floats(0.1, 10.0), st.floats(0.1, 10.0), st.floats(0.1, 10.0))
def test_invariant_to_positive_rescaling(size, tau, a, b, c):
    q, k, n = _draw(*size)
    base = info_nce(q, k, n, temperature=tau)
    scaled = info_nce(a * q, b * k, c * n, temperature=tau)
    torch.testing.assert_close(base, scaled, rtol=1e-4, atol=1e-5)


@given(sizes, temperatures, st.randoms(use_true_random=False))
def test_invariant_to_permuting_the_negatives(size, tau, rnd):
    q, k, n = _draw(*size)
    perm = list(range(n.shape[0]))
    rnd.shuffle(perm)
    torch.testing.assert_close(
        info_nce(q, k, n, temperature=tau),
        info_nce(q, k, n[perm], temperature=tau),
        rtol=1e-5,
        atol=1e-6,
    )


@given(st.integers(1, 20), temperatures, st.floats(-0.9, 0.8), st.floats(0.01, 0.1))
def test_decreases_as_the_positive_similarity_grows(negs, tau, cos, step):
    def positive_at(c: float) -> torch.Tensor:
        return torch.tensor([[c, math.sqrt(1 - c * c), 0.0]])

    q = torch.tensor([[1.0, 0.0, 0.0]])
    n = torch.randn(negs, 3, generator=torch.Generator().manual_seed(negs))
    lower = info_nce(q, positive_at(cos + step), n, temperature=tau)
    higher = info_nce(q, positive_at(cos), n, temperature=tau)
    assert lower < higher


def test_reference_value_by_hand():
    # q = e1, k+ = e1 (cos 1), negatives e2 (cos 0) and -e1 (cos -1), tau = 0.5:
    # loss = -log(e^2 / (e^2 + e^0 + e^-2)).
    q = torch.tensor([[1.0, 0.0]])
    n = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-2)))
    assert info_nce(q, q, n, temperature=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_positive_is_column_zero_and_masked_negatives_are_ignored():
    q, k, n = torch.randn(3, 4), torch.randn(3, 4), torch.randn(5, 4)
    logits = info_nce_logits(q, k, n, temperature=0.1)
    torch.testing.assert_close(
        logits[:, 0], (F.normalize(q) * F.normalize(k)).sum(1) / 0.1, rtol=1e-5, atol=1e-5
    )
    mask = torch.tensor([True, False, True, False, False])
    masked = info_nce(q, k, n, temperature=0.1, negative_mask=mask)
    torch.testing.assert_close(masked, info_nce(q, k, n[mask], temperature=0.1))
    per_row = torch.ones(3, 5, dtype=torch.bool)
    per_row[1, :] = False
    rows = info_nce(q, k, n, temperature=0.1, negative_mask=per_row, reduction="none")
    assert rows[1].item() == pytest.approx(0.0, abs=1e-6)


def test_in_batch_negatives_use_the_other_positives():
    q, k, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(6, 8)
    got = info_nce(q, k, n, temperature=0.2, in_batch_negatives=True, reduction="none")
    for i in range(4):
        others = torch.cat([k[:i], k[i + 1 :]])
        want = info_nce(q[i : i + 1], k[i : i + 1], torch.cat([n, others]), temperature=0.2)
        torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-6)
    only_batch = info_nce(q, k, temperature=0.2, in_batch_negatives=True)
    assert torch.isfinite(only_batch)


def test_reductions():
    q, k, n = torch.randn(5, 3), torch.randn(5, 3), torch.randn(7, 3)
    rows = info_nce(q, k, n, reduction="none")
    assert rows.shape == (5,)
    torch.testing.assert_close(info_nce(q, k, n, reduction="sum"), rows.sum())
    torch.testing.assert_close(info_nce(q, k, n), rows.mean())


def test_gradients_reach_query_and_positive_but_respect_detach():
    q = torch.randn(4, 8, requires_grad=True)
    k = torch.randn(4, 8, requires_grad=True)
    n = torch.randn(10, 8, requires_grad=True)
    info_nce(q, k.detach(), n.detach()).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert k.grad is None and n.grad is None


def test_stays_finite_for_tiny_temperatures_and_large_logits():
    q = torch.randn(8, 16)
    loss = info_nce(q, -q, q.repeat(4, 1), temperature=1e-4)
    assert torch.isfinite(loss)


def test_bf16_autocast_keeps_float32_logits():
    q, k, n = torch.randn(6, 16), torch.randn(6, 16), torch.randn(50, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = info_nce_logits(q.bfloat16(), k.bfloat16(), n.bfloat16())
        loss = info_nce(q.bfloat16(), k.bfloat16(), n.bfloat16())
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32
    ref = info_nce(q.bfloat16().float(), k.bfloat16().float(), n.bfloat16().float())
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-5)


def test_learnable_temperature_tensor_receives_gradient():
    log_tau = torch.tensor(math.log(0.1), requires_grad=True)
    q, k, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(9, 8)
    loss = info_nce(q, k, n, temperature=log_tau.exp())
    loss.backward()
    assert log_tau.grad is not None and torch.isfinite(log_tau.grad)


def test_contrastive_accuracy():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, -1.0], [1.0, 1.0, float("-inf")]])
    torch.testing.assert_close(contrastive_accuracy(logits), torch.tensor(2 / 3))


def test_contrastive_accuracy_of_an_empty_batch_is_refused():
    # issue 14: the mean over no rows was NaN.
    with pytest.raises(
        ValueError, match=r"logits must hold at least one sample, got shape \(0, 3\)"
    ):
        contrastive_accuracy(torch.zeros(0, 3))


def test_an_invalid_tensor_temperature_off_the_cpu_gives_nan_not_a_plausible_loss():
    # Where reading the value would cost a host sync, the device turns it into NaN instead.
    q, k, n = (torch.randn(*shape, device="meta") for shape in ((4, 8), (4, 8), (5, 8)))
    for tau in (-0.07, 0.0, math.inf):
        logits = info_nce_logits(q, k, n, temperature=torch.tensor(tau, device="meta"))
        assert logits.shape == (4, 6) and logits.device.type == "meta"
    # The same guard, run where values exist: the CPU path under torch.compile's flag.
    from contradistinct.functional import contrastive

    guarded = contrastive._check_temperature
    q = torch.randn(4, 8)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.compiler, "is_compiling", lambda: True)
        for tau in (-0.07, 0.0, math.inf, math.nan):
            assert guarded(torch.tensor(tau), q).isnan()
        assert guarded(torch.tensor(0.5), q) == 0.5


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_info_nce_infers_shapes_on_the_meta_device(reduction):
    # issue 14: torch.autocast(device_type="meta") failed inside info_nce.
    q, k, n = (torch.randn(*shape, device="meta") for shape in ((4, 8), (4, 8), (5, 8)))
    mask = torch.ones(5, dtype=torch.bool, device="meta")
    loss = info_nce(q, k, n, negative_mask=mask, reduction=reduction, in_batch_negatives=True)
    assert loss.device.type == "meta"
    assert loss.shape == ((4,) if reduction == "none" else ())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"query": torch.randn(4)}, ValueError, r"query must have 2 dimensions .*\(4,\)"),
        ({"positive": torch.randn(3, 8)}, ValueError, r"positive must have the shape of query"),
        ({"negatives": torch.randn(5, 7)}, ValueError, r"negatives must have embedding size D = 8"),
        ({"negatives": torch.randn(5)}, ValueError, r"negatives must have 2 dimensions"),
        ({"temperature": 0.0}, ValueError, r"temperature must be positive and finite, got 0.0"),
        ({"temperature": -1.0}, ValueError, r"temperature must be positive"),
        ({"temperature": torch.ones(2)}, ValueError, r"temperature must be a scalar tensor"),
        # issue 14: inf gave the constant log(K + 1) with accuracy 1; tensors were not checked.
        (
            {"temperature": math.inf},
            ValueError,
            r"temperature must be positive and finite, got inf",
        ),
        ({"temperature": math.nan}, ValueError, r"temperature must be positive and finite"),
        ({"temperature": torch.tensor(-0.07)}, ValueError, r"temperature must be .* got -0.07"),
        ({"temperature": torch.tensor(0.0)}, ValueError, r"temperature must be positive"),
        ({"temperature": torch.tensor(math.inf)}, ValueError, r"temperature must be positive"),
        ({"temperature": torch.tensor(1)}, TypeError, r"temperature must be a floating-point"),
        ({"temperature": torch.tensor(1.0, device="meta")}, ValueError, r"query and temperature"),
        ({"positive": torch.randn(4, 8, device="meta")}, ValueError, r"query and positive must be"),
        ({"negatives": torch.randn(5, 8, device="meta")}, ValueError, r"query and negatives"),
        (
            {"negative_mask": torch.ones(5, dtype=torch.bool, device="meta")},
            ValueError,
            r"query and negative_mask must be on the same device",
        ),
        ({"reduction": "avg"}, ValueError, r"reduction must be one of"),
        ({"negative_mask": torch.ones(4, dtype=torch.bool)}, ValueError, r"negative_mask must"),
        ({"negative_mask": torch.ones(5)}, TypeError, r"negative_mask must be a bool tensor"),
        ({"query": torch.ones(4, 8, dtype=torch.long)}, TypeError, r"query must be a floating"),
        ({"negatives": None}, ValueError, r"InfoNCE needs negatives"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"query": torch.randn(4, 8), "positive": torch.randn(4, 8)}
    args["negatives"] = torch.randn(5, 8)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        info_nce(**args)


@given(sizes, temperatures)
def test_masked_negatives_get_no_gradient_and_match_dropping_them(size, tau):
    batch, negs, dim, seed = size
    q, k, n = _draw(batch, negs, dim, seed)
    mask = torch.rand(batch, negs, generator=torch.Generator().manual_seed(seed)) < 0.5
    q.requires_grad_(True)
    logits = info_nce_logits(q, k, n, temperature=tau, negative_mask=mask)
    assert torch.isneginf(logits[:, 1:][~mask]).all()
    masked = info_nce(q, k, n, temperature=tau, negative_mask=mask, reduction="none")
    (grad,) = torch.autograd.grad(masked.sum(), q)
    for row in range(batch):
        query = q[row : row + 1].detach().requires_grad_(True)
        kept = n[mask[row]] if mask[row].any() else None
        if kept is None:  # every negative masked: only the positive remains, loss 0
            assert masked[row].item() == pytest.approx(0.0, abs=1e-12)
            continue
        expected = info_nce(query, k[row : row + 1], kept, temperature=tau)
        close = {"rtol": 1e-5, "atol": 1e-6}
        torch.testing.assert_close(masked[row], expected, **close)
        torch.testing.assert_close(grad[row], torch.autograd.grad(expected, query)[0][0], **close)


@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_contrastive_accuracy_counts_rows_whose_positive_ties_or_beats_every_negative(
    batch, columns, seed
):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randint(-2, 3, (batch, columns), generator=g).float()  # small ints: ties
    pairwise = (logits[:, :1] >= logits[:, 1:]).all(dim=1).float().mean()
    torch.testing.assert_close(contrastive_accuracy(logits), pairwise)
