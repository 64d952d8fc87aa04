"""The model names users type after `charbench/`, parsed in one place.

    charbench/<base>                          the base model, no persona method
    charbench/prompt/<persona>/<base>         base + the persona's constitution as system prompt
    charbench/steer/<coef>[@<layers>]/<file>  base (named in the vector's metadata) + steering vector
    charbench/ft/<dir>                        a fine-tuned checkpoint: LoRA adapter dir or merged model

<base> is `smollm2-135m` (the embedded model), a local directory (absolute paths keep their leading
slash: `charbench/prompt/loving//data/llama`), a hub id (`charbench/prompt/loving/org/name`), or any
Inspect model (`charbench/prompt/loving/vllm//data/llama`, `.../openai-api/groq/llama-3`): a base whose
first part names an Inspect provider is delegated to that provider (`inspect_delegate`). A hub org
that is also a provider's name (google/..., openai/...) stays on our engines written as
`charbench/google/...` in the base's place: `charbench/charbench/google/gemma-3-4b-it`,
`charbench/prompt/loving/charbench/google/gemma-3-4b-it`.
Everything that changes the output is in the name, because Inspect's generation cache and its logs
key on the name and not on `-M` model args.

Where charbench builds a name from a base the user gave as weights (`compare --base`, the base of a
steered or fine-tuned model, a spec's `charbench/` base) it uses `local_model_name`, so `google/...`
runs on our engines as the option promises. Where a spelling can mean either and nothing says which
(a spec's `charbench/google/gemma-3-4b-it`, `classifier train --model google/...`), `refuse_two_way`
refuses it with both spellings: guessing the API spends money and sends prompts away, guessing the hub
loads other weights than meant, and the one retyped word makes the choice visible in every log. A
name the user typed whole (`inspect eval --model`, `charbench score MODEL`) follows the grammar.
"""

from __future__ import annotations

from dataclasses import dataclass

from charbench.errors import CharbenchError

METHODS = ("base", "prompt", "steer", "ft")


class ModelSpecError(CharbenchError):
    """A `charbench/...` model name that does not follow the grammar."""


@dataclass(frozen=True)
class MethodSpec:
    method: str
    base: str
    persona: str | None = None
    vector: str | None = None
    coef: float | None = None
    layers: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        """The method's short name for tables: base, prompted, steered, fine-tuned."""
        return {"base": "base", "prompt": "prompted", "steer": "steered", "ft": "fine-tuned"}[self.method]


def inspect_delegate(base: str) -> str | None:
    """The Inspect model spec `base` names (`vllm/...`, `openai/...`, `mockllm/model`), or None when
    `base` is ours (the embedded name, a local directory, a hub id, or `charbench/<hub id>`).
    """
    from pathlib import Path

    head, sep, _ = base.partition("/")
    if not sep or head == "charbench" or Path(base).expanduser().exists():
        return None
    return base if head in inspect_providers() else None


def inspect_providers() -> set[str]:
    """The names of Inspect's registered model providers (charbench's own excluded)."""
    import inspect_ai.model._providers.providers  # noqa: F401  (registers the built-in providers)
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    names = {registry_unqualified_name(info) for info in registry_find(lambda info: info.type == "modelapi")}
    return names - {"charbench"}


def own_base(base: str) -> str:
    """`charbench/<hub id>` (the escape for a hub org named like a provider) -> `<hub id>`."""
    return base.removeprefix("charbench/")


def local_model_name(weights: str) -> str:
    """The Inspect name that runs `weights` (the embedded name, a directory, a hub id) on our engines:
    `charbench/<weights>`, with the escape when the hub org is also a provider's name."""
    weights = own_base(weights)
    return f"charbench/charbench/{weights}" if inspect_delegate(weights) else f"charbench/{weights}"


def two_way_provider(base: str) -> str | None:
    """The provider `base` names when it also reads as a hub id (`google/gemma-3-4b-it`: one `/`, its
    organisation a provider's name), else None. `vllm/org/name` or `openai-api/groq/x` is no hub id."""
    if base.count("/") != 1 or inspect_delegate(base) is None:
        return None
    return base.partition("/")[0]


def refuse_two_way(base: str, written: str, local: str, provider: str) -> None:
    """A one-line `ModelSpecError` when `base` reads both as a hub id and as a provider's model;
    `written` is what the user wrote, `local` and `provider` the spellings, in the caller's syntax,
    that mean each reading."""
    org = two_way_provider(base)
    if org is not None:
        raise ModelSpecError(
            f"{written}: '{org}' is both a hub organisation and Inspect's {org} provider: "
            f"write {local} to run the hub model on charbench's engines, or {provider} for Inspect's {org} provider"
        )


def parse_layers(text: str) -> tuple[int, ...]:
    """`12` -> (12,), `4-9` -> (4..9), `3,5,7` -> (3, 5, 7)."""
    layers: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                layers += range(int(lo), int(hi) + 1)
            else:
                layers.append(int(part))
    except ValueError:
        raise ModelSpecError(f"layers '{text}': use a number, a range like 4-9, or a list like 3,5,7") from None
    return tuple(layers)


def parse_model_name(name: str) -> MethodSpec:
    """Parse the part after `charbench/`."""
    head, _, rest = name.partition("/")
    if head == "prompt":
        persona, _, base = rest.partition("/")
        if not persona or not base:
            raise ModelSpecError(f"'{name}': write prompt/<persona>/<base>, e.g. prompt/sarcasm/smollm2-135m")
        return MethodSpec("prompt", base=base, persona=persona)
    if head == "steer":
        setting, _, vector = rest.partition("/")
        coef_text, _, layer_text = setting.partition("@")
        try:
            coef = float(coef_text)
        except ValueError:
            raise ModelSpecError(
                f"'{name}': write steer/<coef>[@<layers>]/<vector file>, e.g. steer/4.0/vectors/sarcasm.safetensors"
            ) from None
        if not vector:
            raise ModelSpecError(f"'{name}': the vector file is missing after steer/{setting}/")
        return MethodSpec(
            "steer", base="", vector=vector, coef=coef, layers=parse_layers(layer_text) if layer_text else None
        )
    if head == "ft":
        if not rest:
            raise ModelSpecError(f"'{name}': write ft/<adapter or checkpoint dir>")
        return MethodSpec("ft", base=rest)
    if not name:
        raise ModelSpecError("empty model name: write charbench/<base>, e.g. charbench/smollm2-135m")
    return MethodSpec("base", base=name)


def format_model_name(spec: MethodSpec) -> str:
    """The inverse of `parse_model_name`, with the `charbench/` prefix."""
    if spec.method == "prompt":
        return f"charbench/prompt/{spec.persona}/{spec.base}"
    if spec.method == "steer":
        layers = f"@{_format_layers(spec.layers)}" if spec.layers else ""
        return f"charbench/steer/{spec.coef:g}{layers}/{spec.vector}"
    if spec.method == "ft":
        return f"charbench/ft/{spec.base}"
    return f"charbench/{spec.base}"


def _format_layers(layers: tuple[int, ...]) -> str:
    if len(layers) > 1 and list(layers) == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(str(x) for x in layers)


def describe_model(model: str) -> dict[str, str | None]:
    """Method label, base model and persona of an Inspect model name, for tables and log metadata.

    Non-charbench models (`vllm/...`, `openai-api/...`) are reported as base models of themselves.
    """
    if not model.startswith("charbench/"):
        adapter = _vllm_adapter(model)
        if adapter is not None:  # Inspect's spelling for a LoRA adapter on a base model
            return {"method": "fine-tuned", "base": adapter[0], "persona": None}
        return {"method": "base", "base": model, "persona": None}
    spec = parse_model_name(model.removeprefix("charbench/"))
    persona, base = spec.persona, spec.base
    if spec.method in ("base", "prompt"):
        base = inspect_delegate(base) or own_base(base)
    if spec.method == "ft":  # the weights it was trained from, so it joins its base's table
        base = own_base(weights_name(original_base(base)))
    if spec.method == "steer":
        from bench.models.steering import SteeringVector

        try:
            meta = SteeringVector.load(spec.vector or "").metadata
            base, persona = own_base(meta["base_model"]), meta.get("persona")
        except CharbenchError:
            base = "?"
    return {"method": spec.label, "base": base, "persona": persona}


def weights_name(base: str) -> str:
    """A base as rows name it: the embedded model's directory is `smollm2-135m`, as users type it."""
    from pathlib import Path

    from bench.models.loader import EMBEDDED_NAME, embedded_model_dir

    if Path(base).is_dir() and Path(base).resolve() == embedded_model_dir().resolve():
        return EMBEDDED_NAME
    return base


def _vllm_adapter(model: str) -> tuple[str, str] | None:
    """(base, adapter) of `vllm/<base>:<adapter>`, else None."""
    from pathlib import Path

    if not model.startswith("vllm/"):
        return None
    name = model.removeprefix("vllm/")
    base, sep, adapter = name.rpartition(":")
    if not sep or not base or not adapter or Path(name).exists():
        return None
    return f"vllm/{base}", adapter


def base_model_name(model: str) -> str:
    """The Inspect name of the base model behind `model`, without any persona method.

    For a fine-tuned checkpoint that is the model it was trained from: the base a LoRA adapter names,
    the adapter a merge records, or the `base` charbench's trainer records, followed back to the first
    model (a merged introspection checkpoint was trained from a merged distillation one, and so on).
    """
    if not model.startswith("charbench/"):
        adapter = _vllm_adapter(model)
        return adapter[0] if adapter else model
    spec = parse_model_name(model.removeprefix("charbench/"))
    if spec.method == "ft":  # the embedded model by its name, not its cache path (no machine paths in logs)
        return local_model_name(weights_name(original_base(spec.base)))
    if spec.method in ("base", "prompt") and inspect_delegate(spec.base):
        return spec.base  # the bare Inspect model: no charbench layer needed without a persona
    return local_model_name(weights_name(str(describe_model(model)["base"])))


def original_base(checkpoint: str) -> str:
    """Follow adapter_config.json / charbench_train.json `base` links from a checkpoint to its origin."""
    import json
    from pathlib import Path

    from bench.models.loader import adapter_base, adapter_subfolder

    current = checkpoint
    for _ in range(8):
        path = adapter_subfolder(current) or Path(current)
        if not path.is_dir():
            return current
        parent = adapter_base(str(path))
        for record, key in (("charbench_merge.json", "adapter"), ("charbench_train.json", "base")):
            if parent is None and (path / record).is_file():
                parent = json.loads((path / record).read_text()).get(key)
        if parent is None:
            return current
        current = parent
    raise CharbenchError(f"{checkpoint}: its base-model chain is longer than 8 links; pass the base model explicitly")
