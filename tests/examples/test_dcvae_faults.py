"""The trainer never loses a run and never calls a bad state good (issue 14, the trainer half).

Each test puts the trainer in a fault a user or a machine produces: a rerun into a run's folder,
a non-finite state after an optimizer step, a save killed mid-write, a damaged or foreign
checkpoint, a resume with another number of processes or a shorter ``--steps``, bad flags.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from checkpoint import FILENAME, NonFiniteState
from config import parse_config
from outputs import NonFiniteLoss
from step import Trainer
from train import choose_device, main, run

ROOT = Path(__file__).resolve().parents[2]
#: The fastest mode; the faults do not depend on it.
FAST = ["--mode", "vae", "--device", "cpu", "--eval-every", "100"]


def _args(tiny_args: list[str], out: Path, *extra: str) -> list[str]:
    return [*tiny_args, *FAST, "--out", str(out), *extra]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _error(command: Callable[[], object]) -> str:
    """The message of the one ``error:`` line a refused command exits with (status 1)."""
    with pytest.raises(SystemExit) as exit_info:
        command()
    message = exit_info.value.code
    assert isinstance(message, str), "a string exit code: printed to stderr, exit status 1"
    assert message.startswith("error: ") and "\n" not in message
    return message


#: The run that the tests copy and damage, trained once per session.
_FINISHED: list[Path] = []


@pytest.fixture
def copy(tiny_args: list[str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of a run of 2 steps (checkpointed at each), to damage."""
    if not _FINISHED:
        out = tmp_path_factory.mktemp("finished") / "run"
        main(_args(tiny_args, out, "--steps", "2", "--checkpoint-every", "1"))
        _FINISHED.append(out)
    return Path(shutil.copytree(_FINISHED[0], tmp_path / "copy"))


# -- a rerun into a run's folder -------------------------------------------------------------


def test_rerun_without_resume_refuses_and_changes_nothing(tiny_args: list[str], copy: Path) -> None:
    (copy / "notes.txt").write_text("mine")
    before = _snapshot(copy)
    message = _error(lambda: main(_args(tiny_args, copy, "--steps", "2")))
    assert f"--out {copy} already holds a run (config.json, checkpoint.pt" in message
    assert "--resume" in message and "a new --out" in message and "--overwrite" in message
    assert _snapshot(copy) == before


def test_overwrite_replaces_the_run_and_keeps_other_files(
    tiny_args: list[str], copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / "notes.txt").write_text("mine")
    (copy / "metrics.jsonl").write_text('{"step": 99}\n')
    main(_args(tiny_args, copy, "--steps", "1", "--overwrite"))
    assert "--overwrite: replaced the run in" in capsys.readouterr().out
    assert torch.load(copy / FILENAME, weights_only=False)["step"] == 1
    assert '"step": 99' not in (copy / "metrics.jsonl").read_text()
    assert (copy / "notes.txt").read_text() == "mine"


def test_resume_and_overwrite_together_are_refused(tiny_args: list[str], copy: Path) -> None:
    message = _error(lambda: main(_args(tiny_args, copy, "--resume", "--overwrite")))
    assert "--resume continues the run in --out and --overwrite replaces it" in message


# -- non-finite states -----------------------------------------------------------------------


def _infinite_lr_from(monkeypatch: pytest.MonkeyPatch, first: int) -> None:
    """From iteration ``first`` (0-based) on, an infinite learning rate: the loss of that
    iteration is still finite (computed before the update), the weights after it are not."""
    iteration = Trainer.iteration

    def poisoned(self: Trainer, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        if step == first:
            for group in self.opt_eg.param_groups:
                group["lr"] = float("inf")
        return iteration(self, x, step)

    monkeypatch.setattr(Trainer, "iteration", poisoned)


def test_non_finite_weights_after_a_finite_loss_write_no_checkpoint(
    tiny_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _infinite_lr_from(monkeypatch, first=3)
    config = parse_config(_args(tiny_args, out, "--steps", "6", "--checkpoint-every", "2",
                                "--log-every", "1"))  # fmt: skip
    with pytest.raises(NonFiniteState) as error:
        run(config)
    # Every logged loss up to step 4 was finite; the weights after step 4's update are not.
    assert "tensors of the training state were not finite after step 4" in str(error.value)
    assert f"the last good checkpoint is {out / FILENAME} (step 2;" in str(error.value)
    payload = torch.load(out / FILENAME, weights_only=False)
    assert payload["step"] == 2
    tensors = [*payload["trainer"].values()]
    tensors += [v for o in payload["optimizers"].values() for s in o["state"].values()
                for v in s.values()]  # fmt: skip
    assert all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())


def test_with_no_good_checkpoint_the_message_says_so(
    tiny_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _infinite_lr_from(monkeypatch, first=0)
    message = _error(lambda: main(_args(tiny_args, out, "--steps", "3", "--checkpoint-every",
                                        "10", "--log-every", "10")))  # fmt: skip
    # The second iteration's loss is computed from the non-finite weights of the first.
    assert "was not finite at step 2; training stopped" in message
    assert "no checkpoint of this run was written, so none is good" in message
    assert not (out / FILENAME).exists()


def test_after_resuming_the_resumed_checkpoint_is_the_good_one(
    tiny_args: list[str], copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _infinite_lr_from(monkeypatch, first=2)
    config = parse_config(_args(tiny_args, copy, "--steps", "5", "--checkpoint-every", "10",
                                "--resume"))  # fmt: skip
    with pytest.raises((NonFiniteLoss, NonFiniteState), match=r"\(step 2;"):
        run(config)
    assert torch.load(copy / FILENAME, weights_only=False)["step"] == 2


# -- a save killed mid-write -----------------------------------------------------------------


def test_the_next_start_removes_orphans_of_killed_saves(
    tiny_args: list[str], copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What kill -9 inside save() leaves: tempfile.mkstemp(prefix="checkpoint.pt", suffix=".tmp").
    orphan = copy / f"{FILENAME}k2j4_x9q.tmp"
    orphan.write_bytes(b"half a checkpoint")
    main(_args(tiny_args, copy, "--steps", "3", "--resume"))
    assert not orphan.exists()
    assert f"removed {orphan}, left by a save that was killed" in capsys.readouterr().out
    # A folder holding only an orphan holds no run: a new run starts there and removes it.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / f"{FILENAME}abc.tmp").write_bytes(b"")
    main(_args(tiny_args, fresh, "--steps", "1"))
    assert sorted(p.name for p in fresh.iterdir() if p.suffix == ".tmp") == []


# -- damaged and foreign checkpoints ---------------------------------------------------------


def _flip_a_byte_inside_the_largest_tensor(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        largest = max(archive.infolist(), key=lambda info: info.compress_size)
    data = bytearray(path.read_bytes())
    # The local header before the record's bytes takes under 200 bytes.
    position = largest.header_offset + 200 + largest.compress_size // 2
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_payload(path: Path, edit: Callable[[dict[str, object]], object]) -> None:
    payload = torch.load(path, weights_only=False)
    torch.save(edit(payload), path)


def _without(part: str) -> Callable[[dict[str, object]], object]:
    return lambda payload: {k: v for k, v in payload.items() if k != part}


def _replace(part: str, value: object) -> Callable[[dict[str, object]], object]:
    return lambda payload: {**payload, part: value}


def _poison_a_weight(payload: dict[str, object]) -> dict[str, object]:
    state = dict(payload["trainer"])  # type: ignore[call-overload]
    name = next(name for name, tensor in state.items() if tensor.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    return {**payload, "trainer": state}


def _drop_a_weight(payload: dict[str, object]) -> dict[str, object]:
    state = dict(payload["trainer"])  # type: ignore[call-overload]
    state.pop(next(iter(state)))
    return {**payload, "trainer": state}


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (lambda p: p.write_bytes(b""), "is empty \\(0 bytes\\)"),
    "truncated": (
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "is truncated or not a checkpoint",
    ),
    "corrupted": (
        _flip_a_byte_inside_the_largest_tensor,
        "is corrupted: the bytes of its record .* do not match their CRC-32 checksum",
    ),
    "garbage": (lambda p: p.write_bytes(os.urandom(4096)), "is truncated or not a checkpoint"),
    "foreign-state-dict": (
        lambda p: torch.save({"weight": torch.zeros(2)}, p),
        "is not a checkpoint of this trainer \\(a dict without 'step', 'images_seen'",
    ),
    "foreign-tensor": (
        lambda p: torch.save(torch.zeros(2), p),
        "is not a checkpoint of this trainer \\(a Tensor without 'step'",
    ),
    "no-ranks": (
        lambda p: _edit_payload(p, _without("ranks")),
        "is not a checkpoint of this trainer \\(a dict without 'ranks'\\)",
    ),
    "no-config": (
        lambda p: _edit_payload(p, _without("config")),
        "is not a checkpoint of this trainer \\(a dict without 'config'\\)",
    ),
    "config-not-json": (
        lambda p: _edit_payload(p, _replace("config", "{not json")),
        "its 'config' is not the JSON of a run's settings",
    ),
    # Written by a trainer without the finiteness check.
    "non-finite": (
        lambda p: _edit_payload(p, _poison_a_weight),
        "holds a state that is not finite: 1 of [0-9]+ tensors .* not finite after step 2",
    ),
    "other-networks": (
        lambda p: _edit_payload(p, _drop_a_weight),
        "does not fit this run's networks \\(RuntimeError: Error\\(s\\) in loading state_dict",
    ),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_or_foreign_checkpoint_is_one_error_line(
    tiny_args: list[str], copy: Path, kind: str
) -> None:
    damage, what = DAMAGE[kind]
    damage(copy / FILENAME)
    before = _snapshot(copy)
    message = _error(lambda: main(_args(tiny_args, copy, "--steps", "4", "--resume")))
    assert message.startswith(f"error: --resume: {copy / FILENAME} ")
    assert re.search(what, message), message
    assert _snapshot(copy) == before


def test_a_checkpoint_of_two_processes_is_refused_by_one(tiny_args: list[str], copy: Path) -> None:
    _edit_payload(copy / FILENAME, lambda p: {**p, "ranks": p["ranks"] * 2})  # type: ignore[operator]
    message = _error(lambda: main(_args(tiny_args, copy, "--steps", "4", "--resume")))
    assert "was written by 2 process(es) and this run has 1" in message
    assert "torchrun --nproc_per_node 2" in message


def test_resuming_below_the_checkpoints_step_is_refused(tiny_args: list[str], copy: Path) -> None:
    before = _snapshot(copy)
    message = _error(lambda: main(_args(tiny_args, copy, "--steps", "1", "--resume")))
    assert f"{copy / FILENAME} is at step 2, past --steps 1" in message
    assert _snapshot(copy) == before


def test_resuming_a_finished_run_says_there_is_nothing_to_train(
    tiny_args: list[str], copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(copy)
    main(_args(tiny_args, copy, "--steps", "2", "--resume"))  # exit status 0: a requeued job
    assert "is already at step 2 (--steps): nothing to train" in capsys.readouterr().out
    assert _snapshot(copy) == before


# -- bad settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "nan"], "--lr must lie in (0, inf), got nan"),
        (["--lr", "-1"], "--lr must lie in (0, inf), got -1.0"),
        (["--lr", "inf"], "--lr must lie in (0, inf), got inf"),
        (["--betas", "1.5", "0.9"], "--betas must each lie in [0, 1), got 1.5 0.9"),
        (["--kl-weight", "nan"], "--kl-weight must lie in [0, inf), got nan"),
        (["--momentum", "nan"], "--momentum must lie in [0, 1], got nan"),
        (["--temperature", "inf"], "--temperature must lie in (0, inf), got inf"),
        (["--ema", "1"], "--ema must lie in [0, 1), got 1.0"),
        (["--gradient-penalty=-inf"], "--gradient-penalty must lie in [0, inf), got -inf"),
        (["--steps", "0"], "--steps must be positive, got 0"),
        (["--threads", "-2"], "--threads must be positive, got -2"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
        (["--feature-network", "none", "--inception-weights", "x.pt"], "--feature-network is"),
        # Refused by the networks, not by config.py: still one line.
        (["--mode", "dcvae", "--resolution", "16"], "AutoGAN-32 backbone trains at"),
    ],
)
def test_bad_settings_are_one_error_line_before_anything_happens(
    tiny_args: list[str], tmp_path: Path, flags: list[str], message: str
) -> None:
    out = tmp_path / "run"
    error = _error(lambda: main([*_args(tiny_args, out), *flags]))
    assert message in error
    assert not (out / "config.json").exists()


def test_several_bad_settings_are_named_together(tiny_args: list[str], tmp_path: Path) -> None:
    error = _error(lambda: main([*_args(tiny_args, tmp_path), "--lr", "nan", "--ema", "2"]))
    assert "--lr must lie in (0, inf), got nan; --ema must lie in [0, 1), got 2.0" in error


def test_the_program_prints_one_line_and_exits_1(tiny_args: list[str], tmp_path: Path) -> None:
    # In-process, every refusal above is SystemExit with a string: exit status 1. Here, once, the
    # real program: no traceback, one line on stderr.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "dcvae" / "train.py"),
         *_args(tiny_args, tmp_path / "run", "--lr", "nan")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "error: --lr must lie in (0, inf), got nan\n"


# -- the device ------------------------------------------------------------------------------


def test_the_first_log_line_names_the_device(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "run")
    main([*tiny_args, "--mode", "vae", "--steps", "1", "--device", "auto", "--out", out])
    first = capsys.readouterr().out.splitlines()[0]
    if torch.cuda.is_available():
        assert first.startswith("device: cuda:0 (") and "--device auto: a GPU is available" in first
    else:
        assert first == "device: cpu, from --device auto: no GPU is available"


@pytest.mark.parametrize(
    ("flag", "gpus", "local_processes", "local_rank", "expected"),
    [
        ("auto", 0, 1, 0, "cpu"),
        ("auto", 1, 1, 0, "cuda:0"),
        ("auto", 2, 2, 1, "cuda:1"),
        # Two processes cannot share one GPU under NCCL: the CPU with gloo.
        ("auto", 1, 2, 1, "cpu"),
        ("cpu", 1, 1, 0, "cpu"),
        ("cuda:1", 2, 1, 0, "cuda:1"),
        ("cuda", 2, 2, 1, "cuda:1"),
    ],
)
def test_auto_takes_the_gpu_when_there_is_one(
    tiny_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    gpus: int,
    local_processes: int,
    local_rank: int,
    expected: str,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_processes))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    config = parse_config([*tiny_args, "--device", flag])
    device, reason = choose_device(config)
    assert str(device) == expected
    assert reason.startswith("--device auto" if flag == "auto" else "--device")
