"""The adapters the LoRA probe trains: a fresh, seeded peft adapter (LoRA or prompt tuning) attached to the
shared probe model and always removed again, so the next probe sees the untouched model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.errors import InputError
from advisor.probes.lora.spec import LoraProbeConfig
from advisor.sentences import say

LLAMA_STYLE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GPT2_STYLE = ["c_attn", "c_proj", "c_fc"]

def default_target_modules(model: Any) -> list[str] | str:
    """Llama/Qwen/Mistral-style attention + MLP projections, GPT-2-style Conv1D names, else peft's all-linear."""
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for style in (LLAMA_STYLE, GPT2_STYLE):
        present = [m for m in style if m in leaf_names]
        if present:
            return present
    return "all-linear"


class AttachedAdapter:
    """Context manager: a fresh, seeded PEFT adapter on the shared model; removed again on exit."""

    def __init__(self, loaded: Any, config: LoraProbeConfig):
        self.loaded, self.config = loaded, config
        self.trainable = 0

    def __enter__(self) -> Any:
        import torch

        base = self.loaded.model
        self.flags = {name: p.requires_grad for name, p in base.named_parameters()}
        torch.manual_seed(self.config.seed)
        self.peft = self._wrap(base)
        self.trainable = sum(p.numel() for p in self.peft.parameters() if p.requires_grad)
        return self.peft

    def _wrap(self, base: Any) -> Any:
        from peft import get_peft_model

        if self.config.method == "lora":
            from advisor.probes.lora.training import fast_dropout

            model = get_peft_model(base, lora_config(self.config, base))
            fast_dropout(model)
            return model
        model = get_peft_model(base, prompt_tuning_config(self.config))
        init_soft_prompt(model, self.loaded, self.config.virtual_tokens)
        return model

    def save(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        self.peft.save_pretrained(str(path))
        return path

    def __exit__(self, *exc: Any) -> None:
        base = self.loaded.model
        if self.config.method == "lora":
            self.peft.unload()
        for name, p in base.named_parameters():
            p.requires_grad_(self.flags.get(name, p.requires_grad))
        base.eval()


class KeptAdapter(AttachedAdapter):
    """The warm-start adapter: attached on first use and kept across sizes; detached when the run ends."""

    def __init__(self, loaded: Any, config: LoraProbeConfig):
        super().__init__(loaded, config)
        self.attached = False

    def __enter__(self) -> Any:
        if not self.attached:
            super().__enter__()
            self.attached = True
        return self.peft

    def __exit__(self, *exc: Any) -> None:
        if exc and exc[0] is not None:
            self.detach()

    def detach(self) -> None:
        if self.attached:
            super().__exit__(None, None, None)
            self.attached = False


def lora_config(config: LoraProbeConfig, base: Any) -> Any:
    from peft import LoraConfig

    targets = config.target_modules or default_target_modules(base)
    missing = [t for t in (targets if isinstance(targets, list) else []) if not _has_module(base, t)]
    if missing:
        raise InputError(say("--target-modules: the model has no module named {missing}; "
                             "its linear layers include {names}.", missing=", ".join(missing),
                             names=", ".join(_linear_names(base)[:12])))
    gpt2_style = isinstance(targets, list) and any(t in GPT2_STYLE for t in targets)
    return LoraConfig(r=config.rank, lora_alpha=config.alpha or 2 * config.rank, lora_dropout=config.dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM", fan_in_fan_out=gpt2_style)


def prompt_tuning_config(config: LoraProbeConfig) -> Any:
    from peft import PromptTuningConfig

    return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=config.virtual_tokens,
                              prompt_tuning_init="RANDOM")


def init_soft_prompt(model: Any, loaded: Any, n: int, text: str = "Classify the input into one of the labels.") -> None:
    """peft's TEXT initialization without re-loading the tokenizer: the soft prompt starts as the
    embeddings of ``text``'s tokens, repeated to ``n`` virtual tokens."""
    import torch

    from advisor.probes.common.scoring import encode

    ids = encode(loaded.tokenizer, text) or [loaded.tokenizer.pad_token_id]
    ids = (ids * (n // len(ids) + 1))[:n]
    embeddings = loaded.model.get_input_embeddings().weight
    with torch.no_grad():
        model.prompt_encoder.default.embedding.weight.copy_(embeddings[torch.tensor(ids)].float())


def _has_module(model: Any, name: str) -> bool:
    return any(full == name or full.endswith("." + name) for full, _ in model.named_modules())


def _linear_names(model: Any) -> list[str]:
    import torch

    names = {full.rsplit(".", 1)[-1] for full, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return sorted(names)
