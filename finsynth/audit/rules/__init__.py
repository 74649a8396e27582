"""The extraction lint rules, one module per family, registered in `RULES` in import order (the order of
`finsynth lint --list`, of the README's rule table and of findings). A new rule is one function under
`@rule(...)` (from `rules.base`) with its examples, in its family's module."""

from finsynth.audit.rules.base import RULES, Example, Item, example, rule

# the families register in this order, so imports stay unsorted
# isort: off
from finsynth.audit.rules import style  # noqa: F401  numbered-list ... style-mismatch
from finsynth.audit.rules import exclusions  # noqa: F401  exclusion-coverage ... exclusion-value-mismatch
from finsynth.audit.rules import metrics  # noqa: F401  metric-not-in-analysis ... score-order
from finsynth.audit.rules import length  # noqa: F401
from finsynth.audit.rules import load  # noqa: F401  unreadable-row
from finsynth.audit.rules import dataset  # noqa: F401  fixed-count ... split-leakage
# isort: on

__all__ = ["RULES", "Example", "Item", "example", "rule"]
