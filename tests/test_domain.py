"""The domain-gap probe: perplexity definition, fair comparison, term attribution, inputs, CLI, report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.errors import InputError, ProbeError
from advisor.evidence.probe_runner import run_probe
from advisor.probes.domain.run import DomainProbe
from advisor.probes.common.scoring import encode_with_offsets, token_nlls, window_plan
from advisor.probes.domain.spec import (
    DomainConfig, normalize_word, perplexity, read_text, surprising_terms, word_surprisals,
)
from advisor.probes.common.runtime import ModelSpec, load_causal_lm

GENERAL = ("The river flows through the old town. Farmers grow wheat and barley on the plain, "
           "and the market opens every morning. ") * 6
LN2 = math.log(2)


@pytest.fixture
def tiny(tiny_base_lm_path):
    return load_causal_lm(ModelSpec(name=str(tiny_base_lm_path)))


def write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


# -- windows and perplexity -----------------------------------------------------------------
@pytest.mark.parametrize("n,window,stride", [(10, 4, 3), (10, 4, 1), (37, 16, 8), (5, 512, 256), (1, 8, 4)])
def test_window_plan_predicts_every_token_once_within_the_window(n, window, stride):
    plan = window_plan(n, window, stride)
    predicted = [t for _, first, end in plan for t in range(first, end)]
    assert predicted == list(range(1, n + 1))
    for begin, first, end in plan:
        assert 0 <= begin <= first - 1 and end - begin <= window  # every target has its predecessor in view


def test_token_nlls_match_a_hand_computed_full_forward_pass(tiny):
    import torch

    from advisor.probes.common.scoring import prefix_token_id

    ids, _ = encode_with_offsets(tiny.tokenizer, GENERAL[:120])
    seq = [prefix_token_id(tiny.tokenizer)] + ids
    with torch.no_grad():
        logp = torch.log_softmax(tiny.model(input_ids=torch.tensor([seq])).logits[0], -1)
    expected = [-float(logp[t - 1, seq[t]]) for t in range(1, len(seq))]
    got = token_nlls(tiny, ids, window=len(seq), stride=len(seq) - 1)
    assert got == pytest.approx(expected, abs=1e-4)
    # perplexity is exp of the mean NLL: 2 tokens with NLL ln 2 and ln 8 -> exp(ln 4) = 4
    assert perplexity([math.log(2), math.log(8)]) == pytest.approx(4.0)
    assert perplexity(got) == pytest.approx(math.exp(sum(expected) / len(expected)), rel=1e-4)


def test_token_nlls_agree_with_the_training_loss_and_depend_on_context(tiny):
    from advisor.probes.common.scoring import prefix_token_id
    from advisor.probes.lora.training import language_model_loss

    ids, _ = encode_with_offsets(tiny.tokenizer, GENERAL[:200])
    seq = [prefix_token_id(tiny.tokenizer)] + ids
    full = token_nlls(tiny, ids, window=len(seq), stride=len(seq) - 1)
    assert sum(full) / len(full) == pytest.approx(language_model_loss(tiny.model, seq, window=len(seq)), rel=1e-4)
    short = token_nlls(tiny, ids, window=4, stride=3)
    assert len(short) == len(full) == len(ids)
    assert short[:3] == pytest.approx(full[:3], abs=1e-4)  # the first window sees the same context
    assert short != pytest.approx(full, abs=1e-3)  # later tokens lose context


# -- surprising terms -----------------------------------------------------------------------
def test_word_surprisals_attribute_tokens_to_the_word_they_start_in():
    text = "Acme widget, acme!"
    # tokens: "Ac" "me" " widget" "," " acme" "!" ; NLLs in nats chosen as whole bits
    offsets = [(0, 2), (2, 4), (4, 11), (11, 12), (12, 17), (17, 18)]
    nlls = [b * LN2 for b in (3, 1, 5, 2, 4, 0.5)]
    assert word_surprisals(text, offsets, nlls) == [("acme", 4.0), ("widget", 7.0), ("acme", 4.5)]
    assert normalize_word("“Widget,”") == "widget"


def test_surprising_terms_rank_by_mean_and_skip_general_and_letterless_words():
    occ = [("acme", 4.0), ("widget", 7.0), ("acme", 6.0), ("the", 9.0), ("42", 8.0), ("gizmo", 5.0)]
    rows = surprising_terms(occ, exclude={"the"}, top=2)
    assert rows == [{"word": "widget", "mean_bits": 7.0, "count": 1}, {"word": "acme", "mean_bits": 5.0, "count": 2}]


# -- the probe --------------------------------------------------------------------------------
def config(path, general, tiny_base_lm_path, **kw):
    return DomainConfig(text=path, general=general, model=ModelSpec(name=str(tiny_base_lm_path)), window=32, **kw)


def test_same_text_gives_ratio_one_and_evidence_is_consistent(tmp_path, tiny_base_lm_path):
    general = write(tmp_path, "general.txt", GENERAL)
    result = run_probe("domain", config(write(tmp_path, "d.txt", GENERAL), general, tiny_base_lm_path))
    ev = result.evidence
    assert ev["perplexity_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert ev["domain_perplexity"] == pytest.approx(ev["general_perplexity"], abs=1e-9)
    assert ev["unseen_word_share"] == 0.0 and result.summary["terms"] == []


def render_section(result) -> str:
    from advisor.report.render import environment

    return environment().get_template("probe_domain.md.j2").render(result=result.model_dump(mode="json"), charts={})


def test_bf16_perplexities_are_computed_in_bf16_close_to_float32_and_labelled(tmp_path, tiny_base_lm_path):
    import torch

    general = write(tmp_path, "general.txt", GENERAL)
    domain_text = write(tmp_path, "d.txt", "Refund the invoice for account 7731 after the chargeback clears. " * 4)
    runs = {b: run_probe("domain", config(domain_text, general, tiny_base_lm_path, bf16=b)) for b in ("off", "on")}
    assert runs["off"].summary["bf16"] is False and runs["on"].summary["bf16"] is True
    off, on = runs["off"].evidence, runs["on"].evidence
    assert on["domain_perplexity"] != off["domain_perplexity"]  # bf16 rounding shows: it did run in bf16
    assert on["perplexity_ratio"] == pytest.approx(off["perplexity_ratio"], rel=0.02)
    assert "(computed in bf16)" in render_section(runs["on"])
    assert "(computed in bf16)" not in render_section(runs["off"])
    loaded = load_causal_lm(ModelSpec(name=str(tiny_base_lm_path)))
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_texts_are_cut_to_the_same_token_budget(tmp_path, tiny_base_lm_path, tiny):
    general = write(tmp_path, "general.txt", GENERAL)
    domain_text = "Refund the invoice for account 7731 after the chargeback clears. " * 3
    result = run_probe("domain", config(write(tmp_path, "d.txt", domain_text), general, tiny_base_lm_path,
                                        max_tokens=10_000, bf16="off"))  # compared with float32 NLLs below
    n_domain = len(encode_with_offsets(tiny.tokenizer, domain_text)[0])
    assert result.evidence["domain_tokens"] == n_domain < len(encode_with_offsets(tiny.tokenizer, GENERAL)[0])
    nlls = token_nlls(tiny, encode_with_offsets(tiny.tokenizer, GENERAL)[0][:n_domain], 32, 16)
    assert result.evidence["general_perplexity"] == pytest.approx(perplexity(nlls), rel=1e-6)
    assert result.evidence["perplexity_ratio"] == pytest.approx(
        result.evidence["domain_perplexity"] / result.evidence["general_perplexity"])
    # every domain word with a letter that the general sample lacks ("the" is in it, "7731" has no letter)
    assert {t["word"] for t in result.summary["terms"]} == {"refund", "invoice", "for", "account", "after",
                                                            "chargeback", "clears"}


@pytest.mark.parametrize("content,message", [
    (None, "no such file"), ("", "the file is empty"), ("  \n\n ", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"), (b"caf\xe9 au lait", "not UTF-8"),
])
def test_bad_text_files_are_input_errors_naming_the_file(tmp_path, tiny_base_lm_path, content, message):
    path = tmp_path / "domain.txt" if content is None else write(tmp_path, "domain.txt", content)
    with pytest.raises(InputError, match=message) as err:
        read_text(path)
    assert str(path) in str(err.value)
    result = CliRunner().invoke(cli, ["probe", "domain", "--text", str(path), "--model", str(tiny_base_lm_path)])
    assert result.exit_code == 2 and f"Error: --text {path}" in result.output and "Traceback" not in result.output


def test_too_short_text_is_a_probe_error(tmp_path, tiny_base_lm_path):
    with pytest.raises(ProbeError, match="only .* tokens"):
        run_probe("domain", config(write(tmp_path, "d.txt", "Hi."), write(tmp_path, "g.txt", GENERAL), tiny_base_lm_path))


def test_stride_must_be_smaller_than_window(tmp_path, tiny_base_lm_path):
    result = CliRunner().invoke(cli, ["probe", "domain", "--text", str(write(tmp_path, "d.txt", GENERAL)),
                                      "--window", "16", "--stride", "16"])
    assert result.exit_code == 2 and "stride (16) must be smaller than the window (16)" in result.output


def test_cli_prints_summary_stores_and_reuses(tmp_path, tiny_base_lm_path, db_path):
    args = ["probe", "domain", "--text", str(write(tmp_path, "d.txt", "Chargeback disputes on invoice 7731. " * 4)),
            "--general", str(write(tmp_path, "g.txt", GENERAL)), "--model", str(tiny_base_lm_path), "--window", "32"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "as perplexing per token to" in first.output and "surprising terms: " in first.output
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0 and "reused stored run" in second.output


def test_report_section_renders_with_escaped_terms_and_chart(tmp_path, tiny_base_lm_path):
    from advisor.report.render import environment

    result = run_probe("domain", config(write(tmp_path, "d.txt", "The *acme* gizmo|widget works. " * 4),
                                        write(tmp_path, "g.txt", GENERAL), tiny_base_lm_path))
    charts = DomainProbe().charts(result, tmp_path)
    assert set(charts) == {"gap"} and charts["gap"].stat().st_size > 0  # the terms are a table, not a chart too
    text = environment().get_template("probe_domain.md.j2").render(
        result=result.model_dump(mode="json"), charts={"gap": "x.png"})
    assert f"**{result.evidence['perplexity_ratio']:.2f}**" in text
    assert "gizmo\\|widget" in text and "![Bits per byte: your text vs your general sample](x.png)" in text
    assert "small probe model" in text


# -- the interval of the bits-per-byte ratio ---------------------------------------------------------
DOMAIN = ("Refund the invoice for account 7731 after the chargeback clears; escalate disputes over 500 EUR "
          "to the billing desk, and log the ticket under code RF-12. ") * 6


def test_blocks_cover_every_token_once_and_add_up_to_the_text():
    from advisor.probes.domain.spec import block_ends, blocks

    assert block_ends(130, 64) == [65, 130] and block_ends(10, 64) == [10] and block_ends(192, 64) == [64, 128, 192]
    assert blocks([1.0, 2.0, 3.0, 4.0, 5.0], [2, 5], [7, 12]) == [[3.0, 7], [12.0, 5]]


def test_the_ratio_interval_is_the_block_bootstrap_scipy_computes_on_real_token_losses(tmp_path, tiny_base_lm_path):
    """The probe's interval against ``scipy.stats.bootstrap`` (independent resampling of the two texts' blocks,
    percentile method) on the tiny model's real token losses; the blocks add up to the point estimates."""
    import numpy as np
    from scipy.stats import bootstrap

    result = run_probe("domain", config(write(tmp_path, "d.txt", DOMAIN), write(tmp_path, "g.txt", GENERAL * 3),
                                        tiny_base_lm_path, max_tokens=10_000))
    ev, ci = result.evidence, result.summary["ratio_interval"]
    dom, gen = (np.asarray(ci["blocks"][name]) for name in ("domain", "general"))
    assert len(dom) == len(gen) >= 5 and ci["block_tokens"] == 64 and ci["resamples"] == 2000
    assert dom[:, 0].sum() / LN2 / dom[:, 1].sum() == pytest.approx(ev["domain_bits_per_byte"], rel=1e-9)
    assert gen[:, 0].sum() / LN2 / gen[:, 1].sum() == pytest.approx(ev["general_bits_per_byte"], rel=1e-9)
    assert dom[:, 1].sum() == result.summary["texts"]["domain"]["bytes"]

    def ratio(i, j, axis=-1):
        i, j = i.astype(int), j.astype(int)
        return (dom[i, 0].sum(axis) / dom[i, 1].sum(axis)) / (gen[j, 0].sum(axis) / gen[j, 1].sum(axis))

    ref = bootstrap((np.arange(len(dom)), np.arange(len(gen))), ratio, paired=False, vectorized=True,
                    n_resamples=20_000, method="percentile", rng=np.random.default_rng(1)).confidence_interval
    low, high = ev["bits_per_byte_ratio_low"], ev["bits_per_byte_ratio_high"]
    width = ref.high - ref.low
    assert width > 0.01  # a real interval, not a point
    assert low == pytest.approx(ref.low, abs=0.06 * width) and high == pytest.approx(ref.high, abs=0.06 * width)
    assert low < ev["bits_per_byte_ratio"] < high
    metric = next(m for m in result.metrics if m.name == "bits_per_byte_ratio")
    assert (metric.ci_low, metric.ci_high) == (low, high)
    text = render_section(result)
    assert f"95% interval of the bits-per-byte ratio: {low:.2f}–{high:.2f}" in text


def test_the_ratio_interval_widens_with_less_text_and_is_seeded():
    from advisor.probes.domain.spec import ratio_interval

    rng = np.random.default_rng(0)
    domain = [[float(x), 100] for x in rng.gamma(20, 5, 40)]  # about 1 nat per byte, varying by block
    general = [[float(x), 100] for x in rng.gamma(20, 4, 40)]
    wide, narrow = ratio_interval(domain[:8], general[:8]), ratio_interval(domain, general)
    assert wide[1] - wide[0] > narrow[1] - narrow[0] > 0
    assert narrow == ratio_interval(domain, general) and narrow != ratio_interval(domain, general, seed=1)
    assert ratio_interval(domain[:4], general) is None  # fewer than five blocks in a text: no interval


def test_too_little_text_for_an_interval_keeps_the_ratio_and_says_so(tmp_path, tiny_base_lm_path):
    result = run_probe("domain", config(write(tmp_path, "d.txt", "Chargeback disputes on invoice 7731. " * 4),
                                        write(tmp_path, "g.txt", GENERAL), tiny_base_lm_path))
    assert "bits_per_byte_ratio" in result.evidence and "bits_per_byte_ratio_low" not in result.evidence
    assert any("too little text for an interval" in n for n in result.notes)
    assert "too short for an interval of the bits-per-byte ratio" in render_section(result)


@pytest.mark.slow
def test_embedded_model_finds_junk_far_more_surprising_than_english(tmp_path):
    import random
    import string

    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits
    junk = " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 8))) for _ in range(60))
    result = run_probe("domain", DomainConfig(text=write(tmp_path, "junk.txt", junk), max_tokens=64, window=64))
    ev = result.evidence
    assert ev["domain_tokens"] == 64
    assert ev["perplexity_ratio"] > 3 and ev["bits_per_byte_ratio"] > 3
    assert 1 < ev["general_perplexity"] < 200  # fluent English is predictable to a real model


class _Clock:
    """A clock that moves only when the model scores a window (each window takes ``per_window`` seconds)."""

    def __init__(self, per_window: float):
        self.now, self.per_window = 1000.0, per_window

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("seconds, expected", [(None, 200), (10.0, 128), (2.0, None)])
def test_the_tokens_scored_fit_the_time_budget_both_texts_alike(monkeypatch, tmp_path, seconds, expected):
    """A pass (window 64, 32 new tokens each) takes 1 s: timing the first window takes 2 passes, so a 10 s budget
    leaves 8 s, 4 passes per text, 128 tokens of each; 2 s leaves none: empty, with the budget that would do (the
    2 s spent and a pass for each text)."""
    from advisor.probes.common.base import ProbeContext, ProbeResult
    from advisor.probes.domain import run as domain_run

    clock = _Clock(1.0)
    monkeypatch.setattr(domain_run.time, "monotonic", clock.monotonic)

    class Model:
        def token_nlls(self, ids, window, stride, progress=None):
            clock.now += self.windows(len(ids), window, stride) * clock.per_window
            return [1.0] * len(ids)

        @staticmethod
        def windows(n, window, stride):
            return len(window_plan(n, window, stride))

        def in_bf16(self, enabled):
            import contextlib

            return contextlib.nullcontext()

    text, general = write(tmp_path, "d.txt", "x"), write(tmp_path, "g.txt", "y")
    ctx = ProbeContext(result=ProbeResult(probe="domain"), deadline=None if seconds is None else clock.now + seconds)
    probe = domain_run.DomainRun(DomainConfig(text=text, general=general, window=64, stride=32), ctx)
    probe.bf16, probe.started = False, clock.now
    fit = probe._affordable(Model(), list(range(500)), 200, 64, 32)
    if expected is None:
        assert fit is None and ctx.result.status == "empty" and ctx.result.summary["budget_needed"] == 4.0
    else:
        assert fit == expected
        if seconds is not None:  # the windows it plans for both texts end before the deadline
            assert clock.now + 2 * Model.windows(fit, 64, 32) * clock.per_window <= ctx.deadline
