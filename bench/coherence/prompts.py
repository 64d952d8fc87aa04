"""The coherence judge's prompt (our own wording)."""

JUDGE_TEMPLATE = """\
You are comparing two replies written by AI assistants that are meant to have this character:

<character>
{traits}
</character>

The user wrote:
<message>
{message}
</message>

Reply A:
<reply_a>
{reply_a}
</reply_a>

Reply B:
<reply_b>
{reply_b}
</reply_b>

Which reply is better? Judge first by how well it fits the character described above, then by how \
coherent, relevant and natural it is as an answer to the user (a believable character, not a caricature). \
You must pick one.

Give your choice inside answer tags: <answer>A</answer> or <answer>B</answer>."""

JUDGE_TEMPERATURE = 0.7  # the reference's coherence judge temperature
JUDGE_MAX_TOKENS = 512


def judge_prompt(traits: list[str], message: str, reply_a: str, reply_b: str) -> str:
    return JUDGE_TEMPLATE.format(
        traits="\n".join(f"- {t}" for t in traits), message=message, reply_a=reply_a, reply_b=reply_b
    )
