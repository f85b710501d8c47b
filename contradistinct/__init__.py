"""contradistinct: losses and components for contradistinctive generative autoencoders."""

from contradistinct import backbones, functional, introspective, metrics, pga, toy
from contradistinct.critic import Critic, CriticOutput
from contradistinct.elbo import ELBO, IELBO, ELBOOutput, IELBOOutput
from contradistinct.head_builder import LayerCandidate, build_heads, candidate_layers
from contradistinct.heads import DeepSupervisionHead, LocalPatchHead, PatchPair, ProjectionHead
from contradistinct.instance import InstanceLoss, InstanceOutput
from contradistinct.momentum import MomentumEncoder
from contradistinct.multiscale import MultiScaleContrastive, MultiScaleOutput
from contradistinct.posterior import Posterior, as_posterior
from contradistinct.queue import NegativeQueue
from contradistinct.set_level import SetLevelLoss
from contradistinct.taps import FeatureTaps

__version__ = "0.1.0"

__all__ = [
    "ELBO",
    "IELBO",
    "Critic",
    "CriticOutput",
    "DeepSupervisionHead",
    "ELBOOutput",
    "FeatureTaps",
    "IELBOOutput",
    "InstanceLoss",
    "InstanceOutput",
    "LayerCandidate",
    "LocalPatchHead",
    "MomentumEncoder",
    "MultiScaleContrastive",
    "MultiScaleOutput",
    "NegativeQueue",
    "PatchPair",
    "Posterior",
    "ProjectionHead",
    "SetLevelLoss",
    "__version__",
    "as_posterior",
    "backbones",
    "build_heads",
    "candidate_layers",
    "functional",
    "introspective",
    "metrics",
    "pga",
    "toy",
]
