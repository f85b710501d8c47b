"""One calling convention for every public loss, read from the public API itself.

As in ``torch.nn.functional``: the prediction comes first and the target second (``input,
target``), and every per-sample loss takes ``reduction="mean"|"sum"|"none"`` (a loss module
takes it in its constructor, as ``torch.nn`` losses do). A loss that cannot follow the rule is
listed below with the reason, in one place; a new public loss is checked without being listed
anywhere, and a new public name that is not a loss has to be classified as such.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from torch import nn

import contradistinct
from contradistinct import functional, introspective, pga

#: Public functions of ``contradistinct.functional`` that are not losses.
NOT_LOSS_FUNCTIONS = {
    "info_nce_logits": "the logits of the InfoNCE classification, which info_nce reduces",
    "contrastive_accuracy": "a metric on InfoNCE logits",
    "reparameterize": "draws a latent sample",
    "hypersphere_noise": "draws a perturbation of a latent code (PGA)",
    "ReencodedBatch": "a bundle type: a generated batch, its re-encoding and its reconstruction",
}

#: Public ``nn.Module`` classes of the loss namespaces that are not losses.
NOT_LOSS_MODULES = {
    "NegativeQueue": "the queue of negatives InstanceLoss owns",
    "MomentumEncoder": "an exponential-moving-average copy of a network",
    "ProjectionHead": "a head: features to an embedding",
    "DeepSupervisionHead": "a head: features to an embedding",
    "LocalPatchHead": "a head: features to embeddings at sampled locations",
    "Critic": "an adapter: runs a discriminator once, returns its logits and tapped features",
}

#: Public methods of loss modules that do not compute a loss.
NOT_LOSS_METHODS = {
    "MultiScaleContrastive.update": "moves the momentum copy of the heads",
    "SoftIntroVAELoss.scale_for": "the scale of the expELBO for a batch",
    "SoftIntroVAELoss.to_data": "maps decoder outputs to data space",
}

GAN = "GAN terms take discriminator logits, real first: (real_logits, fake_logits)"
CONTRAST = "contrastive: a query and its positive key, not a prediction and a target"
PENALTY = "a penalty on a critic's gradient at real (or interpolated) data: there is no target"
PGA_MODULE = "runs the encoder and the decoder itself on a batch: (encoder, decoder, x)"

#: Losses whose leading parameters are not ``input, target``: the parameters they have instead.
ORDER_EXCEPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "info_nce": (("query", "positive"), CONTRAST + "; the queue of negatives comes third"),
    "real_term": (("real_logits",), GAN),
    "fake_term": (("fake_logits",), GAN),
    "discriminator_loss": (("real_logits", "fake_logits"), GAN),
    "generator_loss": (("fake_logits",), GAN),
    "gaussian_kl": (("mu", "logvar"), "a divergence from the fixed prior: there is no target"),
    "exp_elbo": (("negative_elbo",), "transforms a per-sample negative ELBO: there is no target"),
    "gradient_penalty": (("critic", "real", "fake"), PENALTY),
    "r1_penalty": (("real_logits", "real_inputs"), PENALTY),
    "pga_encoder_nll": (("z",), "a likelihood of encodings under the prior: there is no target"),
    "pga_decoder_nll": (
        ("h_perturbed", "h", "delta"),
        "a finite-difference estimate of log|det dh/dz| from two outputs of h and the step "
        "between them, symmetric in the two: neither is a target",
    ),
    "InstanceLoss.forward": (("query", "key"), CONTRAST),
    "MultiScaleContrastive.forward": (("queries", "keys"), CONTRAST + ", per tapped layer"),
    "IELBO.forward": (("query", "key"), CONTRAST + ", then the posterior (mu, logvar)"),
    "SetLevelLoss.discriminator": (("real_logits", "recon_logits"), GAN + " (Eq. 4's sets)"),
    "SetLevelLoss.generator": (("recon_logits", "sample_logits"), GAN + " (Eq. 4's fake sets)"),
    "LPGALoss.forward": (("encoder", "decoder", "x"), PGA_MODULE),
    "LPGALoss.terms": (("encoder", "decoder", "x"), PGA_MODULE),
    "VPGALoss.forward": (("encoder", "decoder", "x"), PGA_MODULE),
    "VPGALoss.terms": (("encoder", "decoder", "x"), PGA_MODULE),
}

SEPARATE_DRAWS = (
    "a mean over the data batch plus means over generated batches, which are separate draws "
    "(their sizes may differ and their samples pair with no data sample): no per-sample loss"
)
HINGE = (
    "a hinge on batch-mean KLs ([m - mean KL]^+ is not the mean of per-sample hinges), plus "
    "means over generated batches drawn separately: no per-sample loss"
)
PGA_TERMS = (
    "a sum of terms over the data batch and over prior draws, which pair with no data "
    "sample: no per-sample loss; the functional PGA terms take reduction"
)

#: Losses without ``reduction``.
NO_REDUCTION = {
    "MultiScaleContrastive": "a weighted sum of per-scale batch means whose rows differ (a "
    "local-patch scale has B * L rows), so there is no per-sample loss",
    "SetLevelLoss": "its real, reconstructed and sampled sets may hold different numbers of "
    "samples, so there is no per-sample loss; the functional terms take reduction",
    "IELBO": "the instance term arrives reduced by its own module (InstanceLoss(reduction=...)); "
    "IELBO reduces the KL it computes, as kl_reduction",
    "soft_intro_encoder_loss": SEPARATE_DRAWS,
    "soft_intro_decoder_loss": SEPARATE_DRAWS,
    "SoftIntroVAELoss": SEPARATE_DRAWS + "; negative_elbo and exp_elbo take reduction",
    "intro_vae_encoder_loss": HINGE,
    "intro_vae_decoder_loss": SEPARATE_DRAWS,
    "IntroVAELoss": HINGE,
    "LPGALoss": PGA_TERMS,
    "VPGALoss": PGA_TERMS,
}


def _loss_functions() -> dict[str, Callable[..., object]]:
    functions = {
        name: getattr(functional, name)
        for name in functional.__all__
        if inspect.isfunction(getattr(functional, name))
    }
    unclassified = set(functional.__all__) - set(functions) - set(NOT_LOSS_FUNCTIONS)
    assert not unclassified, (
        f"public names of contradistinct.functional that are not functions: {unclassified}"
    )
    return {name: f for name, f in functions.items() if name not in NOT_LOSS_FUNCTIONS}


def _loss_modules() -> dict[str, type[nn.Module]]:
    modules = {}
    for namespace in (contradistinct, introspective, pga):
        for name in namespace.__all__:
            value = getattr(namespace, name)
            if inspect.isclass(value) and issubclass(value, nn.Module):
                modules[name] = value
    return {name: cls for name, cls in modules.items() if name not in NOT_LOSS_MODULES}


def _entry_points(cls: type[nn.Module]) -> dict[str, Callable[..., object]]:
    """The loss-computing methods a class defines: ``forward`` and its other public methods."""
    return {
        f"{cls.__name__}.{name}": value
        for name, value in vars(cls).items()
        if inspect.isfunction(value)
        and not name.startswith("_")
        and name != "extra_repr"
        and f"{cls.__name__}.{name}" not in NOT_LOSS_METHODS
    }


LOSS_FUNCTIONS = _loss_functions()
LOSS_MODULES = _loss_modules()
ENTRY_POINTS = {
    name: method for cls in LOSS_MODULES.values() for name, method in _entry_points(cls).items()
}


def _positional(function: Callable[..., object]) -> tuple[str, ...]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(function).parameters.values()
    return tuple(p.name for p in parameters if p.kind in kinds and p.name != "self")


@pytest.mark.parametrize("name", sorted([*LOSS_FUNCTIONS, *ENTRY_POINTS]))
def test_prediction_first_target_second_or_a_listed_exception(name):
    function = LOSS_FUNCTIONS.get(name) or ENTRY_POINTS[name]
    leading = _positional(function)
    if name in ORDER_EXCEPTIONS:
        expected, reason = ORDER_EXCEPTIONS[name]
        assert reason
        assert leading[: len(expected)] == expected, f"{name}{inspect.signature(function)}"
        assert leading[:2] != ("input", "target"), f"{name} conforms: drop it from the exceptions"
    else:
        assert leading[:2] == ("input", "target"), f"{name}{inspect.signature(function)}"


@pytest.mark.parametrize("name", sorted([*LOSS_FUNCTIONS, *LOSS_MODULES]))
def test_every_per_sample_loss_takes_reduction(name):
    if name in LOSS_FUNCTIONS:
        signature = inspect.signature(LOSS_FUNCTIONS[name])
    else:
        signature = inspect.signature(LOSS_MODULES[name].__init__)
    parameter = signature.parameters.get("reduction")
    if name in NO_REDUCTION:
        assert parameter is None, f"{name} takes reduction: drop it from NO_REDUCTION"
        return
    assert parameter is not None, f"{name}{signature} has no reduction"
    assert parameter.default == "mean", f"{name}: reduction defaults to {parameter.default!r}"


def test_every_listed_name_exists():
    """A renamed or removed loss must leave the lists too, so they never grow stale."""
    known = {*LOSS_FUNCTIONS, *ENTRY_POINTS, *LOSS_MODULES}
    listed = {*ORDER_EXCEPTIONS, *NO_REDUCTION}
    assert listed <= known, f"listed but not public losses: {sorted(listed - known)}"
    assert set(NOT_LOSS_FUNCTIONS) <= set(functional.__all__)
    public = {name for ns in (contradistinct, introspective, pga) for name in ns.__all__}
    assert set(NOT_LOSS_MODULES) <= public
    methods = {f"{c.__name__}.{n}" for c in LOSS_MODULES.values() for n in vars(c)}
    assert set(NOT_LOSS_METHODS) <= methods
