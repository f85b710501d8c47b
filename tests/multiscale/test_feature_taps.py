"""FeatureTaps: records by qualified name, never leaves hooks behind, helpful errors."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
import torch.distributed as dist
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from contradistinct import FeatureTaps, MomentumEncoder


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(x)).sum((2, 3)))


ALL_LAYERS = ["", "block1", "block1.0", "block1.1", "block2", "block2.0", "block2.1", "head"]


def hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def test_records_outputs_by_name_and_removes_hooks_on_exit() -> None:
    net = Net()
    x = torch.randn(2, 1, 8, 8)
    with FeatureTaps(net, ["block1", "block2.0", "head"]) as taps:
        assert hook_count(net) == 3
        out = net(x)
        features = taps.features()
    assert hook_count(net) == 0
    assert list(features) == ["block1", "block2.0", "head"]
    torch.testing.assert_close(features["block1"], net.block1(x))
    torch.testing.assert_close(features["block2.0"], net.block2[0](net.block1(x)))
    assert features["head"] is out


def test_records_keep_the_graph() -> None:
    net = Net()
    with FeatureTaps(net, ["block2"]) as taps:
        net(torch.randn(2, 1, 8, 8))
    taps.features()["block2"].sum().backward()
    assert net.block1[0].weight.grad is not None


@given(
    layers=st.lists(st.sampled_from(ALL_LAYERS), min_size=1, max_size=4, unique=True),
    fail=st.booleans(),
    reuse=st.integers(1, 3),
)
def test_no_hooks_left_behind(layers: list[str], fail: bool, reuse: int) -> None:
    net = Net()
    taps = FeatureTaps(net, layers)
    for _ in range(reuse):
        with pytest.raises(RuntimeError, match="inside") if fail else nullcontext():
            with taps:
                assert hook_count(net) == len(layers)
                net(torch.randn(1, 1, 4, 4))
                if fail:
                    raise RuntimeError("raised inside the with block")
        assert hook_count(net) == 0
        assert not taps.attached


def test_hooks_removed_when_the_forward_pass_raises() -> None:
    net = Net()
    with pytest.raises(RuntimeError):
        with FeatureTaps(net, ["block1", "head"]):
            net(torch.randn(2, 3, 8, 8))  # wrong channel count: conv raises
    assert hook_count(net) == 0


def test_plain_object_use() -> None:
    net = Net()
    taps = FeatureTaps(net, ["head"])
    assert taps.attached and hook_count(net) == 1
    net(torch.randn(2, 1, 8, 8))
    assert taps.features()["head"].shape == (2, 1)
    taps.remove()
    assert hook_count(net) == 0
    assert taps.features()["head"].shape == (2, 1)  # records survive removal
    taps.attach()
    with pytest.raises(RuntimeError, match="no output recorded for layers \\['head'\\]"):
        taps.features()  # attaching again starts from a clean slate
    taps.remove()


def test_last_call_wins_and_clear_forgets() -> None:
    net = Net()
    with FeatureTaps(net, ["head"]) as taps:
        net(torch.zeros(1, 1, 4, 4))
        second = net(torch.ones(3, 1, 4, 4))
        assert taps.features()["head"] is second
        taps.clear()
        with pytest.raises(RuntimeError, match="no output recorded"):
            taps.features()


def test_unknown_layer_lists_closest_names() -> None:
    with pytest.raises(ValueError, match="unknown layer 'blok1' in Net; closest: 'block1'"):
        FeatureTaps(Net(), ["blok1"])
    with pytest.raises(ValueError, match=r"available: 'block1', 'block1\.0'"):
        FeatureTaps(Net(), ["zzzzzz"])


def test_bad_layer_arguments() -> None:
    with pytest.raises(TypeError, match="sequence of layer names"):
        FeatureTaps(Net(), "block1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        FeatureTaps(Net(), [])
    with pytest.raises(ValueError, match="distinct"):
        FeatureTaps(Net(), ["head", "head"])
    with pytest.raises(TypeError, match=r"nn\.Module"):
        FeatureTaps(lambda x: x, ["head"])  # type: ignore[arg-type]


def test_non_tensor_output_is_refused() -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    net = nn.Sequential(Pair())
    with pytest.raises(TypeError, match="layer '0' returned tuple"):
        with FeatureTaps(net, ["0"]):
            net(torch.ones(1))
    assert hook_count(net) == 0


def test_momentum_copy_is_tapped_not_the_online_module() -> None:
    net = Net()
    momentum = MomentumEncoder(net)
    with momentum.taps(["block1", "head"]) as taps:
        assert hook_count(net) == 0
        assert hook_count(momentum.module) == 2
        momentum(torch.randn(2, 1, 8, 8))
        features = taps.features()
    assert hook_count(momentum.module) == 0
    assert not features["head"].requires_grad


def test_data_parallel_names_with_and_without_prefix() -> None:
    net = Net()
    wrapped = nn.DataParallel(net)  # on CPU it runs the module directly
    with FeatureTaps(wrapped, ["block1", "module.head"]) as taps:
        wrapped(torch.randn(2, 1, 8, 8))
        assert set(taps.features()) == {"block1", "module.head"}
    assert hook_count(wrapped) == 0
    # The same prefixed names serve an unwrapped copy, e.g. the momentum copy.
    with FeatureTaps(MomentumEncoder(wrapped).module, ["module.head"]) as taps:
        assert hook_count(net) == 0


def test_distributed_data_parallel(tmp_path: pytest.TempPathFactory) -> None:
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        net = Net()
        ddp = nn.parallel.DistributedDataParallel(net)
        for layers in (["block1", "head"], ["module.block1", "module.head"]):
            with FeatureTaps(ddp, layers) as taps:
                out = ddp(torch.randn(2, 1, 8, 8))
                features = taps.features()
            assert hook_count(ddp) == 0
            assert set(features) == set(layers)
            torch.testing.assert_close(features[layers[1]], out)
    finally:
        dist.destroy_process_group()


def test_compile_prefix_is_accepted() -> None:
    # torch.compile keeps the network as ``_orig_mod``; names copied from its
    # named_modules() resolve on the plain network too.
    net = Net()
    with FeatureTaps(net, ["_orig_mod.block1", "_orig_mod.module.head"]) as taps:
        net(torch.randn(1, 1, 4, 4))
        assert set(taps.features()) == {"_orig_mod.block1", "_orig_mod.module.head"}


def test_a_momentum_copy_made_while_tapped_does_not_write_into_the_taps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    taps = FeatureTaps(net, ["0"])  # hooks attached at construction
    momentum = MomentumEncoder(net)  # deep copy made while the hooks are attached
    x_rec, x = torch.randn(3, 4), torch.randn(3, 4)
    with taps:
        net(x_rec)
        with momentum.taps(["0"]) as k_taps:
            momentum(x)
        query, key = taps.features()["0"], k_taps.features()["0"]
    torch.testing.assert_close(query, net[0](x_rec))
    torch.testing.assert_close(key, momentum.module[0](x))
