"""The package's old private path to :mod:`contradistinct.posterior`, kept for its importers.

The implementation lives in :mod:`contradistinct.posterior`; the modules that still import
``as_posterior`` and ``describe`` from here get the same two functions.
"""

from __future__ import annotations

from contradistinct.posterior import as_posterior, describe

__all__ = ["as_posterior", "describe"]
