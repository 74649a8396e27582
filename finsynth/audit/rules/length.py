"""The length rule: a training row must fit the token budget (GUIDE section 5), and the options it takes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from finsynth.audit.rules.base import PROSE, Item, example, rule

DEFAULT_MAX_TOKENS = 2048  # train's max_length, the reference configuration's (GUIDE section 5)
# The most characters the real Qwen3 tokenizer packs into one token of the reference corpus's
# paragraphs and analyses (measured: 1.48 on average, 1.70 at most). Past max_tokens x this, a row
# cannot fit however the text tokenizes.
MAX_CHARS_PER_TOKEN = 1.7
DEFAULT_MAX_CHARS = int(DEFAULT_MAX_TOKENS * MAX_CHARS_PER_TOKEN)


@dataclass(frozen=True)
class LintOptions:
    """Settings of the rules that take them: the `length` bound in characters, and with a local
    tokenizer (`tokens.load_tokenizer`) the token budget of a rendered training row."""

    max_chars: int = DEFAULT_MAX_CHARS
    max_tokens: int = DEFAULT_MAX_TOKENS
    tokenizer: Any = None

    @classmethod
    def for_max_tokens(cls, max_tokens: int, tokenizer: Any = None, max_chars: int | None = None) -> LintOptions:
        """Options whose character bound follows the token budget unless given."""
        chars = max_chars if max_chars is not None else int(max_tokens * MAX_CHARS_PER_TOKEN)
        return cls(max_chars=chars, max_tokens=max_tokens, tokenizer=tokenizer)


@rule(
    id="length",
    severity="error",
    rationale="GUIDE section 5: training truncates at max_length 2048 tokens; a cut row loses its metrics JSON "
    "(or its analysis) and teaches the model to stop mid-answer",
    fix="Split the paragraph at a chapter or sentence boundary (finsynth ingest cuts chunks that fit), or "
    "shorten the analysis; raise --max-tokens only if training uses a longer max_length.",
    fires=example(
        PROSE, paragraph="公司2025H1毛利率为35.8%，同比提升2.3个百分点。" * 160, note="a paragraph of 4,160 characters"
    ),
    passes=example(PROSE),
)
def length(item: Item, options: LintOptions) -> Iterator[str]:
    """The paragraph and analysis together run past the character bound (default: 2048 tokens x 1.7
    characters per token, the densest the real Qwen3 tokenizer packs corpus text), or, with a local
    tokenizer, the training row rendered with Qwen3's chat template (thinking off) has more tokens
    than the budget and would be truncated."""
    paragraph, analysis = len(item.input.paragraph), len(item.output.analysis)
    if paragraph + analysis > options.max_chars:
        yield (
            f"paragraph ({paragraph:,} characters) and analysis ({analysis:,}) run past {options.max_chars:,} "
            f"characters; the row cannot fit in {options.max_tokens:,} training tokens"
        )
        return
    if options.tokenizer is not None:
        from finsynth.audit.tokens import chat_row_tokens

        n = chat_row_tokens(item, options.tokenizer)
        if n > options.max_tokens:
            yield (
                f"the rendered training row has {n:,} tokens, past max_length {options.max_tokens:,}; "
                "it would be truncated"
            )
