"""Smoke, resume and non-finite tests of the reference trainer (examples/dcvae)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoint import FILENAME
from config import build_parser, parse_config
from outputs import NonFiniteLoss
from step import Trainer
from train import main, run

OUTPUTS = ("config.json", FILENAME, "samples.png", "reconstructions.png", "interpolations.png",
           "losses.png", "metrics.jsonl")  # fmt: skip
PROGAN = ["--backbone", "progan", "--resolution", "8", "--start-resolution", "4",
          "--fade-images", "8", "--stabilize-images", "8", "--gan", "wasserstein",
          "--gradient-penalty", "10", "--drift", "1e-3"]  # fmt: skip


@pytest.mark.parametrize(
    "extra",
    [
        ["--mode", "vae"],
        ["--mode", "vaegan"],
        ["--mode", "vae-contrastive"],
        ["--mode", "dcvae", "--n-critic", "2"],
        ["--mode", "dcvae", "--fused"],
        ["--mode", "dcvae", "--amp"],
        ["--mode", "dcvae", *PROGAN],
        ["--mode", "vaegan", *PROGAN],
    ],
    ids=[
        "vae",
        "vaegan",
        "vae-contrastive",
        "dcvae",
        "dcvae-fused",
        "dcvae-bf16-autocast",
        "dcvae-progan",
        "vaegan-progan",
    ],
)
def test_every_mode_and_backbone_trains_and_writes_its_outputs(
    tiny_args: list[str], extra: list[str], feature_cache: str
) -> None:
    # The digits classifier at 8 px measures FID and perceptual distance of the ProGAN runs.
    if "progan" in extra:
        extra = [*extra, "--feature-network", "auto", "--feature-cache", feature_cache]
    config = parse_config([*tiny_args, *extra, "--steps", "4", "--log-every", "2",
                           "--eval-every", "2", "--checkpoint-every", "2"])  # fmt: skip
    summary = run(config)
    out = Path(config.out)
    assert all((out / name).is_file() for name in OUTPUTS)
    assert all(torch.isfinite(torch.tensor(v)) for v in summary.values())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert json.loads((out / "config.json").read_text())["mode"] == config.mode
    if config.contrastive:
        assert "instance" in summary and 0 <= records[-1]["contrastive_accuracy"] <= 1
    if config.backbone == "progan":
        for key in ("sample_fid", "reconstruction_fid", "perceptual_distance"):
            assert records[-1][key] >= 0
        # 4 steps of 8 images: grown from 4x4 through the 8x8 fade-in to 8x8.
        payload = torch.load(out / FILENAME, weights_only=False)
        assert payload["images_seen"] == 32


def test_multi_scale_layers_and_late_local_patches(tiny_args: list[str]) -> None:
    layers = ["--layers", "block1", "block2", "pool", "--local-patch-after", "2"]
    config = parse_config([*tiny_args, *layers, "--queue-size", "64", "--steps", "4"])
    run(config)
    state = _state(Path(config.out))["trainer"]
    counts = [int(v) for k, v in state.items() if k.endswith("queue.count")]
    # Every scale fills its queue with real keys from the first step (4 contrastive steps of 8
    # keys); block1's local patches only enter the loss from step 2 on.
    assert counts == [32, 32, 32, 32]
    contrast = Trainer(config, channels=1).ielbo.instance_loss  # type: ignore[union-attr]
    assert list(contrast.start_steps.values()) == [0, 0, 0, 2]


def _state(out: Path) -> dict[str, object]:
    return torch.load(out / FILENAME, weights_only=False)


def _assert_identical(a: object, b: object, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_identical(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where  # type: ignore[arg-type]
        for i, (x, y) in enumerate(zip(a, b, strict=True)):  # type: ignore[call-overload]
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("extra", [["--n-critic", "2"], PROGAN], ids=["autogan", "progan"])
def test_resume_continues_bit_identically(
    tiny_args: list[str], tmp_path: Path, extra: list[str]
) -> None:
    k = 3
    # Bit-identical on the CPU; GPU kernels need not be deterministic.
    common = [*tiny_args, *extra, "--log-every", "1", "--eval-every", "100", "--device", "cpu"]
    straight = parse_config([*common, "--steps", str(2 * k), "--out", str(tmp_path / "a")])
    run(straight)
    first = parse_config([*common, "--steps", str(k), "--out", str(tmp_path / "b")])
    run(first)
    resumed = parse_config([*common, "--steps", str(2 * k), "--out", str(tmp_path / "b"),
                            "--resume"])  # fmt: skip
    run(resumed)
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert a["step"] == b["step"] == 2 * k
    queues = [name for name in a["trainer"] if name.endswith(("queue.keys", "queue.ptr"))]
    assert queues, "the checkpoint holds the queues and their pointers"
    for part in ("trainer", "optimizers", "images_seen", "history"):
        _assert_identical(a[part], b[part], part)
    _assert_identical(a["ranks"][0]["data"], b["ranks"][0]["data"], "data order")


def test_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(
    tiny_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config([*tiny_args, "--steps", "10", "--log-every", "2",
                           "--checkpoint-every", "4", "--eval-every", "100"])  # fmt: skip
    iteration = Trainer.iteration

    def poisoned(self: Trainer, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        if step == 5:  # the sixth iteration
            with torch.no_grad():
                next(self.networks.decoder.parameters()).fill_(float("nan"))
        return iteration(self, x, step)

    monkeypatch.setattr(Trainer, "iteration", poisoned)
    with pytest.raises(NonFiniteLoss, match=r"'d_loss' was not finite at step 6"):
        run(config)
    payload = _state(Path(config.out))
    assert payload["step"] == 4
    assert all(
        torch.isfinite(t).all() for t in payload["trainer"].values() if t.is_floating_point()
    )

    with pytest.raises(SystemExit, match=r"not finite at step 6; training stopped: the last good "
                       r"checkpoint is .*checkpoint\.pt \(step 4;"):  # fmt: skip
        main([*tiny_args, "--steps", "10", "--log-every", "2", "--checkpoint-every", "4",
              "--eval-every", "100", "--overwrite"])  # fmt: skip


def test_resume_without_a_checkpoint_says_so(tiny_args: list[str]) -> None:
    with pytest.raises(SystemExit, match="--resume: no checkpoint at"):
        main([*tiny_args, "--resume"])


def test_resume_drops_metrics_written_after_the_checkpoint(tiny_args: list[str]) -> None:
    out = Path(tiny_args[tiny_args.index("--out") + 1])
    main([*tiny_args, "--steps", "4", "--eval-every", "2", "--checkpoint-every", "2"])
    with (out / "metrics.jsonl").open("a") as file:  # as if the run died after evaluating step 6
        file.write(json.dumps({"step": 6}) + "\n")
    main([*tiny_args, "--steps", "6", "--eval-every", "2", "--checkpoint-every", "2", "--resume"])
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_resume_with_other_training_settings_is_refused(tiny_args: list[str]) -> None:
    main([*tiny_args, "--steps", "2", "--eval-every", "100"])
    with pytest.raises(SystemExit, match=r"other settings \(kl_weight: .* -> 0\.5\)"):
        main([*tiny_args, "--steps", "4", "--eval-every", "100", "--kl-weight", "0.5",
              "--resume"])  # fmt: skip


def test_an_interrupted_save_leaves_the_previous_checkpoint(
    tiny_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import checkpoint

    config = parse_config([*tiny_args, "--steps", "2", "--eval-every", "100"])
    run(config)
    out = Path(config.out)
    before = (out / FILENAME).read_bytes()

    def crash(payload: object, file: object) -> None:
        file.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        run(parse_config([*tiny_args, "--steps", "4", "--eval-every", "100", "--resume"]))
    assert (out / FILENAME).read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".tmp") == []


def _grads(params: list[torch.Tensor]) -> set[bool]:
    return {p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params}


@pytest.mark.parametrize("fused", [False, True])
def test_which_parameters_each_step_trains(tiny_args: list[str], fused: bool) -> None:
    config = parse_config([*tiny_args, *(["--fused"] if fused else [])])
    trainer = Trainer(config, channels=1)
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    growth = trainer.growth()
    trainer.generator_iteration(x, growth)  # fills the queues: an empty queue has no gradient
    for param in [*trainer.eg_params, *trainer.d_params]:
        param.grad = None
    trainer.discriminator_step(x, growth)
    # The D step's fakes carry no graph: nothing reaches the encoder or decoder.
    assert _grads(trainer.eg_params) == {False}
    assert True in _grads(list(trainer.networks.discriminator.parameters()))
    # The trainable heads (and temperatures); the momentum copies of the heads never get a grad.
    contrast = trainer.ielbo.parameters()  # type: ignore[union-attr]
    heads, key_heads = [], []
    for p in contrast:
        (heads if p.requires_grad else key_heads).append(p)
    assert key_heads, "the keys go through momentum copies of the heads"
    if fused:
        trainer.generator_iteration(x, growth)
        assert _grads(trainer.eg_params + heads) == {True}
    else:
        for param in trainer.d_params:
            param.grad = None
        trainer._adversarial_step(x, growth)
        # The generator's adversarial term trains E and G only, never D or the heads.
        assert _grads(trainer.eg_params) == {True}
        assert _grads(trainer.d_params) == {False}
        trainer._contrastive_step(x, growth, step=0)
        assert True in _grads(list(trainer.networks.discriminator.parameters()))
        assert _grads(heads) == {True}
    # The momentum copy and the decoder EMA never receive gradients.
    assert trainer.momentum is not None and trainer.decoder_ema is not None
    frozen = [*trainer.momentum.parameters(), *trainer.decoder_ema.parameters(), *key_heads]
    assert all(p.grad is None and not p.requires_grad for p in frozen)


class PoolFeatures(torch.nn.Module):
    """The calling convention of inception-2015-12-05.pt (uint8 images in [0, 255], features on
    ``return_features=True``), with 2x2-pooled pixels for features."""

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert img.dtype == torch.uint8
        return torch.nn.functional.adaptive_avg_pool2d(img.float() / 255, 2).flatten(1)


def _colour_images(path: Path, count: int) -> Path:
    np.save(path, np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8))
    return path


# Scripting is how the real Inception file was made; torch 2.13 deprecates it.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_inception_weights_give_fid_outside_the_digits(
    tiny_args: list[str], tmp_path: Path
) -> None:
    weights = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(PoolFeatures()).save(str(weights))
    data = f"npz:{_colour_images(tmp_path / 'colour.npy', 40)}"
    inception = ["--feature-network", "auto", "--inception-weights", str(weights)]
    config = parse_config([*tiny_args, *inception, "--mode", "vae", "--data", data, "--steps", "2"])
    run(config)
    record = json.loads((Path(config.out) / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("sample_fid", "reconstruction_fid", "perceptual_distance"):
        assert record[key] >= 0, key


def test_without_inception_weights_other_data_has_no_fid(
    tiny_args: list[str], tmp_path: Path
) -> None:
    data = f"npz:{_colour_images(tmp_path / 'colour.npy', 16)}"
    config = parse_config([*tiny_args, "--mode", "vae", "--data", data, "--steps", "1",
                           "--feature-network", "auto"])  # fmt: skip
    run(config)
    record = json.loads((Path(config.out) / "metrics.jsonl").read_text())
    assert "pixel_distance" in record and "sample_fid" not in record


def test_a_wrong_inception_file_stops_before_anything_is_written(
    tiny_args: list[str], tmp_path: Path
) -> None:
    weights = tmp_path / "weights.pt"
    torch.save({"fc.weight": torch.zeros(2)}, weights)
    out = Path(tiny_args[tiny_args.index("--out") + 1])
    with pytest.raises(SystemExit, match=r"^error: path '.*weights\.pt' is not a TorchScript"):
        main([*tiny_args, "--feature-network", "auto", "--inception-weights", str(weights)])
    with pytest.raises(SystemExit, match=r"^error: path '.*missing\.pt' is not a file"):
        main([*tiny_args, "--feature-network", "auto", "--inception-weights",
              str(tmp_path / "missing.pt")])  # fmt: skip
    assert not (out / "config.json").exists()


def test_help_shows_every_flags_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapping inside "celeba-hq"
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    flags = [action for action in build_parser()._actions if action.dest != "help"]
    assert len(flags) > 40
    for action in flags:
        assert action.help is not None and "default: " in action.help, action.dest
        assert " ".join(action.help.split()) in text
    # The default preset's value first, then the presets where it differs.
    steps = "default: 3000; cifar10, celeba-hq: 100000"
    assert f"--steps STEPS training iterations (discriminator steps); {steps}" in text
    assert "--device DEVICE auto (cuda when a GPU is available, else cpu)" in text
    assert "Without --inception-weights there is no Inception FID" in text
