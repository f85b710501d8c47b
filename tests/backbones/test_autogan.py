"""AutoGAN-32 networks: parameter counts, shapes, spectral norm, gradients, taps, bad input."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils import parametrize

from contradistinct import FeatureTaps, MomentumEncoder
from contradistinct.backbones import (
    AutoGANDecoder,
    AutoGANDiscriminator,
    AutoGANEncoder,
    DiscriminatorTaps,
)
from contradistinct.backbones.autogan_blocks import AutoGANCell


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_default_parameter_counts_match_the_authors_networks():
    decoder, encoder = AutoGANDecoder(), AutoGANEncoder()
    critic, shared = AutoGANDiscriminator(), AutoGANDiscriminator(shared_head=True)
    trunk = n_params(critic) - critic.logit.parametrizations.weight.original.numel()
    print(
        f"\nAutoGAN-32 parameters: decoder {n_params(decoder):,}, encoder {n_params(encoder):,} "
        f"(trunk {trunk:,}), discriminator {n_params(critic):,}, "
        f"shared-head discriminator {n_params(shared):,}"
    )
    # The DC-VAE authors' decoder and encoder (github.com/mlpc-ucsd/DC-VAE, models/models_32.py):
    # trunk + Linear(128 -> 256).
    assert n_params(decoder) == 4_405_251
    assert n_params(encoder) == 1_086_464
    assert trunk == 1_053_696
    assert n_params(encoder) - n_params(encoder.latent) == trunk
    assert n_params(critic) == trunk + 128  # spectrally-normalised Linear(128 -> 1), no bias
    assert n_params(shared) == trunk + 128 * 16 + 16 + 1  # Linear(128 -> 16), Linear(16 -> 1)


@settings(max_examples=8)
@given(
    batch=st.integers(1, 3),
    latent_dim=st.integers(1, 16),
    width=st.sampled_from([4, 8]),
    training=st.booleans(),
)
def test_decoder_shape_and_range(batch, latent_dim, width, training):
    decoder = AutoGANDecoder(latent_dim, width).train(training)
    x = decoder(10.0 * torch.randn(batch, latent_dim))
    assert x.shape == (batch, 3, 32, 32)
    assert x.abs().max() <= 1.0


@settings(max_examples=8)
@given(batch=st.integers(1, 3), latent_dim=st.integers(1, 16), width=st.sampled_from([4, 8]))
def test_encoder_returns_mu_and_logvar(batch, latent_dim, width):
    encoder = AutoGANEncoder(latent_dim, width).eval()  # freeze the power iteration
    x = torch.rand(batch, 3, 32, 32) * 2 - 1
    mu, logvar = encoder(x)
    assert mu.shape == logvar.shape == (batch, latent_dim)
    # mu is the first half of the final linear layer's output, logvar the second half.
    torch.testing.assert_close(torch.cat([mu, logvar], dim=1), encoder.latent(encoder.pooled(x)))


@pytest.mark.parametrize("shared_head", [False, True])
def test_discriminator_logits_and_shared_head(shared_head):
    critic = AutoGANDiscriminator(8, shared_head=shared_head).eval()
    x = torch.randn(3, 3, 32, 32)
    logits = critic(x)
    assert logits.shape == (3, 1)
    pooled = critic.pooled(x)
    head = critic.logit(critic.embedding(pooled)) if shared_head else critic.logit(pooled)
    torch.testing.assert_close(logits, head)


def capture(module: nn.Module, names: list[str], *inputs: torch.Tensor) -> dict[str, Tensor]:
    """Run ``module`` under FeatureTaps on ``names``; return what they recorded."""
    with FeatureTaps(module, names) as taps:
        module(*inputs)
        return taps.features()


@pytest.mark.parametrize("shared_head", [False, True])
def test_discriminator_taps_are_recordable_with_documented_shapes(shared_head):
    critic = AutoGANDiscriminator(8, shared_head=shared_head)
    taps = critic.taps()
    assert isinstance(taps, DiscriminatorTaps)
    assert taps.contrast == ("block1", "pool") and taps.feature == "block3"
    assert critic.taps(32) == taps and critic.resolutions == (32,)
    features = capture(critic, list(taps.names), torch.randn(2, 3, 32, 32))
    assert features["block1"].shape == (2, 8, 16, 16)
    for name in ("block2", "block3", "block4"):
        assert features[name].shape == (2, 8, 8, 8)
    assert features["pool"].shape == (2, 8)
    # The pooled features are the sum over space of the activated last block.
    torch.testing.assert_close(features["pool"], features["block4"].relu().sum(dim=(2, 3)))
    assert ("embedding" in taps.names) == shared_head
    if shared_head:
        assert features["embedding"].shape == (2, 16)


def test_encoder_and_decoder_taps():
    encoder = AutoGANEncoder(4, 8)
    names = encoder.taps().names
    assert names == ("block1", "block2", "block3", "block4", "pool", "latent")
    features = capture(encoder, list(names), torch.randn(2, 3, 32, 32))
    assert features["block1"].shape == (2, 8, 16, 16)
    assert features["pool"].shape == (2, 8)
    assert features["latent"].shape == (2, 8)
    decoder = AutoGANDecoder(4, 8, out_channels=1)
    features = capture(decoder, list(decoder.taps().names), torch.randn(2, 4))
    assert features["project"].shape == (2, 8 * 4 * 4)
    assert features["to_rgb"].shape == (2, 1, 32, 32)


def test_the_progan_calling_convention_at_the_one_resolution():
    decoder, encoder, critic = AutoGANDecoder(4, 8), AutoGANEncoder(4, 8), AutoGANDiscriminator(8)
    for network in (decoder, encoder, critic):
        network.eval()  # no batch statistics, no spectral-norm power iteration
    z, x = torch.randn(2, 4), torch.randn(2, 3, 32, 32)
    # alpha has nothing to fade in: any value in [0, 1] gives the same outputs.
    torch.testing.assert_close(decoder(z, 32, 0.25), decoder(z))
    torch.testing.assert_close(encoder(x, 0.5), encoder(x))
    torch.testing.assert_close(critic(x, 0.0), critic(x))
    with pytest.raises(ValueError, match=r"resolution must be 32 \(or None\).*got 16"):
        decoder(z, 16)
    with pytest.raises(ValueError, match=r"resolution must be 32 \(or None\).*got 16"):
        critic.taps(16)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 2"):
        critic(x, 2.0)


def weight_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize(
    "build",
    [
        lambda: AutoGANDiscriminator(16),
        lambda: AutoGANDiscriminator(16, shared_head=True),
        lambda: AutoGANEncoder(8, 16),
    ],
    ids=["discriminator", "shared-head", "encoder"],
)
def test_spectral_norm_is_active_on_every_critic_and_encoder_layer(build):
    torch.manual_seed(0)
    network = build()
    layers = weight_layers(network)
    assert len(layers) >= 11
    # One power iteration per forward in training mode (with or without autograd, so none is
    # recorded); enough of them to converge.
    with torch.no_grad():
        for _ in range(30):
            network(torch.randn(1, 3, 32, 32))
    for name, layer in layers:
        assert parametrize.is_parametrized(layer, "weight"), name
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1.0) < 0.05, (name, sigma)


def test_decoder_has_no_spectral_norm():
    assert not any(parametrize.is_parametrized(m) for _, m in weight_layers(AutoGANDecoder(8, 8)))


@pytest.mark.parametrize(
    ("network", "inputs"),
    [
        (AutoGANDecoder(8, 8), torch.randn(2, 8)),
        (AutoGANDiscriminator(8), torch.randn(2, 3, 32, 32)),
        (AutoGANDiscriminator(8, shared_head=True), torch.randn(2, 3, 32, 32)),
        (AutoGANEncoder(4, 8), torch.randn(2, 3, 32, 32)),
    ],
    ids=["decoder", "discriminator", "shared-head", "encoder"],
)
def test_gradients_reach_every_parameter(network, inputs):
    out = network(inputs)
    loss = sum(o.square().sum() for o in out) if isinstance(out, tuple) else out.square().sum()
    loss.backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_cell_matches_its_equation():
    cell = AutoGANCell(4, "bilinear", skip_ins=1, shortcut=True)
    x, earlier = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)
    up = partial(F.interpolate, size=(16, 16), mode="bilinear", align_corners=False)
    skip_expected = cell.conv1(up(x.relu())) + cell.skip_convs[0](up(earlier))
    out_expected = cell.conv2(skip_expected.relu()) + cell.shortcut(up(x))
    skip, out = cell(x, [earlier])
    torch.testing.assert_close(skip, skip_expected)
    torch.testing.assert_close(out, out_expected)
    with pytest.raises(ValueError, match="takes 1 skip inputs, got 0"):
        cell(x)


def test_decoder_wiring_follows_autogan():
    decoder = AutoGANDecoder(4, 8)
    modes = (decoder.cell1.up_mode, decoder.cell2.up_mode, decoder.cell3.up_mode)
    assert modes == ("nearest", "bilinear", "nearest")
    assert [len(c.skip_convs) for c in (decoder.cell1, decoder.cell2, decoder.cell3)] == [0, 1, 2]
    assert decoder.cell3.shortcut is None and decoder.cell1.shortcut is not None
    # The image is the cell-3 features through BN -> ReLU -> conv -> tanh.
    outputs: list[tuple[Tensor, Tensor]] = []
    handle = decoder.cell3.register_forward_hook(lambda _m, _i, out: outputs.append(out))
    decoder(torch.randn(2, 4))
    handle.remove()
    assert outputs[0][1].shape == (2, 8, 32, 32)


def test_bad_inputs_name_expected_and_received_shapes():
    critic, encoder, decoder = AutoGANDiscriminator(4), AutoGANEncoder(4, 4), AutoGANDecoder(4, 4)
    with pytest.raises(ValueError, match=r"\(B, 3, R, R\) with R = 32.*\(2, 1, 32, 32\)"):
        critic(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, R, R\) with R = 32.*\(2, 3, 64, 64\)"):
        encoder(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match=r"4 dimensions.*\(3, 32, 32\)"):
        critic(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4\), got \(2, 5\)"):
        decoder(torch.randn(2, 5))
    with pytest.raises(TypeError, match="floating-point"):
        critic(torch.zeros(2, 3, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="width must be a positive int"):
        AutoGANDecoder(width=0)
    with pytest.raises(ValueError, match="embed_dim must be a positive int"):
        AutoGANDiscriminator(embed_dim=0, shared_head=True)


def test_decoder_initialisation_follows_the_authors():
    decoder = AutoGANDecoder(8, 64)
    for name, module in decoder.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            assert module.weight.abs().max() <= bound, name
            assert module.weight.abs().max() > 0.9 * bound, name
    norm = decoder.to_rgb[0]
    assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
    assert abs(norm.weight.mean().item() - 1.0) < 0.02 and 0.0 < norm.weight.std().item() < 0.05


@pytest.mark.parametrize(
    ("network", "inputs"),
    [
        (AutoGANDecoder(8, 8), torch.randn(2, 8)),
        (AutoGANDiscriminator(8, shared_head=True), torch.randn(2, 3, 32, 32)),
        (AutoGANEncoder(4, 8), torch.randn(2, 3, 32, 32)),
    ],
    ids=["decoder", "discriminator", "encoder"],
)
def test_bf16_autocast_forward_is_finite(network, inputs):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = network(inputs)
    for tensor in out if isinstance(out, tuple) else (out,):
        assert torch.isfinite(tensor.float()).all()


def test_momentum_copy_of_the_spectrally_normalised_discriminator():
    # DC-VAE embeds real images through a momentum copy of this network; the spectral-norm
    # parametrisation must survive the copy and its power-iteration buffers must follow.
    critic = AutoGANDiscriminator(8)
    ema = MomentumEncoder(critic, momentum=0.5)
    x = torch.randn(2, 3, 32, 32)
    critic(x)  # one power-iteration step on the online network
    ema.update()
    copy_u = ema.module.block1.conv1.parametrizations.weight[0]._u
    torch.testing.assert_close(copy_u, critic.block1.conv1.parametrizations.weight[0]._u)
    critic.eval()
    ema.module.eval()
    torch.testing.assert_close(ema(x), critic(x))
