"""Evaluation metrics of the papers: FID, pixel and perceptual distance, linear probe, PPL."""

from contradistinct.metrics._modes import evaluation_mode
from contradistinct.metrics.distance import perceptual_distance, pixel_distance
from contradistinct.metrics.fid import FID, inception_feature_extractor
from contradistinct.metrics.frechet import frechet_distance
from contradistinct.metrics.ppl import perceptual_path_length
from contradistinct.metrics.probe import LinearProbeResult, linear_probe_accuracy

__all__ = [
    "FID",
    "LinearProbeResult",
    "evaluation_mode",
    "frechet_distance",
    "inception_feature_extractor",
    "linear_probe_accuracy",
    "perceptual_distance",
    "perceptual_path_length",
    "pixel_distance",
]
