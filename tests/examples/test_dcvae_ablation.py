"""The ablation script: four modes, one table, one figure."""

from __future__ import annotations

from pathlib import Path

from ablation import main


def test_ablation_writes_a_row_per_mode_and_the_figure(
    tiny_args: list[str], tmp_path: Path
) -> None:
    run_flags = tiny_args[: tiny_args.index("--out")]
    rows = main(["--steps", "2", "--out", str(tmp_path / "ablation"), "--", *run_flags])
    assert list(rows) == ["vae", "vaegan", "vae-contrastive", "dcvae"]
    table = (tmp_path / "ablation" / "ablation.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == [
        "VAE", "VAE/GAN", "VAE-Contrastive", "DC-VAE",
    ]  # fmt: skip
    assert "pixel distance" in table[0]
    assert (tmp_path / "ablation" / "ablation.png").stat().st_size > 0
