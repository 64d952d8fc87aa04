"""The Inspect model providers and the one model loader. Importing this package registers the
`charbench/` provider with Inspect, so code that builds a `charbench/...` model (a judge given by
name, say) needs no import of the task registry."""

from inspect_ai.model import modelapi


@modelapi(name="charbench")
def charbench():
    from bench.models.provider import CharbenchAPI

    return CharbenchAPI
