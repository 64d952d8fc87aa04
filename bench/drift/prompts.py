"""The user simulator's instructions (our own wording) and how it sees the conversation.

The simulated user is told to continue the topic the opener started, and not to comment on the
assistant's tone or character: drift should measure whether a persona holds in an ordinary
conversation, not whether it survives a user asking to drop it (that is `bench/robustness`'s
adversarial split).
"""

USER_SIMULATOR = """\
You are playing the part of a person chatting with an AI assistant. You will be shown the conversation \
so far. Write the person's next message: one to three sentences that carry the conversation on \
naturally, for example a reaction to the assistant's last reply, a follow-up question, or a related \
detail from the person's own life. Stay on the topic the person started.

Write only the message itself, in the first person, without a label such as "User:" and without \
quotation marks. Do not answer as the assistant, and do not comment on the assistant's tone, style \
or personality."""

TRANSCRIPT_HEADER = "The conversation so far:"
TRANSCRIPT_FOOTER = "Write the person's next message."
SPEAKERS = {"user": "Person", "assistant": "Assistant"}

# Used when the simulator's message is empty after cleaning; every use is counted in the log.
FALLBACK_USER_MESSAGE = "Tell me more."


def transcript(turns: list[tuple[str, str]]) -> str:
    """The conversation as one user message for the simulator: (role, text) pairs, oldest first.

    One message instead of swapped roles, because some APIs refuse a conversation that starts with
    an assistant turn.
    """
    lines = [f"{SPEAKERS[role]}: {text}" for role, text in turns]
    return "\n\n".join([TRANSCRIPT_HEADER, *lines, TRANSCRIPT_FOOTER])


def clean_user_message(text: str) -> str:
    """The simulator's reply without a speaker label, quotes, or a continuation into the next speaker."""
    text = text.strip()
    for label in ("Person:", "User:"):
        if text.startswith(label):
            text = text[len(label) :].strip()
    for stop in ("\nAssistant:", "\nPerson:", "\nUser:"):
        text = text.split(stop)[0]
    return text.strip().strip('"').strip()
