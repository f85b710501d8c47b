"""MultiScaleContrastive: per-scale InfoNCE (DC-VAE Eq. 6), weights, start steps, key momentum."""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from contradistinct import (
    IELBO,
    DeepSupervisionHead,
    FeatureTaps,
    InstanceLoss,
    LocalPatchHead,
    MomentumEncoder,
    MultiScaleContrastive,
    MultiScaleOutput,
    ProjectionHead,
)

B, C, S, D = 4, 6, 4, 8


def make_heads() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "block1": DeepSupervisionHead(C, D, spatial_size=S),
        "block2.0": LocalPatchHead(C, D, locations=2),
        "head": ProjectionHead(C, D),
    }


def features(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "block1": torch.randn(B, C, S, S, generator=g),
        "block2.0": torch.randn(B, C, S, S, generator=g),
        "head": torch.randn(B, C, generator=g),
    }


def queue_state(contrast: MultiScaleContrastive, name: str) -> list[torch.Tensor]:
    queue = contrast.instance_losses[name].queue
    return [queue.keys.clone(), queue.ptr.clone(), queue.count.clone()]


def test_matches_one_instance_loss_per_scale_by_hand() -> None:
    heads = {"block1": DeepSupervisionHead(C, D, spatial_size=S), "head": ProjectionHead(C, D)}
    contrast = MultiScaleContrastive(copy.deepcopy(heads), queue_size=16, temperature=0.1)
    references = {name: InstanceLoss(D, 16, 0.1) for name in heads}
    for seed in range(6):  # enough batches to fill and wrap the queues
        q, k = features(seed), features(100 + seed)
        out = contrast(q, k)
        expected = {
            name: references[name](heads[name](q[name]), heads[name](k[name])) for name in heads
        }
        for name in heads:
            torch.testing.assert_close(out.losses[name], expected[name].loss)
            torch.testing.assert_close(out.accuracies[name], expected[name].accuracy)
        total = (expected["block1"].loss + expected["head"].loss) / 2
        torch.testing.assert_close(out.loss, total)
        accuracy = (expected["block1"].accuracy + expected["head"].accuracy) / 2
        torch.testing.assert_close(out.accuracy, accuracy)


@given(
    starts=st.lists(st.integers(0, 4), min_size=3, max_size=3),
    step=st.integers(0, 5),
    as_tensor=st.booleans(),
    explicit=st.one_of(st.none(), st.lists(st.floats(0.0, 3.0), min_size=3, max_size=3)),
)
def test_start_steps_only_enter_through_the_weights(
    starts: list[int], step: int, as_tensor: bool, explicit: list[float] | None
) -> None:
    names = list(make_heads())
    weights = None if explicit is None else dict(zip(names, explicit, strict=True))
    contrast = MultiScaleContrastive(
        make_heads(),
        queue_size=32,
        weights=weights,
        start_steps=dict(zip(names, starts, strict=True)),
    )
    contrast(features(0), features(1), step=0)
    before = {name: queue_state(contrast, name) for name in names}
    out = contrast(features(2), features(3), step=torch.tensor(step) if as_tensor else step)
    active = {name: step >= start for name, start in zip(names, starts, strict=True)}
    num_active = sum(active.values())
    for name in names:
        # Every scale computes its loss and enqueues its keys, active or not.
        assert bool(out.losses[name] > 0)
        rows = 2 * B if name == "block2.0" else B
        assert int(queue_state(contrast, name)[1]) == (int(before[name][1]) + rows) % 32
        if active[name]:
            expected = 1 / num_active if weights is None else weights[name]
            torch.testing.assert_close(out.weights[name], torch.tensor(expected))
        else:
            assert out.weights[name].item() == 0.0
    total = sum(out.weights[name] * out.losses[name] for name in names)
    torch.testing.assert_close(out.loss, torch.as_tensor(total, dtype=torch.float32))
    if weights is None and num_active:
        torch.testing.assert_close(sum(out.weights.values()), torch.tensor(1.0))
    active_accuracy = sum(out.accuracies[name] for name in names if active[name])
    torch.testing.assert_close(out.accuracy, torch.as_tensor(active_accuracy / max(num_active, 1)))


def test_a_scale_before_its_start_step_adds_nothing_to_loss_or_gradient() -> None:
    contrast = MultiScaleContrastive(
        make_heads(), queue_size=16, start_steps={"block1": 5}, queue_init="random"
    )
    late = contrast.heads["block1"]
    out = contrast(features(0), features(1), step=torch.tensor(4))
    others = [name for name in contrast.names if name != "block1"]
    torch.testing.assert_close(out.loss, sum(out.losses[name] for name in others) / 2)
    out.loss.backward()
    assert all(not bool(p.grad.any()) for p in late.parameters())
    assert all(bool(p.grad.any()) for p in contrast.heads["head"].parameters())


def test_no_active_scale_gives_exact_zero_and_still_fills_the_queues() -> None:
    contrast = MultiScaleContrastive(
        make_heads(), queue_size=8, start_steps=dict.fromkeys(make_heads(), 3)
    )
    for step in (2, torch.tensor(2)):
        out = contrast(features(0), features(1), step=step)
        assert out.loss.item() == 0.0 and out.accuracy.item() == 0.0
    assert all(int(loss.queue.count) == 8 for loss in contrast.instance_losses.values())


def test_tensor_step_matches_int_step() -> None:
    by_int = MultiScaleContrastive(make_heads(), queue_size=16, start_steps={"head": 2})
    by_tensor = copy.deepcopy(by_int)
    for step in range(4):
        q, k = features(step), features(50 + step)
        for name in ("block2.0",):  # the patch head samples: give both the same draws
            by_int.heads[name].generator = torch.Generator().manual_seed(step)
            by_tensor.heads[name].generator = torch.Generator().manual_seed(step)
        a = by_int(q, k, step=step)
        b = by_tensor(q, k, step=torch.tensor(step))
        torch.testing.assert_close(a.loss, b.loss)
        for name in a.losses:
            torch.testing.assert_close(a.losses[name], b.losses[name])
            torch.testing.assert_close(a.weights[name], b.weights[name])
        torch.testing.assert_close(by_int.state_dict(), by_tensor.state_dict())


class Trunk(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, C, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(C, C, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(C, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block2(self.block1(x))
        self.pooled = h.sum((2, 3))
        return self.head(self.pooled)


@pytest.mark.parametrize("step", [10, torch.tensor(10)])
def test_gradients_reach_heads_and_query_network_not_keys(step: int | torch.Tensor) -> None:
    trunk = Trunk()
    momentum = MomentumEncoder(trunk)
    layers = ["block1", "block2.0", "block2"]
    contrast = MultiScaleContrastive(
        {
            "block1": DeepSupervisionHead(C, D, spatial_size=S),
            "block2.0": LocalPatchHead(C, D),
            "block2": ProjectionHead(C, D),
        },
        queue_size=16,
        start_steps={"block2.0": 5},
        queue_init="random",  # an empty queue has no negatives, hence zero loss and gradient
    )
    images = torch.randn(B, 1, S, S, requires_grad=True)  # stands in for the decoder output
    real = torch.randn(B, 1, S, S, requires_grad=True)
    with FeatureTaps(trunk, layers) as taps:
        trunk(images)
    with momentum.taps(layers) as key_taps:
        momentum(real)
    out = contrast(taps.features(), key_taps.features(), step=step)
    out.loss.backward()
    assert images.grad is not None and bool(images.grad.abs().sum() > 0)
    for parameter in [*trunk.block1.parameters(), *trunk.block2.parameters()]:
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0)
    for head in contrast.heads.values():
        for parameter in head.parameters():
            assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0)
    assert real.grad is None
    assert all(p.grad is None for p in momentum.parameters())


def test_key_features_with_gradients_stay_out_of_the_graph() -> None:
    contrast = MultiScaleContrastive(make_heads(), queue_size=16)
    q = {name: f.requires_grad_() for name, f in features(0).items()}
    k = {name: f.requires_grad_() for name, f in features(1).items()}
    contrast(q, k).loss.backward()
    assert all(f.grad is not None for f in q.values())
    assert all(f.grad is None for f in k.values())


def test_bf16_autocast_gives_float32_loss() -> None:
    contrast = MultiScaleContrastive(make_heads(), queue_size=16)
    q = {name: f.requires_grad_() for name, f in features(0).items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for seed in range(3):
            out = contrast(q, features(seed + 1))
    assert out.loss.dtype == torch.float32 and bool(torch.isfinite(out.loss))
    out.loss.backward()
    assert all(bool(torch.isfinite(f.grad).all()) for f in q.values())


def test_ielbo_accepts_the_multiscale_module() -> None:
    contrast = MultiScaleContrastive(make_heads(), queue_size=16, start_steps={"head": 1})
    reference = copy.deepcopy(contrast)
    ielbo = IELBO(contrast, kl_weight=0.5, kl_reduction="mean")
    mu, logvar = torch.ones(B, 3), torch.zeros(B, 3)
    for step in range(3):
        torch.manual_seed(step)  # the patch head draws its locations from the global RNG
        out = ielbo(features(step), features(10 + step), mu, logvar, step=step)
        torch.manual_seed(step)
        expected = reference(features(step), features(10 + step), step=step)
        torch.testing.assert_close(out.instance, expected.loss)
        torch.testing.assert_close(out.accuracy, expected.accuracy)
        torch.testing.assert_close(out.loss, out.instance + 0.5 * 1.5)
    with pytest.raises(ValueError, match="step is required"):
        ielbo(features(0), features(1), mu, logvar)


def test_state_dict_restores_the_queues() -> None:
    contrast = MultiScaleContrastive(make_heads(), queue_size=16)
    for seed in range(3):
        contrast(features(seed), features(seed + 10))
    restored = MultiScaleContrastive(make_heads(), queue_size=16)
    restored.load_state_dict(contrast.state_dict())
    for name in contrast.names:
        for a, b in zip(queue_state(contrast, name), queue_state(restored, name), strict=True):
            assert torch.equal(a, b)
    assert any(key.startswith("_heads.block2:0.") for key in contrast.state_dict())


def test_any_module_can_be_a_head() -> None:
    assert MultiScaleContrastive({"a": nn.Linear(C, 5)}).instance_losses["a"].dim == 5
    assert MultiScaleContrastive({"a": nn.Identity()}, dim=C).instance_losses["a"].dim == C
    contrast = MultiScaleContrastive(
        {"a": nn.Linear(C, 5), "b": nn.Sequential(nn.Flatten(), nn.Linear(C * S * S, 5))}, dim=5
    )
    query = {"a": torch.randn(B, C), "b": torch.randn(B, C, S, S)}
    out = contrast(query, {name: torch.randn_like(f) for name, f in query.items()})
    assert isinstance(out, MultiScaleOutput) and out.loss.shape == ()


def test_a_feature_that_does_not_fit_its_head_names_the_layer_and_shapes() -> None:
    contrast = MultiScaleContrastive(make_heads(), queue_size=16)
    q = features(0) | {"block1": torch.randn(B, C, S + 1, S + 1)}
    message = (
        "queries['block1'] does not fit the head of layer 'block1' (DeepSupervisionHead): "
        f"features must have shape (B, {C}, {S}, {S}), got ({B}, {C}, {S + 1}, {S + 1})"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        contrast(q, features(1))
    k = features(1) | {"block2.0": torch.randn(B, C + 1, S, S)}
    with pytest.raises(ValueError, match=r"layer 'block2\.0'.*same shape.*\(4, 7, 4, 4\)"):
        contrast(features(0), k)
    k = features(1) | {"head": torch.randn(B, C + 2)}
    with pytest.raises(ValueError, match=rf"layer 'head'.*\(B, {C}\).*got \({B}, {C + 2}\)"):
        contrast(features(0), k)


def test_bad_arguments() -> None:
    heads = make_heads()
    with pytest.raises(ValueError, match=r"lacks the layers \['head'\]"):
        contrast = MultiScaleContrastive(heads, queue_size=8)
        contrast({k: v for k, v in features(0).items() if k != "head"}, features(1))
    with pytest.raises(TypeError, match="queries must be a dict of layer name -> tensor"):
        MultiScaleContrastive(heads, queue_size=8)(torch.randn(B, D), features(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"layer 'head'.*must be a torch\.Tensor, got list"):
        MultiScaleContrastive(heads, queue_size=8)(features(0) | {"head": [0.0] * C}, features(1))
    with pytest.raises(ValueError, match="non-empty dict"):
        MultiScaleContrastive({})
    with pytest.raises(TypeError, match=r"heads\['a'\] must be an nn\.Module"):
        MultiScaleContrastive({"a": lambda x: x})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="weight for every scale"):
        MultiScaleContrastive(heads, weights={"head": 1.0})
    with pytest.raises(ValueError, match="must be non-negative"):
        MultiScaleContrastive(heads, weights={"block1": 1.0, "block2.0": -1.0, "head": 1.0})
    with pytest.raises(ValueError, match=r"unknown scales \['blok1'\]"):
        MultiScaleContrastive(heads, start_steps={"blok1": 3})
    with pytest.raises(ValueError, match="non-negative int"):
        MultiScaleContrastive(heads, start_steps={"head": -1})
    with pytest.raises(ValueError, match="cannot tell the embedding size"):
        MultiScaleContrastive({"a": nn.Identity()})
    contrast = MultiScaleContrastive(heads, queue_size=8, start_steps={"head": 2})
    with pytest.raises(ValueError, match=r"step is required.*\{'head': 2\}"):
        contrast(features(0), features(1))
    with pytest.raises(TypeError, match="step must be an int or a 0-dim tensor, got float"):
        contrast(features(0), features(1), step=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"0-dim real tensor.*shape \(1,\)"):
        contrast(features(0), features(1), step=torch.tensor([2]))
    with pytest.raises(ValueError, match="step must be non-negative, got -1"):
        contrast(features(0), features(1), step=-1)
    with pytest.raises(TypeError, match="takes 3 positional arguments"):
        contrast(features(0), features(1), 2)  # type: ignore[misc]


def test_accuracy_is_one_when_queries_equal_keys() -> None:
    contrast = MultiScaleContrastive(make_heads(), queue_size=64)
    for seed in range(8):
        same = features(seed)
        torch.manual_seed(seed)  # the patch head reads both maps at the same locations anyway
        out = contrast(same, same)
        assert out.accuracy.item() == 1.0


def test_key_momentum_embeds_keys_through_a_copy_that_only_update_moves():
    torch.manual_seed(0)
    heads = {
        "block1": DeepSupervisionHead(in_channels=4, dim=8, spatial_size=4),
        "pool": ProjectionHead(in_features=4, dim=8),
        "patch": LocalPatchHead(in_channels=4, dim=8),
    }
    contrast = MultiScaleContrastive(heads, queue_size=16, key_momentum=0.5)
    assert contrast.key_heads is not None
    copies = dict(zip(contrast.names, contrast.key_heads.module, strict=True))
    with torch.no_grad():  # the online heads move; the copies follow only by momentum
        for head in contrast.heads.values():
            for p in head.parameters():
                p.add_(1.0)
    before = {n: [p.clone() for p in c.parameters()] for n, c in copies.items()}
    q = {
        "block1": torch.randn(3, 4, 4, 4),
        "pool": torch.randn(3, 4),
        "patch": torch.randn(3, 4, 4, 4),
    }
    k = {
        "block1": torch.randn(3, 4, 4, 4),
        "pool": torch.randn(3, 4),
        "patch": torch.randn(3, 4, 4, 4),
    }
    for mode in (contrast.train, contrast.eval):  # forward never moves the copy
        mode()
        contrast(q, k)
        for name, momentum_head in copies.items():
            for b, p in zip(before[name], momentum_head.parameters(), strict=True):
                assert torch.equal(b, p)
    # The queued keys are the momentum heads' embeddings, not the online heads'.
    queued = contrast.instance_losses["pool"].queue.keys[:3]
    torch.testing.assert_close(queued, F.normalize(copies["pool"](k["pool"]), dim=1))
    assert not torch.allclose(queued, F.normalize(contrast.heads["pool"](k["pool"]), dim=1))
    contrast.update()
    for name, momentum_head in copies.items():
        online = list(contrast.heads[name].parameters())
        pairs = zip(before[name], momentum_head.parameters(), online, strict=True)
        for b, p, o in pairs:
            torch.testing.assert_close(p, 0.5 * b + 0.5 * o)
        assert all(not p.requires_grad for p in momentum_head.parameters())
    contrast.update(momentum=0.0)
    for name, momentum_head in copies.items():
        for p, o in zip(momentum_head.parameters(), contrast.heads[name].parameters(), strict=True):
            assert torch.equal(p, o)


def test_key_momentum_is_saved_and_update_without_it_does_nothing():
    heads = {"pool": ProjectionHead(in_features=4, dim=8)}
    contrast = MultiScaleContrastive(heads, queue_size=16, key_momentum=0.9)
    assert any(name.startswith("key_heads.") for name in contrast.state_dict())
    plain = MultiScaleContrastive({"pool": ProjectionHead(in_features=4, dim=8)}, queue_size=16)
    state = copy.deepcopy(plain.state_dict())
    plain.update()
    assert plain.key_heads is None
    for name, value in plain.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_key_momentum_refuses_lazy_heads():
    with pytest.raises(ValueError, match=r"\['block1'\] are lazy"):
        MultiScaleContrastive(
            {"block1": DeepSupervisionHead(in_channels=4, dim=8)}, queue_size=8, key_momentum=0.9
        )


# The state is keyed by layer name (issue 14: heads loaded in the order (b, a) swapped silently).


def _two_scales(order: tuple[str, str], **kwargs: object) -> MultiScaleContrastive:
    heads = {"a": ProjectionHead(C, D), "b.0": DeepSupervisionHead(C, D, spatial_size=S)}
    return MultiScaleContrastive({name: heads[name] for name in order}, queue_size=16, **kwargs)


def _two_features(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(B, C, generator=g), "b.0": torch.randn(B, C, S, S, generator=g)}


@pytest.mark.parametrize("key_momentum", [None, 0.9])
def test_a_state_loads_by_layer_name_whatever_the_order(key_momentum: float | None) -> None:
    torch.manual_seed(0)
    saved = _two_scales(("a", "b.0"), key_momentum=key_momentum)
    for seed in range(3):
        saved(_two_features(seed), _two_features(seed + 10))
    loaded = _two_scales(("b.0", "a"), key_momentum=key_momentum)
    loaded.load_state_dict(saved.state_dict())
    for name in ("a", "b.0"):
        pairs = zip(saved.heads[name].parameters(), loaded.heads[name].parameters(), strict=True)
        for p, q in pairs:
            assert torch.equal(p, q)
        assert torch.equal(
            saved.instance_losses[name].queue.keys, loaded.instance_losses[name].queue.keys
        )
    out_saved = saved(_two_features(7), _two_features(8), enqueue=False)
    out_loaded = loaded(_two_features(7), _two_features(8), enqueue=False)
    for name in ("a", "b.0"):
        torch.testing.assert_close(out_saved.losses[name], out_loaded.losses[name])


@pytest.mark.parametrize("strict", [True, False])
def test_a_state_of_other_layer_names_is_refused_naming_them(strict: bool) -> None:
    state = _two_scales(("a", "b.0")).state_dict()
    renamed = MultiScaleContrastive(
        {"a": ProjectionHead(C, D), "c": DeepSupervisionHead(C, D, spatial_size=S)}, queue_size=16
    )
    before = copy.deepcopy(renamed.state_dict())
    with pytest.raises(
        ValueError,
        match=r"holds the scales \['a', 'b\.0'\] but this module has \['a', 'c'\].*"
        r"missing here: \['b\.0'\]; not in the state: \['c'\]",
    ):
        renamed.load_state_dict(state, strict=strict)
    for name, value in renamed.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_a_state_keyed_by_position_is_refused() -> None:
    # What contradistinct 0.1.0 saved: _heads.0, _instance_losses.1..., module version 1.
    new = _two_scales(("a", "b.0")).state_dict()
    old = type(new)(
        (key.replace("a.", "0.", 1).replace("b:0.", "1.", 1), value) for key, value in new.items()
    )
    old._metadata = copy.deepcopy(new._metadata)  # type: ignore[attr-defined]
    old._metadata[""]["version"] = 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"saved by contradistinct 0\.1\.0, which keyed"):
        _two_scales(("a", "b.0")).load_state_dict(old, strict=False)
    del old._metadata  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"holds the scales \['0', '1'\]"):
        _two_scales(("a", "b.0")).load_state_dict(old, strict=False)


def test_layer_names_map_to_distinct_state_keys() -> None:
    from contradistinct.multiscale import _layer_name, _state_key

    names = ["blocks.2", "blocks:2", "blocks%3A2", "blocks%2", "keys", "", "%", "a.b.c", "1", "0"]
    keys = [_state_key(name) for name in names]
    assert len(set(keys)) == len(names)
    assert all("." not in key and key for key in keys)
    assert [_layer_name(key) for key in keys] == names
    contrast = MultiScaleContrastive({name: nn.Linear(3, 4) for name in names}, queue_size=8)
    again = MultiScaleContrastive({name: nn.Linear(3, 4) for name in reversed(names)}, queue_size=8)
    again.load_state_dict(contrast.state_dict())
    for name in names:
        assert torch.equal(contrast.heads[name].weight, again.heads[name].weight)


def test_embeddings_that_do_not_pair_name_the_layer() -> None:
    contrast = _two_scales(("a", "b.0"))
    keys = _two_features(1) | {"a": torch.randn(B - 1, C)}
    with pytest.raises(
        ValueError,
        match=r"the embeddings of queries\['a'\] and keys\['a'\] \(layer 'a'\) do not make an "
        rf"InfoNCE pair: got shapes \({B}, {D}\) and \({B - 1}, {D}\)",
    ):
        contrast(_two_features(0), keys)
    keys = _two_features(1) | {"a": torch.randn(B, C + 1)}
    with pytest.raises(ValueError, match=r"keys\['a'\] does not fit the head of layer 'a'"):
        contrast(_two_features(0), keys)


def test_an_infinite_scale_weight_is_refused() -> None:
    # issue 14: infinite scale weights were accepted.
    with pytest.raises(ValueError, match=r"weights\['a'\] must be non-negative and finite"):
        _two_scales(("a", "b.0"), weights={"a": float("inf"), "b.0": 1.0})


@pytest.mark.parametrize("key_momentum", [None, 0.9])
def test_infers_shapes_on_the_meta_device_with_ielbo_above(key_momentum: float | None) -> None:
    # issue 14: info_nce and everything above it failed inside torch.autocast("meta").
    contrast = _two_scales(("a", "b.0"), key_momentum=key_momentum, start_steps={"a": 2})
    ielbo = IELBO(contrast).to("meta")
    features = {name: f.to("meta") for name, f in _two_features(0).items()}
    mu = torch.zeros(B, 3, device="meta")
    out = ielbo(features, features, mu, mu, step=torch.tensor(3, device="meta"))
    assert out.loss.device.type == "meta" and out.loss.shape == ()
    contrast.update()
