"""Shared test helpers."""

from inspect_ai.model import ModelOutput, ModelUsage, get_model


def scripted(texts: list[str]):
    """A mockllm model that answers with `texts` in order (with usage, so it works offline)."""
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return get_model(
        "mockllm/model",
        custom_outputs=[
            ModelOutput.from_content("mockllm/model", t).model_copy(update={"usage": usage}) for t in texts
        ],
    )
