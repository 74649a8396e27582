"""`--candidates`: per chunk, the quantitative mentions (`finsynth.text.mentions.extract_mentions`, kinds in
`QUANTITY_KINDS`) and a suggested sample type, so a data engineer can pick what to send to `generate`.

Rule, on the mentions' subjects (empty subjects ignored; a subject counts once however often it is
quantified):

- no quantity: type B, scenario `empty_output_background` (B is the type whose count may be 0);
- 4 or more quantities and one subject holding at least half of them, or 5 or more quantities over at
  most 2 subjects: type B, `boundary_many_numbers_one_core` (many numbers, few core metrics);
- one subject: type C, `single_metric` (C is the count-variation type, and 1 is the count the corpus lacks);
- two subjects: type A, `multi_metric`;
- three or more subjects with no dominant one: type C, `multi_metric` (3-4 metrics).

Tables are not suggested for annotation: their candidates list the mentions of the cells.
"""

from __future__ import annotations

from collections import Counter

from finsynth.ingest.models import Candidate, MentionOut
from finsynth.text.mentions import QUANTITY_KINDS, extract_mentions


def candidate(paragraph: str) -> Candidate:
    mentions = [m for m in extract_mentions(paragraph) if m.kind in QUANTITY_KINDS]
    subjects = Counter(m.subject for m in mentions if m.subject)
    ordered = [s for s, _ in sorted(subjects.items(), key=lambda kv: (-kv[1], paragraph.find(kv[0])))]
    out = [MentionOut(text=m.text, value=m.value, unit=m.unit, kind=m.kind, subject=m.subject) for m in mentions]
    n = len(mentions)
    top = subjects.most_common(1)[0][1] if subjects else 0
    if n == 0:
        return Candidate(
            mentions=out,
            subjects=ordered,
            suggested_type="B",
            scenario="empty_output_background",
            reason="no quantitative mention: a background paragraph with an empty output",
        )
    if (n >= 4 and top * 2 >= n) or (n >= 5 and len(subjects) <= 2):
        return Candidate(
            mentions=out,
            subjects=ordered,
            suggested_type="B",
            scenario="boundary_many_numbers_one_core",
            reason=f"{n} quantities, dominant subject {ordered[0] if ordered else '?'}: many numbers, few core metrics",
        )
    if len(subjects) <= 1:
        return Candidate(
            mentions=out,
            subjects=ordered,
            suggested_type="C",
            scenario="single_metric",
            reason=f"{n} quantit{'y' if n == 1 else 'ies'} of one subject",
        )
    if len(subjects) == 2:
        return Candidate(
            mentions=out, subjects=ordered, suggested_type="A", scenario="multi_metric", reason="two analysed subjects"
        )
    return Candidate(
        mentions=out,
        subjects=ordered,
        suggested_type="C",
        scenario="multi_metric",
        reason=f"{len(subjects)} subjects, none dominant",
    )
