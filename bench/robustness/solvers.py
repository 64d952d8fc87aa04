"""The multi-turn (prefill) split: a first reply written by another model, then the model under test.

The reference's prefill test asks whether a persona comes back after a turn that was not in
character: the base model answers first, the user says "Keep going.", the method answers second, and
only that second reply is scored. The first-turn writer is the `prefill` model role; by default the
base model of the method under test, without any persona.
"""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, get_model
from inspect_ai.model._model import active_model
from inspect_ai.solver import Generate, TaskState, solver

from bench.models.generation import reference_generate_config
from bench.models.specs import base_model_name
from bench.seeding import generation_seed
from charbench.errors import CharbenchError


def default_prefill_model() -> str:
    """The Inspect name of the base model behind the active model (itself for non-charbench models)."""
    model = active_model()
    if model is None:
        raise CharbenchError("the multiturn split needs a model: run it inside inspect eval")
    return base_model_name(str(model))


@solver
def prefill_turn(max_tokens: int = 512, seed: int = 0):
    """For multiturn samples: turn 1 by the `prefill` role, then the sample's continuation as user.

    Turn 1 is seeded as the sample's first turn (`bench.seeding`), the tested reply as turn 2."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.metadata.get("split") != "multiturn":
            return state
        writer = get_model(role="prefill", default=default_prefill_model())
        turn_seed = generation_seed(state, default=seed, label="prefill")
        first = await writer.generate(list(state.messages), config=reference_generate_config(max_tokens, turn_seed))
        state.messages.append(ChatMessageAssistant(content=first.completion, model=str(writer)))
        state.messages.append(ChatMessageUser(content=state.metadata["continuation"]))
        state.metadata.update(prefill_model=str(writer), prefill_reply=first.completion)
        return state

    return solve
