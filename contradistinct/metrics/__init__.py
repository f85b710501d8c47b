"""Evaluation metrics of the papers: FID, pixel and perceptual distance, linear probe, PPL."""

from contradistinct.metrics._modes import evaluation_mode
from contradistinct.metrics.distance import perceptual_distance, pixel_distance
from contradistinct.metrics.fid import FID
from contradistinct.metrics.frechet import frechet_distance
from contradistinct.metrics.inception import inception_feature_extractor, inception_from_file
from contradistinct.metrics.ppl import perceptual_path_length
from contradistinct.metrics.probe import LinearProbeResult, linear_probe_accuracy

__all__ = [
    "FID",
    "LinearProbeResult",
    "evaluation_mode",
    "frechet_distance",
    "inception_feature_extractor",
    "inception_from_file",
    "linear_probe_accuracy",
    "perceptual_distance",
    "perceptual_path_length",
    "pixel_distance",
]
