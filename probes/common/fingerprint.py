"""Fingerprints of probe inputs: a stored run is reused only when every one of them is unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from advisor.errors import InputError


def labeled_data_fingerprint(version: str, config: Any, exclude: set[str] = frozenset({"batch_tokens"})) -> str:
    """Hash of the labeled data's content, the model's weights and spec, the prompt template's
    content and every other config field (except the speed-only ones in ``exclude``)."""
    from advisor.probes.common.data import load_dataset

    ds = load_dataset(config.data, config.text_col, config.label_col, config.task)
    template = b""
    if config.template:
        try:
            template = Path(config.template).read_bytes()
        except OSError as exc:
            raise InputError(f"--template {config.template}: cannot read it ({exc.strerror}); pass a YAML prompt "
                             "template (docs/few-shot.md).") from None
    keyed = config.model_dump(mode="json", exclude={"data", "template", "model", "target", *exclude})
    keyed["bf16"] = precision_key(config)
    parts = [version, ds.fingerprint, model_identity(config), hashlib.sha256(template).hexdigest(),
             json.dumps(keyed, sort_keys=True)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def precision_key(config: Any) -> bool | None:
    """Whether a local model computes in bf16 (the ``bf16`` setting as it resolves here); ``None`` for a target
    endpoint, which computes as it does."""
    from advisor.probes.common.precision import use_bf16

    if getattr(config, "target", None) is not None:
        return None
    model = getattr(config, "model", None)
    return use_bf16(config.bf16, getattr(model, "device", "auto"))


def model_identity(config: Any) -> str:
    """The model a run measures: the target endpoint's model and URL, or the local model's weights and spec
    (how hard a target is used — concurrency, caps, timeouts — does not change what is measured)."""
    from advisor.probes.common.runtime import model_fingerprint

    target = getattr(config, "target", None)
    if target is not None:
        return json.dumps({"target": target.model, "url": target.base_url()}, sort_keys=True)
    return model_fingerprint(config.model) + config.model.model_dump_json(exclude={"allow_download"})
