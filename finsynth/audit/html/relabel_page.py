"""The relabel review page (`OUT/relabel.html`): what `build --relabel` changed, kept and quarantined.

Counts per outcome, the exclusion categories of the B items before and after (parsed with
`style.exclusion_items`), and every target row with its analysis before and after and the review
controls (`finsynth.audit.review`): a reviewer accepts, rejects or edits and downloads the decisions as a patch.
Self-contained like the build report (inline CSS and script, no request allowed).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from finsynth.audit.html.page import environment, page_css, review_script
from finsynth.io import write_text_atomic
from finsynth.schema import RelabelChange
from finsynth.text.style import EXCLUSION_CATEGORIES, exclusion_items

STATUSES = ("changed", "kept", "kept_on_failure", "quarantined")


def category_counts(changes: Sequence[RelabelChange]) -> dict[str, dict[str, int]]:
    """Per exclusion category: items in the analyses before and after the relabel."""
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for change in changes:
        before.update(item.category for item in exclusion_items(change.before))
        if change.status != "quarantined":
            after.update(item.category for item in exclusion_items(change.after))
    names = [*EXCLUSION_CATEGORIES, *sorted((set(before) | set(after)) - set(EXCLUSION_CATEGORIES))]
    return {name: {"before": before.get(name, 0), "after": after.get(name, 0)} for name in names}


def render_relabel_page(changes: Sequence[RelabelChange], info: dict) -> str:
    counts: Counter[str] = Counter(c.status for c in changes)
    return (
        environment()
        .get_template("relabel.html.j2")
        .render(
            title="finsynth relabel review",
            info=info,
            statuses=STATUSES,
            counts={s: counts.get(s, 0) for s in STATUSES},
            categories=category_counts(changes),
            changes=sorted(changes, key=lambda c: (STATUSES.index(c.status), c.source, c.line, c.id)),
            css=page_css(),
            review_script=review_script(),
        )
    )


def write_relabel_page(path: str | os.PathLike[str], changes: Sequence[RelabelChange], info: dict) -> Path:
    path = Path(path)
    write_text_atomic(path, render_relabel_page(changes, info))
    return path
