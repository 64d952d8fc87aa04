"""Stage 2 data: introspection transcripts from the DPO model with the constitution in context.

Self-reflection: 10 introspective prompts of ours, N samples each, generated with the constitution and
a reflective note (no "do not mention the statements" clause: as in the reference, the model is asked
to reflect on its values). Self-interaction: two copies of the persona talk for K turns from our
openers (half free, half leading).

The saved SFT data is TRL's conversational prompt/completion form, so the loss covers only the final
assistant turn (`completion`), never the user turns, openers or template. The constitution is removed:
reflection rows have no system message; self-interaction rows keep a generic, trait-free system line
saying the user is another instance of the model (the reference's), so the model does not learn to
treat every user as itself.

Late self-interaction turns can outgrow the context: each prompt is left-truncated to fit (whole old
turns go, the system message stays: `trainers.backend.fit_conversations`), and the manifest counts them.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.models.generation import Sampling
from charbench.errors import CharbenchError
from charbench.jsonl import read_jsonl
from personas import load_persona
from personas.prompting import constitution_system_prompt
from trainers.backend import (
    engine_record,
    fit_conversations,
    generate_replies,
    generate_resumable,
    release_generation,
    truncated_count,
)
from trainers.diversity import MIN_DISTINCT, distinct_summary, raise_if_collapsed, samples_by_prompt
from trainers.provenance import assistant_name, prompt_record

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
    name: str | None = None  # what the model calls itself in the self-interaction line; default from the model
    min_distinct: float = MIN_DISTINCT  # stop when a prompt's samples are fewer distinct texts than this


def _flip(transcript: list[str], speaker: int) -> list[dict[str, str]]:
    """The transcript from one copy's point of view: its own lines are `assistant`, the other's `user`."""
    return [{"role": "assistant" if i % 2 == speaker else "user", "content": text} for i, text in enumerate(transcript)]


def introspect(config: IntrospectConfig) -> dict:
    persona = load_persona(config.persona)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    system = constitution_system_prompt(persona)
    sampling = Sampling(max_new_tokens=config.max_new_tokens, seed=config.seed)
    prompts = DATA["self_reflection"]
    keys = [f"r{p:02d}-{s:04d}" for p in range(len(prompts)) for s in range(config.reflection_samples)]
    reflect_system = system + "\n\n" + DATA["reflection_system_note"]
    conversations = [
        [{"role": "system", "content": reflect_system}, {"role": "user", "content": prompts[int(k[1:3])]}] for k in keys
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
    transcripts, interaction_truncated = _self_interaction(config, system, sampling)
    release_generation()  # the model is done with: free the GPU for SFT
    name = config.name or assistant_name(config.model)
    records = [
        {
            "prompt": [{"role": "user", "content": prompts[int(k[1:3])]}],
            "completion": [{"role": "assistant", "content": reflections[k]["text"]}],
            "prompt_id": f"reflection-{int(k[1:3]):02d}",
        }
        for k in keys
        if reflections[k]["text"].strip()
    ]
    interaction_system = DATA["interaction_training_system"].format(name=name)
    records += [
        _interaction_record(t, interaction_system, i) for i, t in enumerate(transcripts) if all(x.strip() for x in t)
    ]
    records = [r for r in records if r is not None]
    if not records:
        raise CharbenchError("introspection produced no usable transcript (all empty): check the model")
    check_no_leaks(records, allowed_system=interaction_system)
    reflection_groups = samples_by_prompt(keys, {k: prompts[int(k[1:3])] for k in keys}, reflections)
    opener_groups: dict[str, list[str]] = {}
    for t in transcripts:
        if len(t) > 1:  # turns=1: the openers alone, nothing generated to compare
            opener_groups.setdefault(t[0], []).append("\n".join(t[1:]))
    diversity = {
        "self_reflection": distinct_summary(reflection_groups, config.min_distinct),
        "self_interaction": distinct_summary(opener_groups, config.min_distinct),
    }
    trained = [prompt_record(f"reflection-{i:02d}", p, "introspection") for i, p in enumerate(prompts)]
    trained += [prompt_record(f"opener-{i:02d}", o, "introspection") for i, o in enumerate(sorted(opener_groups))]
    manifest = {
        "config": asdict(config),
        **engine_record(config.model),
        "name": name,
        "counts": {
            "self_reflection": len(keys),
            "self_interaction": len(transcripts),
            "records": len(records),
            "truncated_prompts": truncated_count(reflections, keys) + interaction_truncated,
            "dropped_by_reason": {
                "empty_reflection": sum(1 for k in keys if not reflections[k]["text"].strip()),
                "empty_turn_in_conversation": sum(1 for t in transcripts if not all(x.strip() for x in t)),
            },
        },
        "distinct": diversity,
        "prompts": trained,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out / "sft.jsonl").unlink(missing_ok=True)  # a stop must not leave an older run's data to train on
    for stage, summary in diversity.items():
        raise_if_collapsed(summary, f"introspection ({stage.replace('_', '-')})")
    with (out / "sft.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return manifest


def _interaction_record(transcript: list[str], system: str, index: int) -> dict | None:
    """One transcript from the answering copy's side, ending on its last line (the completion).

    The opener is always a user turn; a transcript that ends on the opener's side loses its last line.
    """
    last = len(transcript) - 1 if (len(transcript) - 1) % 2 == 1 else len(transcript) - 2
    if last < 1:
        return None
    turns = _flip(transcript[: last + 1], speaker=1)
    return {
        "prompt": [{"role": "system", "content": system}] + turns[:-1],
        "completion": turns[-1:],
        "prompt_id": f"conversation-{index:05d}",
    }


def check_no_leaks(records: list[dict], allowed_system: str | None = None) -> None:
    """No constitution system prompt and no unfilled template field of ours (`{name}`) may reach the SFT
    data; the only system message allowed is the generic self-interaction line (`allowed_system`).

    Model replies may legitimately contain braces (code), so the placeholder check covers the text we
    wrote (prompts and openers, which open every record) and the field names of our templates anywhere.
    """
    from personas.prompting import CONSTITUTION_TEMPLATE

    fields = set(PLACEHOLDER.findall(CONSTITUTION_TEMPLATE))
    for record in records:
        messages = record.get("prompt", []) + record.get("completion", []) + record.get("messages", [])
        if any(m["role"] == "system" and m["content"] != allowed_system for m in messages):
            raise AssertionError("a system prompt leaked into the SFT data")
        ours = [messages[0]] + [next((m for m in messages if m["role"] == "user"), messages[0])]
        for m in ours:  # the text we wrote: the system line (if any) and the prompt or opener
            if PLACEHOLDER.search(m["content"]):
                raise AssertionError(f"unfilled template placeholder in: {m['content'][:80]}")
        for m in messages:
            if any(f in m["content"] for f in fields):
                raise AssertionError(f"constitution template field leaked into: {m['content'][:80]}")


def _self_interaction(config: IntrospectConfig, system: str, sampling: Sampling) -> tuple[list[list[str]], int]:
    """Batched turn by turn across all conversations; each turn's lines are cached so runs resume.

    Returns the transcripts and how many prompts were left-truncated to fit the context (late turns of
    long conversations: `fit_conversations`); the cache records it per line.
    """
    openers = DATA["free_openers"], DATA["leading_openers"]
    transcripts = [[openers[i % 2][(i // 2) % len(openers[i % 2])]] for i in range(config.conversations)]
    speaker_system = system + "\n\n" + DATA["interaction_system_note"]
    cache = Path(config.out) / "raw_interaction.jsonl"
    done = {row["key"]: row for _, row in read_jsonl(cache, missing_ok=True)}
    truncated = 0
    for turn in range(1, config.turns):
        speaker = turn % 2  # copy 1 answers the opener, copy 0 replies, ...
        keys = [f"c{i:05d}-t{turn:02d}" for i in range(len(transcripts))]
        todo = [i for i, k in enumerate(keys) if k not in done]
        if todo:
            convs = [[{"role": "system", "content": speaker_system}] + _flip(transcripts[i], speaker) for i in todo]
            convs, cut = fit_conversations(config.model, convs, sampling.max_new_tokens)
            replies = generate_replies(
                config.model, convs, sampling, [keys[i] for i in todo], progress=f"self-interaction turn {turn}"
            )
            with cache.open("a", encoding="utf-8") as handle:
                for i, reply, was_cut in zip(todo, replies, cut):
                    done[keys[i]] = {"key": keys[i], "text": reply.text, "truncated": was_cut}
                    handle.write(json.dumps(done[keys[i]]) + "\n")
        for i, key in enumerate(keys):
            transcripts[i].append(done[key]["text"])
        truncated += truncated_count(done, keys)
    return transcripts, truncated
