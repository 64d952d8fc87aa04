"""The conversation: the model under test answers every turn with the full history; the `user` role
writes the next user message between turns."""

from __future__ import annotations

from inspect_ai.model import ChatMessageSystem, ChatMessageUser, get_model
from inspect_ai.model._model import active_model
from inspect_ai.solver import Generate, TaskState, solver

from bench.drift.prompts import FALLBACK_USER_MESSAGE, USER_SIMULATOR, clean_user_message, transcript
from bench.models.generation import reference_generate_config
from bench.models.specs import base_model_name
from bench.seeding import generation_seed, turn_tags
from charbench.errors import CharbenchError


def default_user_model() -> str:
    """The base model behind the model under test, without any persona (as robustness's prefill role)."""
    model = active_model()
    if model is None:
        raise CharbenchError("bench/drift needs a model: run it inside inspect eval")
    return base_model_name(str(model))


@solver
def conversation(turns: int, user_max_tokens: int = 96, seed: int = 0):
    """`turns` assistant replies; the user's messages after the opener come from the `user` role.

    Each reply goes through Inspect's `generate` (the model under test, the task's config, its cache
    and its log); the simulator sees the transcript as one message under our instructions. Turn t is
    seeded from (seed, sample id, epoch, t), the user message after it from (..., "user", t):
    `bench.seeding`.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        user = get_model(role="user", default=default_user_model())
        truncated, fallbacks = [], 0
        for turn in range(1, turns + 1):
            state = await generate(state, seed=generation_seed(state, *turn_tags(turn), default=seed))
            truncated.append(bool(state.output and state.output.stop_reason == "max_tokens"))
            if turn == turns:
                break
            history = [(m.role, m.text) for m in state.messages if m.role in ("user", "assistant")]
            reply = await user.generate(
                [ChatMessageSystem(content=USER_SIMULATOR), ChatMessageUser(content=transcript(history))],
                config=reference_generate_config(user_max_tokens, generation_seed(state, "user", turn, default=seed)),
            )
            text = clean_user_message(reply.completion)
            if not text:
                text, fallbacks = FALLBACK_USER_MESSAGE, fallbacks + 1
            state.messages.append(ChatMessageUser(content=text))
        state.metadata.update(user_model=str(user), user_fallbacks=fallbacks, truncated_turns=truncated)
        return state

    return solve
