"""Training-cost projection: FLOPs formula, GPU-hours, prices, the bundled GPU table, bad input."""

import pytest

from advisor.errors import InputError
from advisor.training_cost import (gpu_class, gpu_hours, load_gpus, project_training, training_flops)


def test_flops_follow_six_n_t_epochs():
    assert training_flops(7, 1_000_000, 3) == pytest.approx(6 * 7e9 * 1e6 * 3)


def test_gpu_hours_by_hand_and_price_override():
    p = project_training(7, 10_000, 200, 3, "A100")
    a100 = gpu_class("a100")
    expected = 6 * 7e9 * 10_000 * 200 * 3 / (a100.bf16_tflops * 1e12 * a100.mfu * 3600)
    assert p.gpu_hours == pytest.approx(expected)
    assert p.cost == pytest.approx(expected * a100.price_per_hour)
    assert project_training(7, 10_000, 200, 3, "a100", price_per_hour=10).cost == pytest.approx(expected * 10)


def test_faster_gpu_takes_fewer_hours():
    flops = training_flops(8, 5e6, 2)
    assert gpu_hours(flops, gpu_class("h100")) < gpu_hours(flops, gpu_class("a100")) < gpu_hours(flops, gpu_class("t4"))


def test_bundled_table_has_the_named_classes():
    gpus = load_gpus()
    assert {"a100", "h100", "l4", "t4", "cpu"} <= set(gpus)
    assert all(0 < g.mfu <= 1 and g.bf16_tflops > 0 and g.price_per_hour >= 0 for g in gpus.values())


def test_unknown_gpu_names_the_known_ones():
    with pytest.raises(InputError, match="--gpu 'v100'.*a100"):
        project_training(7, 100, 100, 1, "v100")


def test_broken_table_is_one_clear_error(tmp_path):
    bad = tmp_path / "costs.yaml"
    bad.write_text("gpus:\n  x1:\n    label: X\n    bf16_tflops: -1\n    mfu: 0.3\n    price_per_hour: 1\n")
    with pytest.raises(InputError, match="costs.yaml: gpus"):
        load_gpus(bad)
    (tmp_path / "empty.yaml").write_text("prices: {}\n")
    with pytest.raises(InputError, match="no `gpus:` section"):
        load_gpus(tmp_path / "empty.yaml")


def test_nonsense_sizes_are_rejected():
    with pytest.raises(InputError):
        project_training(0, 100, 100, 1, "a100")
