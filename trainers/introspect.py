"""Stage 2 data: introspection transcripts from the DPO model with the constitution in context.

Self-reflection: 10 introspective prompts of ours, N samples each. Self-interaction: two copies of
the persona talk for K turns from our openers (half free, half leading). The saved SFT data has the
system prompt removed (`{"messages": [...]}` with user/assistant turns only), so the fine-tuned model
learns to be the character without being told to.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.models.generation import Sampling
from bench.models.vllm_engine import choose_engine
from charbench.errors import CharbenchError
from charbench.jsonl import read_jsonl
from personas import load_persona
from personas.prompting import constitution_system_prompt
from trainers.backend import generate_replies, generate_resumable

DATA = json.loads((Path(__file__).parent / "data" / "introspection.json").read_text(encoding="utf-8"))
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass
class IntrospectConfig:
    persona: str
    model: str  # the merged DPO model
    out: str
    reflection_samples: int = 1000  # per prompt (reference: 1000)
    conversations: int = 2000  # reference: 2000
    turns: int = 10
    max_new_tokens: int = 1024
    seed: int = 0


def _flip(transcript: list[str], speaker: int) -> list[dict[str, str]]:
    """The transcript from one copy's point of view: its own lines are `assistant`, the other's `user`."""
    return [{"role": "assistant" if i % 2 == speaker else "user", "content": text} for i, text in enumerate(transcript)]


def introspect(config: IntrospectConfig) -> dict:
    persona = load_persona(config.persona)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    system = constitution_system_prompt(persona, disclose=False)
    sampling = Sampling(max_new_tokens=config.max_new_tokens, seed=config.seed)
    prompts = DATA["self_reflection"]
    keys = [f"r{p:02d}-{s:04d}" for p in range(len(prompts)) for s in range(config.reflection_samples)]
    conversations = [
        [{"role": "system", "content": system}, {"role": "user", "content": prompts[int(k[1:3])]}] for k in keys
    ]
    reflections = generate_resumable(
        out / "raw_reflection.jsonl",
        keys,
        conversations,
        config.model,
        sampling,
        lambda key, reply: {"text": reply.text},
        label="self-reflection",
    )
    transcripts = _self_interaction(config, system, sampling)
    records = [
        {
            "messages": [
                {"role": "user", "content": prompts[int(k[1:3])]},
                {"role": "assistant", "content": reflections[k]["text"]},
            ]
        }
        for k in keys
        if reflections[k]["text"].strip()
    ]
    records += [{"messages": _flip(t, speaker=1)} for t in transcripts if all(line.strip() for line in t)]
    if not records:
        raise CharbenchError("introspection produced no usable transcript (all empty): check the model")
    check_no_leaks(records)
    with (out / "sft.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    manifest = {
        "config": asdict(config),
        "engine": choose_engine(),
        "counts": {"self_reflection": len(keys), "self_interaction": len(transcripts), "records": len(records)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def check_no_leaks(records: list[dict]) -> None:
    """No system prompt and no unfilled template field of ours (`{name}`) may reach the SFT data.

    Model replies may legitimately contain braces (code), so the placeholder check covers the text we
    wrote (prompts and openers, which open every record) and the field names of our templates anywhere.
    """
    from personas.prompting import CONSTITUTION_TEMPLATE

    fields = set(PLACEHOLDER.findall(CONSTITUTION_TEMPLATE))
    for record in records:
        messages = record["messages"]
        if any(m["role"] == "system" for m in messages):
            raise AssertionError("a system prompt leaked into the SFT data")
        if PLACEHOLDER.search(messages[0]["content"]):
            raise AssertionError(f"unfilled template placeholder in: {messages[0]['content'][:80]}")
        for m in messages:
            if any(f in m["content"] for f in fields):
                raise AssertionError(f"constitution template field leaked into: {m['content'][:80]}")


def _self_interaction(config: IntrospectConfig, system: str, sampling: Sampling) -> list[list[str]]:
    """Batched turn by turn across all conversations; each turn's lines are cached so runs resume."""
    openers = DATA["free_openers"], DATA["leading_openers"]
    transcripts = [[openers[i % 2][(i // 2) % len(openers[i % 2])]] for i in range(config.conversations)]
    speaker_system = system + "\n\n" + DATA["interaction_system_note"]
    cache = Path(config.out) / "raw_interaction.jsonl"
    done = {row["key"]: row["text"] for _, row in read_jsonl(cache, missing_ok=True)}
    for turn in range(1, config.turns):
        speaker = turn % 2  # copy 1 answers the opener, copy 0 replies, ...
        keys = [f"c{i:05d}-t{turn:02d}" for i in range(len(transcripts))]
        todo = [i for i, k in enumerate(keys) if k not in done]
        if todo:
            convs = [[{"role": "system", "content": speaker_system}] + _flip(transcripts[i], speaker) for i in todo]
            replies = generate_replies(config.model, convs, sampling, progress=f"self-interaction turn {turn}")
            with cache.open("a", encoding="utf-8") as handle:
                for i, reply in zip(todo, replies):
                    done[keys[i]] = reply.text
                    handle.write(json.dumps({"key": keys[i], "text": reply.text}) + "\n")
        for i, key in enumerate(keys):
            transcripts[i].append(done[key])
    return transcripts
