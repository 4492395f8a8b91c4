"""Fingerprints of probe inputs: a stored run is reused only when every one of them is unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def labeled_data_fingerprint(version: str, config: Any, exclude: set[str] = frozenset({"batch_tokens"})) -> str:
    """Hash of the labeled data's content, the model's weights and spec, the prompt template's
    content and every other config field (except the speed-only ones in ``exclude``)."""
    from advisor.probes.data import load_dataset
    from advisor.probes.runtime import model_fingerprint

    ds = load_dataset(config.data, config.text_col, config.label_col, config.task)
    spec = config.model
    template = Path(config.template).read_bytes() if config.template else b""
    keyed = config.model_dump(mode="json", exclude={"data", "template", "model", *exclude})
    parts = [version, ds.fingerprint, model_fingerprint(spec), spec.model_dump_json(exclude={"allow_download"}),
             hashlib.sha256(template).hexdigest(), json.dumps(keyed, sort_keys=True)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
