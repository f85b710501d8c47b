"""contradistinct: losses and components for contradistinctive generative autoencoders."""

from contradistinct import backbones, functional, introspective, pga, toy
from contradistinct.elbo import ELBO, IELBO, ELBOOutput, IELBOOutput
from contradistinct.instance import InstanceLoss
from contradistinct.momentum import MomentumEncoder
from contradistinct.queue import NegativeQueue
from contradistinct.set_level import SetLevelLoss

__version__ = "0.1.0.dev0"

__all__ = [
    "ELBO",
    "IELBO",
    "ELBOOutput",
    "IELBOOutput",
    "InstanceLoss",
    "MomentumEncoder",
    "NegativeQueue",
    "SetLevelLoss",
    "__version__",
    "backbones",
    "functional",
    "introspective",
    "pga",
    "toy",
]
