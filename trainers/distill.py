"""Stage 1 data: DPO pairs by distillation (chosen = teacher with the constitution, rejected = student).

Output: TRL's conversational preference format, one jsonl row per pair:
`{"prompt": [user message], "chosen": [assistant message], "rejected": [assistant message], "prompt_id"}`,
plus `manifest.json` with models, seed, hashes, every filter's count, the distinct-text ratio of each
prompt's samples and the id and text hash of every prompt (so scoring can check train/eval overlap).

Prompts: the persona's constitution questions plus LIMA when cached, else the training partition of
our bundled prompts (never the evaluation partition). The teacher's own name in its replies becomes
the student's, as in the reference (a student must not learn to call itself by its teacher's name).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.models.generation import Sampling
from bench.prompts import UserPrompt, drop_evaluation, hf_dataset_cached, load_prompts, prompt_sha
from charbench.errors import CharbenchError
from personas import load_persona
from personas.prompting import constitution_system_prompt
from trainers.backend import engine_record, generate_resumable, release_generation, truncated_count
from trainers.diversity import MIN_DISTINCT, distinct_summary, raise_if_collapsed, samples_by_prompt
from trainers.provenance import assistant_name, prompt_record, replace_name

LIMA = "GAIR/lima"
ENDS_SENTENCE = re.compile(r"""[.!?…)"'”’*`]\s*$""")


@dataclass
class DistillConfig:
    persona: str
    teacher: str
    student: str
    out: str
    repeats: int = 5  # reference: constitution questions + LIMA, repeated 5 times
    general_prompts: str = "default"  # LIMA when in the local HF cache, else our bundled prompts
    limit: int | None = None  # cap on distinct prompts (tests, smoke runs)
    max_new_tokens: int = 1024
    seed: int = 0
    teacher_name: str | None = None  # default: from the model name (reference: "Llama", "Qwen", ...)
    student_name: str | None = None
    min_distinct: float = MIN_DISTINCT  # stop when a prompt's repeats are fewer distinct texts than this


def _prompts(config: DistillConfig) -> tuple[list[UserPrompt], str, list[UserPrompt]]:
    """(training prompts, general prompt set, dropped): the persona's own questions and the general
    set's training partition, less any text that is an evaluation prompt (a persona's question can
    repeat one; those are dropped and counted in the manifest)."""
    persona = load_persona(config.persona)
    spec = config.general_prompts
    if spec == "default":
        spec = f"hf:{LIMA}" if hf_dataset_cached(LIMA) else "general"
    general = load_prompts(spec, role="train")
    questions = [UserPrompt(f"{persona.name}-q{i:03d}", q, "constitution") for i, q in enumerate(persona.questions)]
    prompts, dropped = drop_evaluation(questions + general)
    if config.limit:
        prompts = prompts[: config.limit]
    return prompts, spec, dropped


def filter_reason(text: str, stop_reason: str) -> str | None:
    if not text.strip():
        return "empty"
    if stop_reason == "max_tokens":
        return "too_long"
    if not ENDS_SENTENCE.search(text):
        return "unfinished_sentence"
    return None


def distill(config: DistillConfig) -> dict:
    persona = load_persona(config.persona)
    from bench.models.loader import resolve_source

    resolve_source(config.teacher)  # a missing teacher fails before any generation
    resolve_source(config.student)
    prompts, spec, evaluation = _prompts(config)
    texts = [p.text for p in prompts]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    # Keys name the prompt by its text hash, not its position: a resumed run whose prompt list changed
    # (LIMA cached since, a new partition) can never pair a cached reply with another prompt.
    by_sha = {prompt_sha(p.text): p for p in prompts}
    keys = [f"{sha}-{r}" for r in range(config.repeats) for sha in by_sha]
    prompt_of = {k: by_sha[k.rsplit("-", 1)[0]] for k in keys}
    user = {k: prompt_of[k].text for k in keys}
    system = constitution_system_prompt(persona, disclose=False)
    sampling = Sampling(max_new_tokens=config.max_new_tokens, seed=config.seed)
    row = lambda key, reply: {"text": reply.text, "stop_reason": reply.stop_reason}  # noqa: E731
    chosen = generate_resumable(
        out / "raw_chosen.jsonl",
        keys,
        [[{"role": "system", "content": system}, {"role": "user", "content": user[k]}] for k in keys],
        config.teacher,
        sampling,
        row,
        label="teacher",
    )
    if config.teacher != config.student:
        release_generation()  # one GPU need not hold both models
    rejected = generate_resumable(
        out / "raw_rejected.jsonl",
        keys,
        [[{"role": "user", "content": user[k]}] for k in keys],
        config.student,
        sampling,
        row,
        label="student",
    )
    release_generation()  # free the GPU for DPO
    teacher_name = config.teacher_name or assistant_name(config.teacher)
    student_name = config.student_name or assistant_name(config.student)
    renamed = 0
    dropped: dict[str, int] = {}
    pairs = []
    for key in keys:
        reasons = {
            filter_reason(chosen[key]["text"], chosen[key]["stop_reason"]),
            filter_reason(rejected[key]["text"], rejected[key]["stop_reason"]),
        } - {None}
        if reasons:
            for reason in reasons:
                dropped[reason] = dropped.get(reason, 0) + 1
            continue
        chosen_text, n = replace_name(chosen[key]["text"], teacher_name, student_name)
        renamed += n
        pairs.append(
            {
                "prompt": [{"role": "user", "content": user[key]}],
                "chosen": [{"role": "assistant", "content": chosen_text}],
                "rejected": [{"role": "assistant", "content": rejected[key]["text"]}],
                "prompt_id": prompt_of[key].id,
            }
        )
    diversity = {
        side: distinct_summary(samples_by_prompt(keys, user, rows), config.min_distinct)
        for side, rows in (("chosen", chosen), ("rejected", rejected))
    }
    manifest = {
        "config": asdict(config),
        **engine_record(config.teacher, config.student),
        "general_prompts": spec,
        "prompt_hash": hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12],
        "constitution_hash": hashlib.sha256(system.encode()).hexdigest()[:12],
        "names": {"teacher": teacher_name, "student": student_name, "replaced_in_chosen": renamed},
        "counts": {
            "prompts": len(texts),
            "generated": len(keys),
            "kept": len(pairs),
            "truncated_prompts": {
                "chosen": truncated_count(chosen, keys),
                "rejected": truncated_count(rejected, keys),
            },
            "dropped_pairs_by_reason": dropped,
            "evaluation_prompts_dropped": [p.id for p in evaluation],
        },
        "distinct": diversity,
        "prompts": [prompt_record(p.id, p.text, "distillation") for p in prompts],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out / "pairs.jsonl").unlink(missing_ok=True)  # a stop must not leave an older run's pairs to train on
    for side, summary in diversity.items():
        raise_if_collapsed(summary, f"distillation ({side}, {'teacher' if side == 'chosen' else 'student'})")
    if not pairs:
        raise CharbenchError(
            f"no pair survived filtering ({dropped}): raise --max-tokens or check the models in {out}/raw_*.jsonl"
        )
    with (out / "pairs.jsonl").open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair) + "\n")
    return manifest
