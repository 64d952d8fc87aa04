"""Per-sample seeds for charbench's tasks: every generation's randomness from (run seed, sample, epoch).

The rule (VALIDITY.md section 6): a generated row's randomness derives from (run seed, row key,
epoch), never from the prompt text, its batch position or which requests shared its batch. Inspect's
`ModelAPI.generate` never sees the sample id, so the mechanism is the generate config: before each
generation a task's solver (or scorer) sets `GenerateConfig.seed` to

    sample_seed(run seed, sample id, epoch, *tags)    # bench.models.generation: row_seed(seed, key)

and every engine seeds that one row with it. charbench's transformers engine gives the row a random
stream of its own (`generation.RowSampler`); its in-process vLLM engine passes it as the request's
`SamplingParams.seed`; a delegated Inspect model whose API takes a seed (vLLM and SGLang servers,
OpenAI-compatible servers, OpenAI) receives it in its request. So the same command gives the same
replies whatever the concurrency or batch size (up to the engine's numerics: bench/models/README.md,
"Reproducibility"), two samples of one prompt differ, and `--epochs 2` gives two different replies
per sample, the same two on every run.

The run seed is the eval's generate-config seed: the task's `-T seed` (which its
`reference_generate_config` carries), or `--seed` where given. Tags name the generation within a
sample: none for its (first) reply, `("turn", t)` for assistant turn t > 1, `("user", t)` for the
simulated user message after turn t, `("judge", ...)` for a judge's verdict. A role model answering
the same turn (a coherence baseline, a multiturn prefill) gets the turn's seed: common random numbers,
so a coefficient-0 steered model reproduces its base. The seeds are in each sample's metadata
(`seeds`, by label) and in every model event's config; charbench models also put each reply's seed
in its output metadata.
"""

from __future__ import annotations

from inspect_ai.model import get_model
from inspect_ai.model._generate_config import active_generate_config
from inspect_ai.solver import Generate, Solver, TaskState, solver

from bench.models.generation import sample_seed
from bench.models.overlap import record_overlap


def run_seed(default: int = 0) -> int:
    """The running eval's seed (its generate config's: `-T seed` through the task config, or `--seed`)."""
    seed = active_generate_config().seed
    return default if seed is None else int(seed)


def turn_tags(turn: int) -> tuple[str | int, ...]:
    """The tags of assistant turn `turn` (1-based): none for the first, so a single reply is turn 1."""
    return () if turn == 1 else ("turn", turn)


def next_turn(state: TaskState) -> int:
    """The assistant turn the next generation writes: one more than the assistant messages so far."""
    return 1 + sum(m.role == "assistant" for m in state.messages)


def generation_seed(
    state: TaskState, *tags: str | int, default: int = 0, label: str | None = None, record: bool = True
) -> int:
    """The seed of one generation of this sample in this epoch, recorded in `state.metadata["seeds"]`
    under `label` (default: the tags joined by '-', or 'reply')."""
    seed = sample_seed(run_seed(default), state.sample_id, state.epoch, *tags)
    if record:
        label = label or "-".join(str(t) for t in tags) or "reply"
        state.metadata.setdefault("seeds", {})[label] = seed
    return seed


@solver
def seeded_generate() -> Solver:
    """Inspect's `generate()` with the seed of the turn it writes (`next_turn`) in the config."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        record_overlap(str(get_model()), state.metadata)  # a checkpoint trained on this prompt: recorded
        return await generate(state, seed=generation_seed(state, *turn_tags(next_turn(state))))

    return solve
