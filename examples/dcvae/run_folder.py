"""The output folder of a run: never overwritten by accident.

A run writes :data:`RUN_FILES` into ``--out``. Starting a run in a folder that already holds
any of them is refused, with the ways on: ``--resume`` (continue that run), another ``--out``,
or ``--overwrite`` (replace that run: its files are deleted when the new run starts; anything
else in the folder, such as the cached digits classifier, is kept). The refusal comes before
anything is loaded or written, so a refused command changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from checkpoint import FILENAME
from evaluate import PICTURES
from outputs import LOSS_CURVES, METRICS

CONFIG = "config.json"
#: Every file a run writes into its folder.
RUN_FILES = (CONFIG, FILENAME, METRICS, LOSS_CURVES, *PICTURES)


class RunFolderError(ValueError):
    """``--out`` holds a run that this command would overwrite."""


def existing_run_files(out: Path) -> list[str]:
    """The files of a run already in ``out``, in :data:`RUN_FILES` order."""
    return [name for name in RUN_FILES if (out / name).exists()]


def check_run_folder(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run over the run in ``out`` unless told to replace it.

    Raises:
        RunFolderError: naming the folder, the run's files and the ways on.
    """
    found = existing_run_files(out)
    if found and not resume and not overwrite:
        raise RunFolderError(
            f"--out {out} already holds a run ({', '.join(found)}); nothing was changed. "
            "Continue it with --resume, choose a new --out, or replace it with --overwrite"
        )


def clear_run(out: Path) -> list[str]:
    """Delete the files of the run in ``out`` (``--overwrite``); return their names."""
    found = existing_run_files(out)
    for name in found:
        (out / name).unlink()
    return found
