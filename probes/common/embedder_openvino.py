"""The OpenVINO backend for sentence-transformers embedders: the same SentenceTransformer, with its transformer
module's forward pass run by an OpenVINO model exported from it.

Only the transformer changes hands: tokenization, prompts, length sorting, batching, pooling and normalization
stay sentence-transformers' own. The export (``openvino.convert_model`` on the loaded weights, dynamic batch
and sequence length) happens once per model and OpenVINO version, offline, and is kept under advisor's cache
(``embedders/``). OpenVINO picks the precision the CPU runs fastest: bf16 where it has native bf16 (AVX512-BF16
or AMX), fp32 otherwise; the embedding cache key records it, so vectors of different backends never mix.
sentence-transformers' own ``backend="openvino"`` needs optimum-intel, whose releases pin older transformers.

Heavy imports stay inside functions (advisor's rule: no heavy imports at module import).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from advisor.errors import ModelNotFoundError
from advisor.probes.common.threads import torch_threads
from advisor.sentences import say


def available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def _openvino() -> Any:
    """``import openvino`` with its usage telemetry kept out: OpenVINO's converter sends anonymous usage events
    unless a consent file in the home folder says no, and advisor sends nothing anywhere. With the telemetry
    package unimportable, OpenVINO uses its own no-op stub."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def _weights_digest(source: str) -> str:
    """What identifies the exported model: the weights' files (name, size, mtime) and the OpenVINO version."""
    openvino = _openvino()

    digest = hashlib.sha256(openvino.__version__.encode())
    root = Path(source)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{int(stat.st_mtime)}".encode())
    if not files:
        digest.update(source.encode())
    return digest.hexdigest()[:16]


def export_dir(source: str) -> Path:
    from advisor.paths import cache_dir

    return cache_dir() / "embedders" / f"openvino-{_weights_digest(source)}"


def _last_hidden(model: Any, input_names: list[str]) -> Any:
    """The transformer's last hidden state as a module of its tensor inputs, in order (what convert_model traces)."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(input_names, tensors)), return_dict=True).last_hidden_state

    return LastHidden().eval()


def _features(st: Any, texts: list[str]) -> Any:
    """Tokenized features as sentence-transformers builds them (``preprocess``, ``tokenize`` before 6.0)."""
    prepare = getattr(st, "preprocess", None) or st.tokenize
    return prepare(texts)


def model_inputs(st: Any) -> list[str]:
    """The tensor inputs the transformer takes from sentence-transformers' tokenized features."""
    import inspect

    hf = st[0].auto_model
    features = _features(st, ["a"])
    accepted = set(inspect.signature(hf.forward).parameters)
    return [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in features and name in accepted]


def export(st: Any, source: str) -> Path:
    """The OpenVINO IR of ``st``'s transformer (``model.xml``), converted now unless already in the cache."""
    import torch

    openvino = _openvino()

    folder = export_dir(source)
    xml = folder / "model.xml"
    meta = folder / "inputs.json"
    if xml.exists() and meta.exists():
        os.utime(folder)  # most recently used: kept by prune()
        return xml
    names = model_inputs(st)
    features = _features(st, ["an example sentence", "a second, somewhat longer example sentence"])
    example = tuple(features[n] for n in names)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about data-dependent branches of the model code
        converted = openvino.convert_model(_last_hidden(st[0].auto_model, names), example_input=example)
    for port, name in zip(converted.inputs, names):
        port.get_tensor().set_names({name})
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.tmp.xml"
    openvino.save_model(converted, tmp, compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
    tmp.replace(xml)
    meta.write_text(json.dumps({"inputs": names, "source": source}))
    prune(folder.parent, keep=KEEP_EXPORTS)
    return xml


#: exported models kept in the cache (the most recently used; each is about the size of the model's weights)
KEEP_EXPORTS = 6


def prune(root: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recently used exports under ``root``."""
    import shutil

    exports = sorted((p for p in root.glob("openvino-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in exports[keep:]:
        shutil.rmtree(stale, ignore_errors=True)


def attach(st: Any, source: str) -> str:
    """Run ``st``'s transformer module with OpenVINO from now on; returns the precision used (``bf16``/``fp32``)."""
    import torch

    openvino = _openvino()

    try:
        xml = export(st, source)
    except Exception as exc:  # a model convert_model cannot trace: say so in one line
        raise ModelNotFoundError(say("--embedder-backend openvino: could not export {source} ({kind}: {detail}); "
                                     "use --embedder-backend torch", source=source, kind=type(exc).__name__,
                                     detail=str(exc).splitlines()[0][:160])) from None
    names = json.loads((xml.parent / "inputs.json").read_text())["inputs"]
    core = openvino.Core()
    threads = torch_threads()
    compiled = core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
    precision = "bf16" if "bf16" in precision or "bfloat16" in precision else "fp32" if "32" in precision else precision
    module = st[0]
    output_name = getattr(module, "module_output_name", "token_embeddings")

    def forward(features: dict[str, Any], **_: Any) -> dict[str, Any]:
        reply = compiled({n: features[n].cpu().numpy() for n in names})
        features[output_name] = torch.from_numpy(reply[0].copy()).to(torch.float32)
        return features

    module.forward = forward  # an instance attribute: nn.Module.__call__ finds it before the class's forward
    st.advisor_backend = f"openvino-{precision}"
    return precision
