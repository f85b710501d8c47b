"""The chance level beside every contrastive accuracy, the empty queue, and the device check."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import contradistinct as cd
from contradistinct._chance import chance_level
from contradistinct.functional import info_nce_logits


@given(
    filled=st.integers(0, 12),
    batch=st.integers(1, 5),
    in_batch=st.booleans(),
)
def test_the_chance_level_counts_the_candidates_of_the_logits(
    filled: int, batch: int, in_batch: bool
) -> None:
    criterion = cd.InstanceLoss(dim=4, queue_size=8, in_batch_negatives=in_batch)
    if filled:
        criterion.queue.enqueue(torch.randn(filled, 4))
    query, key = torch.randn(batch, 4), torch.randn(batch, 4)
    chance = chance_level(criterion, batch)
    negatives, mask = criterion.queue()
    logits = info_nce_logits(query, key, negatives, in_batch_negatives=in_batch, negative_mask=mask)
    candidates = logits.isfinite().sum(dim=1)  # the positive and every valid negative
    assert torch.equal(candidates, torch.full((batch,), candidates[0].item()))
    torch.testing.assert_close(chance, 1 / candidates[0].float())
    assert chance.dtype == torch.float32


def test_an_empty_queue_reports_loss_zero_top1_one_and_chance_one() -> None:
    torch.manual_seed(0)
    ielbo = cd.IELBO(cd.InstanceLoss(dim=8, queue_size=16), kl_weight=0.0)
    z = torch.zeros(4, 2)
    first = ielbo(torch.randn(4, 8), torch.randn(4, 8), z, z)
    assert (first.instance.item(), first.accuracy.item(), first.chance_level.item()) == (0, 1, 1)
    assert f"top-1 {first.accuracy:.2f} (chance {first.chance_level:.2f})" == (
        "top-1 1.00 (chance 1.00)"
    )
    second = ielbo(torch.randn(4, 8), torch.randn(4, 8), z, z)
    assert second.chance_level.item() == pytest.approx(1 / 5)
    for _ in range(5):
        last = ielbo(torch.randn(4, 8), torch.randn(4, 8), z, z)
    assert last.chance_level.item() == pytest.approx(1 / 17)  # a full queue of 16
    assert (last.losses, last.accuracies, last.chance_levels) == ({}, {}, {})


def test_each_scale_reports_its_own_chance_and_the_mean_covers_the_active_ones() -> None:
    torch.manual_seed(0)
    contrast = cd.MultiScaleContrastive(
        {
            "map": cd.LocalPatchHead(in_channels=3, dim=4, locations=2),
            "vector": cd.ProjectionHead(in_features=5, dim=4),
        },
        queue_size=64,
        start_steps={"map": 10},
    )
    ielbo = cd.IELBO(contrast, kl_weight=0.0)
    z = torch.zeros(3, 2)

    def features() -> dict[str, torch.Tensor]:
        return {"map": torch.randn(3, 3, 4, 4), "vector": torch.randn(3, 5)}

    first = ielbo(features(), features(), z, z, step=0)
    assert {n: c.item() for n, c in first.chance_levels.items()} == {"map": 1.0, "vector": 1.0}
    second = ielbo(features(), features(), z, z, step=0)
    # 3 images x 2 locations enqueued at the patch scale, 3 keys at the vector scale.
    assert second.chance_levels["map"].item() == pytest.approx(1 / 7)
    assert second.chance_levels["vector"].item() == pytest.approx(1 / 4)
    assert second.chance_level.item() == pytest.approx(1 / 4)  # only "vector" is active
    third = ielbo(features(), features(), z, z, step=10)
    expected = (1 / 13 + 1 / 7) / 2
    assert third.chance_level.item() == pytest.approx(expected)
    assert set(third.losses) == set(third.accuracies) == {"map", "vector"}
    direct = contrast(features(), features(), step=10)
    assert direct.chance_levels["map"].item() == pytest.approx(1 / 19)


def test_a_module_without_a_chance_level_reports_none() -> None:
    class Cosine(torch.nn.Module):
        def forward(self, query: torch.Tensor, key: torch.Tensor) -> cd.InstanceOutput:
            similarity = torch.cosine_similarity(query, key).mean()
            return cd.InstanceOutput(-similarity, similarity)

    out = cd.IELBO(Cosine())(
        torch.randn(2, 3), torch.randn(2, 3), torch.zeros(2, 1), torch.zeros(2, 1)
    )
    assert out.chance_level is None and out.accuracies == {}


def test_features_on_another_device_name_the_fix() -> None:
    contrast = cd.MultiScaleContrastive({"pool": cd.ProjectionHead(in_features=5, dim=4)})
    on_cpu = {"pool": torch.randn(2, 5)}
    elsewhere = {"pool": torch.randn(2, 5, device="meta")}
    with pytest.raises(ValueError, match=r"queries\['pool'\] is on meta but the Multi.*on cpu"):
        contrast(elsewhere, on_cpu)
    with pytest.raises(ValueError, match=r"keys\['pool'\] is on meta.*contrast\.to\(device\)"):
        contrast(on_cpu, elsewhere)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_moving_the_module_with_the_networks_works_on_a_gpu() -> None:
    contrast = cd.MultiScaleContrastive(
        {"pool": cd.ProjectionHead(in_features=5, dim=4)}, queue_size=8, key_momentum=0.9
    ).cuda()
    features = {"pool": torch.randn(2, 5, device="cuda")}
    out = contrast(features, features)
    contrast.update()
    assert out.chance_level.is_cuda and out.loss.is_cuda
