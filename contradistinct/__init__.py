"""contradistinct: losses and components for contradistinctive generative autoencoders."""

from contradistinct import backbones, functional, introspective, metrics, pga, toy
from contradistinct.elbo import ELBO, IELBO, ELBOOutput, IELBOOutput
from contradistinct.heads import DeepSupervisionHead, LocalPatchHead, PatchPair, ProjectionHead
from contradistinct.instance import InstanceLoss, InstanceOutput
from contradistinct.momentum import MomentumEncoder
from contradistinct.multiscale import MultiScaleContrastive, MultiScaleOutput
from contradistinct.queue import NegativeQueue
from contradistinct.set_level import SetLevelLoss
from contradistinct.taps import FeatureTaps

__version__ = "0.1.0"

__all__ = [
    "ELBO",
    "IELBO",
    "DeepSupervisionHead",
    "ELBOOutput",
    "FeatureTaps",
    "IELBOOutput",
    "InstanceLoss",
    "InstanceOutput",
    "LocalPatchHead",
    "MomentumEncoder",
    "MultiScaleContrastive",
    "MultiScaleOutput",
    "NegativeQueue",
    "PatchPair",
    "ProjectionHead",
    "SetLevelLoss",
    "__version__",
    "backbones",
    "functional",
    "introspective",
    "metrics",
    "pga",
    "toy",
]
