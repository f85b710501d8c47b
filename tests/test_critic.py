"""The critic adapter and heads sized from an example batch, on discriminators we did not write."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

import contradistinct as cd


class Output(dict):
    """An output object of another library: a dict read by attribute."""

    def __getattr__(self, name: str) -> Tensor:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ListDiscriminator(nn.Module):
    """Layers in a ModuleList, a Sigmoid at the end, an output object."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(12, 16), nn.ReLU()),
                nn.Sequential(nn.Linear(16, 8), nn.ReLU()),
                nn.Sequential(nn.Linear(8, 1), nn.Sigmoid()),
            ]
        )
        self.unused = nn.Linear(3, 3)

    def forward(self, x: Tensor) -> Output:
        out = x.flatten(1)
        for layer in self.layers:
            out = layer(out)
        return Output(embedding=out)


class ConvDiscriminator(nn.Module):
    """Returns ``(logits, features)``; batch norm, so an example pass could move statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.LeakyReLU(0.2), nn.Flatten()
        )
        self.head = nn.Linear(8 * 4 * 4, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x)
        return self.head(h), h


def test_one_call_returns_the_logit_layer_and_the_features() -> None:
    torch.manual_seed(0)
    disc = ListDiscriminator()
    critic = cd.Critic(disc, logit="layers.2.0", features=["layers.0", "layers.1"])
    x = torch.randn(5, 3, 2, 2)
    out = critic(x)
    assert isinstance(out, cd.CriticOutput)
    h0 = disc.layers[0](x.flatten(1))
    h1 = disc.layers[1](h0)
    torch.testing.assert_close(out.logits, disc.layers[2][0](h1))
    assert list(out.features) == ["layers.0", "layers.1"]
    torch.testing.assert_close(out.features["layers.0"], h0)
    torch.testing.assert_close(out.features["layers.1"], h1)
    assert out.logits.grad_fn is not None  # live tensors of the pass


def test_a_function_reads_the_logits_from_the_output_and_none_takes_the_output() -> None:
    disc = ConvDiscriminator().eval()
    x = torch.randn(2, 3, 8, 8)
    by_function = cd.Critic(disc, logit=lambda out: out[0], features=["trunk.0"])(x)
    torch.testing.assert_close(by_function.logits, disc(x)[0])
    assert by_function.features["trunk.0"].shape == (2, 8, 4, 4)
    plain = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    out = cd.Critic(plain, features=["1"])(torch.randn(2, 4))
    assert out.logits.shape == (2, 1) and out.features["1"].shape == (2, 3)


def test_the_logit_layer_may_also_be_a_feature() -> None:
    plain = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    out = cd.Critic(plain, logit="2", features=["1", "2"])(torch.randn(2, 4))
    assert list(out.features) == ["1", "2"] and out.features["2"] is out.logits


@pytest.mark.parametrize(
    ("logit", "message"),
    [
        ("layers.2", r"logit='layers\.2' ends in a Sigmoid at 'layers\.2\.1'.*tap 'layers\.2\.0'"),
        ("layers.2.1", r"logit='layers\.2\.1' is a Sigmoid.*tap 'layers\.2\.0', the Linear"),
    ],
)
def test_a_probability_as_the_logit_is_refused_naming_the_layer_to_tap(
    logit: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        cd.Critic(ListDiscriminator(), logit=logit, features=["layers.0"])
    assert info.match("probability, not a logit")


@pytest.mark.parametrize("kind", [nn.Sigmoid, nn.Softmax, nn.LogSigmoid, nn.LogSoftmax])
def test_a_sequential_that_ends_in_a_probability_is_refused(kind: type[nn.Module]) -> None:
    disc = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 1), kind()))
    for logit in (None, lambda out: out):
        with pytest.raises(ValueError, match=rf"comes out of a {kind.__name__} at '2\.1'.*'2\.0'"):
            cd.Critic(disc, logit=logit, features=["1"])
    first = nn.Sequential(nn.Sigmoid(), nn.Linear(4, 1))
    cd.Critic(first, features=["0"])  # ends in a Linear: accepted
    alone = nn.Sequential(nn.Linear(4, 3), nn.Sequential(kind()))
    with pytest.raises(ValueError, match="tap the layer that feeds it"):
        cd.Critic(alone, logit="1", features=["0"])


def test_logits_that_come_out_of_a_probability_are_refused_at_the_call() -> None:
    disc = ListDiscriminator()
    for read in (lambda out: out.embedding, lambda out: out.embedding[:, 0]):  # itself, a view
        critic = cd.Critic(disc, logit=read, features=["layers.0"])
        with pytest.raises(
            ValueError, match=r"output of a Sigmoid at 'layers\.2\.1'.*tap 'layers\.2\.0'"
        ):
            critic(torch.randn(2, 12))
    # A logit that only passes through a Sigmoid elsewhere is not a probability.
    squashed = ConvDiscriminator()
    squashed.trunk.append(nn.Sigmoid())
    gated = cd.Critic(squashed, logit=lambda out: out[0], features=["trunk.4"])
    assert gated(torch.randn(2, 3, 8, 8)).logits.shape == (2, 1)


def test_a_container_the_network_never_calls_is_refused_listing_its_elements() -> None:
    for argument in ("features", "logit"):
        kwargs = {"features": ["layers.0"], "logit": "layers.2.0", argument: "layers"}
        if argument == "features":
            kwargs["features"] = ["layers"]
        with pytest.raises(ValueError, match=rf"{argument} names 'layers', a ModuleList"):
            cd.Critic(ListDiscriminator(), **kwargs)


def test_a_layer_off_the_forward_path_is_reported_after_the_pass() -> None:
    critic = cd.Critic(ListDiscriminator(), logit="layers.2.0", features=["unused"])
    with pytest.raises(RuntimeError, match=r"ListDiscriminator\.forward ran without calling"):
        critic(torch.randn(2, 12))
    with pytest.raises(ValueError, match=r"unknown layer 'layer\.0'.*closest: 'layers\.0'"):
        cd.Critic(ListDiscriminator(), logit="layers.2.0", features=["layer.0"])


def test_logits_that_are_not_a_float_tensor_say_how_to_name_them() -> None:
    critic = cd.Critic(ListDiscriminator(), features=["layers.0"])
    with pytest.raises(TypeError, match=r"the discriminator gave Output.*logit='\.\.\.'"):
        critic(torch.randn(2, 12))
    to_int = cd.Critic(ConvDiscriminator(), logit=lambda out: out[0].long(), features=["trunk.0"])
    with pytest.raises(
        TypeError, match=r"logit\(discriminator output\) gave Tensor .*torch\.int64, not"
    ):
        to_int(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"features": "layers.0"}, TypeError, "features must be a sequence"),
        ({"features": []}, ValueError, "features must name at least one layer"),
        ({"features": ["layers.0"], "logit": 3}, TypeError, "logit must be a layer name"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        cd.Critic(ListDiscriminator(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="discriminator must be an nn.Module"):
        cd.Critic(lambda x: x, features=["0"])  # type: ignore[arg-type]


def test_a_momentum_copy_of_the_critic_taps_its_own_layers() -> None:
    torch.manual_seed(0)
    disc = ListDiscriminator()
    critic = cd.Critic(disc, logit="layers.2.0", features=["layers.1"])
    x = torch.randn(4, 12)
    critic(x).logits.sum().backward()  # a pass before the copy: no graph is carried into it
    keys = cd.MomentumEncoder(critic, momentum=0.5)
    with torch.no_grad():
        for p in disc.parameters():
            p.add_(1.0)
    copied = keys(x)
    assert not copied.features["layers.1"].requires_grad
    online = critic(x).features["layers.1"]
    assert not torch.allclose(copied.features["layers.1"], online)  # the copy has its own weights
    keys.update(momentum=0.0)
    torch.testing.assert_close(keys(x).features["layers.1"], online.detach())
    assert all(not hooks for m in disc.modules() for hooks in [m._forward_hooks])


def test_wrapped_discriminators_are_tapped_inside_with_or_without_the_prefix() -> None:
    disc = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    wrapped = nn.DataParallel(disc)
    for name in ("1", "module.1"):
        out = cd.Critic(wrapped, logit="module.2", features=[name])(torch.randn(2, 4))
        assert out.features[name].shape == (2, 3) and out.logits.shape == (2, 1)


def test_candidate_layers_lists_what_ran_with_shapes_heads_and_probabilities() -> None:
    disc = ListDiscriminator()
    rows = {row.name: row for row in cd.candidate_layers(disc, torch.randn(2, 12))}
    assert "layers" not in rows and "unused" not in rows  # never called: not tappable
    assert rows["layers.0"] == ("layers.0", "Sequential", (2, 16), "ProjectionHead", False)
    assert rows["layers.2"].probability and rows["layers.2.1"].probability
    assert not rows["layers.2.0"].probability and rows["layers.2"].head == ""
    assert str(rows["layers.2.1"]).split() == [
        "layers.2.1", "Sigmoid", "(2,", "1)", "-", "(a", "probability,", "not", "a", "logit)"
    ]  # fmt: skip
    critic = cd.Critic(ConvDiscriminator(), logit=lambda out: out[0], features=["trunk.1"])
    conv = {row.name: row for row in cd.candidate_layers(critic, torch.randn(2, 3, 8, 8))}
    assert conv["trunk.1"].head == "DeepSupervisionHead" and conv["trunk.3"].shape == (2, 128)


def test_an_example_pass_moves_no_state_and_restores_the_modes() -> None:
    disc = ConvDiscriminator()
    disc.trunk[1].eval()  # a mixed state, to be restored as it was
    before = copy.deepcopy(disc.state_dict())
    critic = cd.Critic(disc, logit=lambda out: out[0], features=["trunk.2", "trunk.3"])
    cd.candidate_layers(disc, torch.randn(4, 3, 8, 8) + 5)
    cd.build_heads(critic, torch.randn(4, 3, 8, 8) + 5)
    for name, value in disc.state_dict().items():
        torch.testing.assert_close(value, before[name])
    assert disc.training and critic.training and not disc.trunk[1].training
    assert disc.trunk[0].training


def test_build_heads_sizes_each_head_from_the_example() -> None:
    critic = cd.Critic(
        ConvDiscriminator(), logit=lambda out: out[0], features=["trunk.2", "trunk.3"]
    )
    heads = cd.build_heads(critic, torch.randn(2, 3, 8, 8), dim=12, reduced_channels=3)
    assert list(heads) == ["trunk.2", "trunk.3"]
    spatial, vector = heads["trunk.2"], heads["trunk.3"]
    assert isinstance(spatial, cd.DeepSupervisionHead) and spatial.spatial_size == (4, 4)
    assert (spatial.in_channels, spatial.dim, spatial.reduced_channels) == (8, 12, 3)
    assert isinstance(vector, cd.ProjectionHead) and (vector.in_features, vector.dim) == (128, 12)
    out = critic(torch.randn(3, 3, 8, 8))
    assert all(heads[n](f).shape == (3, 12) for n, f in out.features.items())
    # Sized heads have parameters at once: they take a momentum copy of the heads.
    contrast = cd.MultiScaleContrastive(heads, queue_size=8, key_momentum=0.9)
    assert contrast(out.features, out.features).loss.shape == ()


def test_build_heads_refuses_other_shapes_and_other_modules() -> None:
    class Sequence3d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3)
            self.head = nn.Linear(4, 1)

        def forward(self, x: Tensor) -> Tensor:
            return self.head(self.conv(x).mean(2))

    critic = cd.Critic(Sequence3d(), logit="head", features=["conv"])
    with pytest.raises(ValueError, match=r"layer 'conv' outputs shape \(2, 4, 3\).*of your own"):
        cd.build_heads(critic, torch.randn(2, 2, 5))
    with pytest.raises(TypeError, match="critic must be a Critic"):
        cd.build_heads(Sequence3d(), torch.randn(2, 2, 5))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module must be an nn.Module or a Critic"):
        cd.candidate_layers("net", torch.randn(2, 2, 5))  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_heads_are_built_on_the_example_device() -> None:
    critic = cd.Critic(ConvDiscriminator().cuda(), logit=lambda o: o[0], features=["trunk.3"])
    heads = cd.build_heads(critic, torch.randn(2, 3, 8, 8, device="cuda"))
    assert next(heads["trunk.3"].parameters()).is_cuda
