"""The DC-VAE authors' choices as trainer switches: queue start, shared head, prior batches."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from config import parse_config
from models import linear_probe
from step import Trainer
from torch import Tensor, nn

from contradistinct import MultiScaleContrastive


def _batch(size: int = 8) -> Tensor:
    return torch.rand(size, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _contrast(trainer: Trainer) -> MultiScaleContrastive:
    assert trainer.ielbo is not None
    contrast = trainer.ielbo.instance_loss
    assert isinstance(contrast, MultiScaleContrastive)
    return contrast


def test_the_cifar10_preset_has_the_authors_switches_and_the_digits_theirs() -> None:
    cifar = parse_config(["--preset", "cifar10"])
    assert (cifar.queue_init, cifar.shared_head) == ("random", True)
    # Fakes per D step: the data batch's size (64); per G step: the prior batch (128).
    assert (cifar.discriminator_prior_batch_size, cifar.batch_size) == (None, 64)
    assert cifar.prior_batch_size == 128
    # The digits keep the empty start until the ablation has measured the random one.
    digits = parse_config([])
    assert (digits.queue_init, digits.shared_head) == ("empty", False)
    assert parse_config(["--preset", "cifar10", "--no-shared-head"]).shared_head is False
    assert parse_config(["--queue-init", "random"]).queue_init == "random"


def test_shared_head_reaches_the_discriminator_and_is_contrasted(tiny_args: list[str]) -> None:
    config = parse_config([*tiny_args, "--shared-head", "--queue-init", "random"])
    trainer = Trainer(config, channels=1)
    discriminator = trainer.networks.discriminator
    assert discriminator.shared_head
    # The authors' layers ["b1", "final"]: the first block and the shared 16-d embedding,
    # contrasted as it is (no head of its own).
    assert trainer.layers == ["block1", "embedding"]
    assert isinstance(_contrast(trainer).heads["embedding"], nn.Identity)
    # The hinge D step trains the projection that the contrastive loss also reads.
    embedding = list(discriminator.embedding.parameters())
    trainer.discriminator_step(_batch(), trainer.growth())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in embedding)
    for p in embedding:
        p.grad = None
    trainer._contrastive_step(_batch(), trainer.growth(), step=0)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in embedding)
    plain = Trainer(parse_config(tiny_args), channels=1)
    assert not plain.networks.discriminator.shared_head
    assert plain.layers == ["block1", "pool"]


def test_shared_head_is_refused_where_the_backbone_has_none(tiny_args: list[str]) -> None:
    progan = ["--backbone", "progan", "--resolution", "8"]
    config = parse_config([*tiny_args, *progan, "--shared-head"])
    with pytest.raises(ValueError, match=r"--shared-head needs .*\(--backbone autogan\)"):
        Trainer(config, channels=1)


def _record_critic_batches(trainer: Trainer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    critic: Callable[..., Tensor] = trainer.networks.critic

    def recording(x: Tensor, *args: object) -> Tensor:
        sizes.append(x.shape[0])
        return critic(x, *args)

    monkeypatch.setattr(trainer.networks, "critic", recording)
    return sizes


@pytest.mark.parametrize(
    ("flag", "d_fakes"), [([], 8), (["--discriminator-prior-batch-size", "5"], 5)]
)
def test_the_d_step_decodes_a_data_batch_of_prior_samples_the_g_step_more(
    tiny_args: list[str], monkeypatch: pytest.MonkeyPatch, flag: list[str], d_fakes: int
) -> None:
    config = parse_config([*tiny_args, "--prior-batch-size", "12", *flag])
    trainer = Trainer(config, channels=1)
    sizes = _record_critic_batches(trainer, monkeypatch)
    growth = trainer.growth()
    trainer.discriminator_step(_batch(8), growth)
    assert sizes == [8, 8, d_fakes]  # real, reconstructions, prior samples
    sizes.clear()
    trainer._adversarial_step(_batch(8), growth)
    assert sizes == [8, 12]  # reconstructions, prior samples


def test_discriminator_prior_batch_size_must_be_positive(tiny_args: list[str]) -> None:
    config = parse_config([*tiny_args, "--discriminator-prior-batch-size", "0"])
    with pytest.raises(ValueError, match="--discriminator-prior-batch-size must be positive"):
        Trainer(config, channels=1)


def test_the_queues_start_full_of_random_unit_vectors(tiny_args: list[str]) -> None:
    trainer = Trainer(parse_config([*tiny_args, "--queue-init", "random"]), channels=1)
    queues = [loss.queue for loss in _contrast(trainer).instance_losses.values()]
    for queue in queues:
        keys, valid = queue()
        assert valid.all()
        torch.testing.assert_close(keys.norm(dim=1), torch.ones(len(keys)))
        assert keys.std(dim=0).min() > 0.05  # spread over the sphere, not one repeated vector
    assert not torch.equal(queues[0].keys, queues[1].keys)
    # So the first contrastive step has negatives: not the loss 0 and top-1 1 of no negatives.
    logs = trainer._contrastive_step(_batch(), trainer.growth(), step=0)
    assert logs["instance"] > 0
    empty = Trainer(parse_config([*tiny_args, "--queue-init", "empty"]), channels=1)
    assert all(loss.queue.count == 0 for loss in _contrast(empty).instance_losses.values())
    logs = empty._contrastive_step(_batch(), empty.growth(), step=0)
    assert (logs["instance"], logs["accuracy"]) == (0, 1)


def test_the_fused_step_gives_the_gradients_of_two_backward_passes(tiny_args: list[str]) -> None:
    torch.manual_seed(0)
    trainer = Trainer(parse_config([*tiny_args, "--fused", "--queue-init", "random"]), channels=1)
    reference = copy.deepcopy(trainer)
    x, growth = _batch(), trainer.growth()
    torch.manual_seed(1)
    trainer._fused_dcvae_step(x, growth, step=0)
    # The same forward pass, then one backward pass per term: the adversarial term into E and
    # G only, the IELBO into E, G, D and the heads.
    torch.manual_seed(1)
    x_rec, mu, logvar = reference._reconstruct(x, growth)
    d_rec, queries, keys = reference._queries_and_keys(x_rec, x, growth)
    out = reference.ielbo(queries, keys, mu, logvar, step=0)  # type: ignore[misc]
    d_gen = reference.networks.critic(reference._prior(growth), growth)
    gan = reference.adversarial.generator(d_rec, d_gen)
    out.loss.backward(inputs=reference.eg_params + reference.d_params, retain_graph=True)
    gan.backward(inputs=reference.eg_params)
    params = trainer.eg_params + trainer.d_params
    expected = reference.eg_params + reference.d_params
    assert all(p.grad is not None for p in trainer.eg_params)
    for param, other in zip(params, expected, strict=True):
        # (D's logit layer is in neither graph of D: the IELBO reads D's features.)
        if other.grad is None:
            assert param.grad is None
        else:
            torch.testing.assert_close(param.grad, other.grad, rtol=1e-4, atol=1e-6)


def test_the_linear_probe_reads_the_encoder_means(tiny_args: list[str]) -> None:
    from data import load_images
    from sklearn.datasets import load_digits

    trainer = Trainer(parse_config(tiny_args), channels=1)
    images = load_images("digits", 32)
    labels = torch.as_tensor(load_digits().target)
    encoder = trainer.networks.encoder
    probe = linear_probe(trainer.networks, images, labels, trainer.growth())
    assert set(probe) == {"probe_accuracy", "probe_interval"}
    # Even an untrained encoder's means separate the ten digits far better than chance...
    assert probe["probe_accuracy"] > 0.3 and probe["probe_interval"] >= 0
    assert encoder.training  # ...measured in eval mode, then put back as it was.
    # Labels that do not belong to the images leave the probe at chance.
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    chance = linear_probe(trainer.networks, images, shuffled, trainer.growth())
    assert chance["probe_accuracy"] < 0.2
