"""The LoRA probe's training loop: a real peft adapter trained on CPU, its loss, gradients, dropout and bf16; the
loss on general text and the interval of the forgetting ratio."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest

from advisor.probes.common.runtime import ModelSpec
from advisor.probes.lora.training import TrainSettings, language_model_loss, supervised_example, train
from tests.tiny import build_tiny_model

CUES = {"billing": ["invoice", "refund", "payment"], "technical": ["crashes", "upload", "password"]}


@pytest.fixture(autouse=True)
def one_thread(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVISOR_THREADS", "1")
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    import torch

    torch.set_num_threads(1)


def _cue_examples(n: int) -> list:
    rng = random.Random(1)
    out = []
    for _ in range(n):
        label = rng.randint(0, 1)
        prompt = [rng.randint(10, 40) for _ in range(rng.randint(3, 8))] + [5 + label]
        out.append(supervised_example(prompt, [50 + label], 32))
    return out


def _lora(model):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"],
                                            task_type="CAUSAL_LM"))


def test_training_lowers_the_loss_and_is_deterministic():
    runs = []
    for _ in range(2):
        model = _lora(build_tiny_model(64, hidden_size=32))
        stats = train(model, _cue_examples(32), TrainSettings(epochs=8, learning_rate=1e-2, batch_size=8), pad_id=0)
        runs.append(stats.losses)
    first, last = sum(runs[0][:4]) / 4, sum(runs[0][-4:]) / 4
    assert last < 0.5 * first
    assert runs[0] == runs[1]


def test_only_adapter_weights_change():
    import torch

    model = _lora(build_tiny_model(64))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, _cue_examples(16), TrainSettings(epochs=2, learning_rate=1e-2), pad_id=0)
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and all("lora_" in n for n in changed)


def test_supervised_example_masks_the_prompt_and_keeps_the_target():
    ex = supervised_example(list(range(10)), [70, 71], max_length=6)
    assert ex.input_ids == (6, 7, 8, 9, 70, 71)
    assert ex.labels == (-100, -100, -100, -100, 70, 71)


def test_language_model_loss_is_a_token_mean():
    import torch

    model = build_tiny_model(64)
    ids = list(range(1, 41))
    whole = float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss)
    assert language_model_loss(model, ids, window=1000) == pytest.approx(whole, rel=1e-5)


def test_language_model_token_losses_are_each_tokens_cross_entropy_in_non_overlapping_windows():
    import torch
    import torch.nn.functional as F

    from advisor.probes.lora.training import language_model_token_losses

    model = build_tiny_model(64)
    ids = list(range(1, 41))
    losses = language_model_token_losses(model, ids, window=16)
    expected = []
    for start in range(0, 40, 16):  # windows 1-16, 17-32, 33-40: each window's first token is not predicted
        chunk = torch.tensor([ids[start:start + 16]])
        logits = model(input_ids=chunk).logits[0]
        expected += F.cross_entropy(logits[:-1], chunk[0, 1:], reduction="none").tolist()
    assert len(losses) == 40 - 3 and losses == pytest.approx(expected, rel=1e-5)
    assert language_model_loss(model, ids, window=16) == pytest.approx(sum(expected) / len(expected), rel=1e-6)


def test_target_only_logits_give_the_models_own_loss_and_gradients(tiny_lm_path):
    """Left padding with logits over the targets only is the same loss, and the same gradients, as the model's
    own loss over right-padded full sequences."""
    import torch

    from advisor.probes.common.runtime import load_causal_lm
    from advisor.probes.lora.training import collate, target_only_loss

    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path)))
    model = _lora(loaded.model)
    try:
        examples = _cue_examples(6) + [supervised_example([11, 12, 13, 14, 15, 16, 17, 18, 19], [51, 52], 32)]
        pad = loaded.tokenizer.pad_token_id or 0
        model.train()
        full = model(**collate(examples, pad)).loss
        full.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        model.zero_grad(set_to_none=True)
        mine = target_only_loss(model, collate(examples, pad, left=True))
        mine.backward()
        assert float(mine) == pytest.approx(float(full), rel=1e-5)
        for g, h in zip(grads, [p.grad for p in model.parameters() if p.requires_grad]):
            torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)
    finally:
        model.unload()


@pytest.mark.parametrize(("eager", "bf16"), [(False, False), (True, False), (True, True)])
def test_a_shared_prefix_run_once_gives_the_same_loss_and_gradients(tiny_lm_path, eager, bf16):
    """Examples that start with the same instruction: running it once per batch and repeating its key/value
    cache gives the model's own loss and gradients over the full right-padded sequences."""
    import torch

    from advisor.probes.common.runtime import load_causal_lm
    from advisor.probes.lora.training import (autocast, collate, eager_attention, real_tokens, shared_prompt_len,
                                         target_only_loss)

    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path)))
    model = _lora(loaded.model)
    try:
        instruction = [21, 22, 23, 24, 25, 26]
        examples = [supervised_example(instruction + list(e.input_ids[:-1]), list(e.input_ids[-1:]), 64)
                    for e in _cue_examples(5)]
        examples.append(supervised_example(instruction + [11, 12, 13, 14, 15, 16, 17, 18, 19], [51, 52], 64))
        assert shared_prompt_len(examples) == len(instruction)
        pad = loaded.tokenizer.pad_token_id or 0
        model.train()
        with autocast("cpu", bf16):
            full = model(**collate(examples, pad)).loss
        full.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        model.zero_grad(set_to_none=True)
        batch = collate(examples, pad, left=True, prefix=len(instruction))
        assert batch["prefix_ids"].shape == (1, len(instruction))
        assert batch["input_ids"].shape[1] == max(len(e.input_ids) for e in examples) - len(instruction)
        assert real_tokens(batch) == sum(len(e.input_ids) for e in examples)
        with autocast("cpu", bf16), eager_attention(loaded.model) if eager else contextlib.nullcontext():
            mine = target_only_loss(model, batch)
        mine.backward()
        mine_grads = [p.grad for p in model.parameters() if p.requires_grad]
        if bf16:  # bf16 rounds differently along the two paths: compare the whole gradient's direction and size
            assert float(mine) == pytest.approx(float(full), rel=2e-2)
            g, h = torch.cat([x.flatten() for x in grads]), torch.cat([x.flatten() for x in mine_grads])
            assert float((g - h).norm() / g.norm()) < 0.05
        else:
            assert float(mine) == pytest.approx(float(full), rel=1e-5)
            for g, h in zip(grads, mine_grads):
                torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)
    finally:
        model.unload()


def test_weights_held_in_bf16_come_back_exactly(tiny_lm_path):
    import torch

    from advisor.probes.common.runtime import load_causal_lm
    from advisor.probes.common.precision import weights_in_bf16

    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path)))
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    ids = torch.tensor([[3, 4, 5, 6]])
    with weights_in_bf16(loaded.model):
        assert all(p.dtype == torch.bfloat16 for p in loaded.model.parameters())
        model = _lora(loaded.model)  # an adapter created inside keeps fp32 weights and trains
        assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(input_ids=ids, labels=ids).loss.backward()
        model.unload()
    after = loaded.model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key  # bit for bit


def test_the_shared_prefix_stops_before_the_first_target():
    from advisor.probes.lora.training import shared_prompt_len

    same = [supervised_example([1, 2, 3], [7], 16), supervised_example([1, 2, 3], [8], 16)]
    assert shared_prompt_len(same) == 2  # the last prompt token's logits predict the target
    differ = [supervised_example([1, 2, 3, 4], [7], 16), supervised_example([1, 2, 9, 4, 5], [7], 16)]
    assert shared_prompt_len(differ) == 2
    assert shared_prompt_len([supervised_example([5, 2], [7], 16), supervised_example([1, 2], [7], 16)]) == 0


def test_the_fast_dropout_is_the_same_dropout(tiny_lm_path):
    import torch

    from advisor.probes.common.runtime import load_causal_lm
    from advisor.probes.lora.training import UniformDropout, fast_dropout

    layer = UniformDropout(0.2).train()
    x = torch.ones(200_000)
    y = layer(x)
    kept = (y != 0).float()
    assert abs(layer.p - 0.2) <= 1 / 32768  # the rate, rounded to the mask's resolution
    assert abs(float(kept.mean()) - 0.8) < 0.005 and torch.allclose(y[y != 0], torch.tensor(1 / (1 - layer.p)))
    assert abs(float(y.mean()) - 1.0) < 0.01  # the expectation is preserved
    assert torch.equal(layer.eval()(x), x)
    from advisor.probes.lora.training import keep_mask

    mask = keep_mask((1001, 201), 0.3).float()  # not a multiple of four values
    assert mask.shape == (1001, 201)
    lanes = mask.flatten()[: 4 * (mask.numel() // 4)].reshape(-1, 4)
    for lane in range(4):  # each of a random word's four lanes keeps at the same rate
        assert abs(float(lanes[:, lane].mean()) - 0.7) < 0.01
    centred = lanes - lanes.mean()
    assert abs(float((centred[:, 0] * centred[:, 1]).mean())) < 0.005  # and independently of its neighbour
    torch.manual_seed(3)
    first = keep_mask((64,), 0.5)
    torch.manual_seed(3)
    assert torch.equal(first, keep_mask((64,), 0.5))  # the seed decides the mask
    from peft import LoraConfig, get_peft_model

    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path)))
    model = get_peft_model(loaded.model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, task_type="CAUSAL_LM",
                                                    target_modules=["q_proj", "v_proj", "up_proj"]))
    try:
        lora_layers = sum(1 for m in model.modules() if hasattr(m, "lora_dropout") and
                          any(isinstance(d, torch.nn.Dropout) and d.p > 0 for d in m.lora_dropout.values()))
        assert lora_layers > 0 and fast_dropout(model) == lora_layers
        assert not any(isinstance(d, torch.nn.Dropout) for m in model.modules() if hasattr(m, "lora_dropout")
                       for d in m.lora_dropout.values())
    finally:
        model.unload()


# -- forgetting: the loss on general text before and after training, and its interval --------------------
def test_the_forgetting_interval_is_a_paired_block_bootstrap():
    import numpy as np

    from advisor.probes.lora.forgetting import forgetting_interval, loss_blocks

    assert loss_blocks([1.0] * 130, 64) == [65.0, 65.0] and loss_blocks([2.0] * 10, 64) == [20.0]
    rng = np.random.default_rng(0)
    before = rng.gamma(2, 50, 30)  # passages of very different difficulty
    after = before * 1.1 * rng.normal(1, 0.01, 30)  # every one 10% harder after training
    low, high = forgetting_interval(list(before), list(after))
    assert low < after.sum() / before.sum() < high and 1.09 < low and high < 1.11  # the passages' spread cancels
    shuffled = forgetting_interval(list(before), list(rng.permutation(after)))  # pairs broken: far wider
    assert shuffled[1] - shuffled[0] > 10 * (high - low)
    assert forgetting_interval(list(before), list(after)) == (low, high)  # seeded
    assert forgetting_interval(list(before[:4]), list(after[:4])) is None
    assert forgetting_interval(list(before), list(after[:-1])) is None


def check_forgetting_interval(result: Any) -> None:
    """The forgetting ratio's interval is the paired block bootstrap ``scipy.stats.bootstrap`` computes from the
    blocks of general-English loss of the model before and after training, and the blocks add up to the ratio."""
    import numpy as np
    from scipy.stats import bootstrap

    ev, s = result.evidence, result.summary
    before, after = np.asarray(s["zero_shot"]["general_blocks"]), np.asarray(s["best"]["general_blocks"])
    assert len(before) == len(after) >= 5 and s["forgetting"]["block_tokens"] == 64
    assert after.sum() / before.sum() == pytest.approx(ev["forgetting_ratio"], rel=1e-9)
    ref = bootstrap((before, after), lambda b, a, axis=-1: a.sum(axis) / b.sum(axis), paired=True, vectorized=True,
                    n_resamples=20_000, method="percentile", rng=np.random.default_rng(1)).confidence_interval
    low, high = ev["forgetting_ratio_low"], ev["forgetting_ratio_high"]
    width = ref.high - ref.low
    assert width > 0.001 and low < ev["forgetting_ratio"] < high
    assert low == pytest.approx(ref.low, abs=0.06 * width) and high == pytest.approx(ref.high, abs=0.06 * width)
    metric = next(m for m in result.metrics if m.name == "forgetting_ratio")
    assert (metric.value, metric.ci_low, metric.ci_high) == (ev["forgetting_ratio"], low, high)
