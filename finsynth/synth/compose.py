"""Count composition: the data-centric plan's mixing step (`finsynth build --compose FILE`).

Lesson 1 of the GUIDE says never fix the count; the real corpus shows the milder form of the same
disease, 2.13 metrics per training paragraph against 1.44 per test case, and a model trained on it
over-extracts. Composition re-weights the *training split* towards a target metric-count distribution
(the test set's prior with `match: test`, or explicit shares) by deterministic down- and up-sampling of
each type x count cell, then raises named slices to a share and mixes in a replay share from a second
dataset.

Decisions (the contract the build and its manifest rely on):

- Where: after lint, dedupe and the stratified split, on the training split only, before export.
  Validation keeps the natural distribution: it is the same held-out rows as a build without
  `--compose` (so validation losses stay comparable across mixtures), and no copy of a training row
  can ever land in it.
- Size (`size: auto`, the default): the training split's size, or, when reaching the target from it
  would repeat some cell more than `max_upsample` times, the largest size at which no cell needs to;
  the shrink is a note (a warning when it keeps under half the split). An explicit `size: N` is kept,
  and a cell the cap stops short is a warning with the reached distribution. A target count with no
  rows at all is a warning; the other counts' shares are renormalised. Nothing is missed silently.
- Which rows: inside a cell the rows are ordered by id and shuffled with a generator seeded by the
  build seed and the cell, so the same inputs and seed give the same rows. Downsampling keeps a prefix
  of that order; upsampling gives every row `n // a` copies and the first `n % a` rows one more.
  Copies are whole rows whose id carries `~dupK` (K = 2, 3, ...) and whose provenance names the
  original (`provenance.compose.copy_of`), so ids stay unique and every copy traces back.
- Accounting: a row composed out is not bad data, so it does not go to quarantine; it is written to
  `composed_out.jsonl` (quarantine's row shape, `stage: compose`, a reason starting `composition:`),
  counted apart, and the build's accounting reads
  `read = kept train + val + test + quarantined + composed_out`, with
  `train rows = kept + copies + replay rows`.
- Types: `free` (default) keeps each type's share *within* each count; `keep` keeps each type's share
  of the split and `{A: 0.3, ...}` sets it, both by iterative proportional fitting with the count target
  fitted last: when the two cannot both hold, the count target wins and the missed type shares are a
  warning.
- Slices (`slices: [{name, where: {type, count}, share}]`) are raised, in order, to at least `share` of
  the composed split by upsampling their own cells (the cap applies); a slice already there is left
  alone; a slice a later one (or replay) dilutes below its share is a warning. Replay (`replay: {path, share}`) \
rows, loaded with `finsynth.io`, make up `share` of the final
  training file; replay rows near-duplicating a validation or test paragraph (Jaccard >= 0.8) are
  dropped first, and their ids carry `~replay`. Replay rows are not linted here: lint the file first.
- Mode (`mode: copies`, the default, is all of the above). `mode: weight` reaches the target without copying or
  dropping a row: every training row is kept once and carries a loss weight in `provenance.compose.weight`,
  its type x count cell's target share over its natural share (mean 1 over the split, clipped at
  `max_upsample` with the other cells raised to keep the mean; `cell_weights`); `python -m train sft`
  multiplies each row's per-token loss by it (train/weighting.py). Why: copies cost diversity and drops cost
  data (measured on the 0.5B model, issue 23). `slices`, `replay` and an explicit `size` are copy-based and
  need `mode: copies`. A row whose count has no target share weighs 0 (kept, no loss). The summary's `after`
  counts are weight sums, rounded; `composed_out.jsonl` is empty.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from finsynth.audit.report import COUNTS, Composition, CompositionSlice
from finsynth.io import QuarantineRow, Record, UserError, load_paths, read_yaml
from finsynth.schema import MAX_METRICS, Provenance, Sample, SampleType, TestCase
from finsynth.text.similarity import DEFAULT_THRESHOLD, NearDupIndex

DEFAULT_MAX_UPSAMPLE = 3.0
DEFAULT_TOLERANCE = 0.02
COMPOSED_OUT = "composed_out.jsonl"
COPY_SUFFIX = "~dup"
REPLAY_SUFFIX = "~replay"
IPF_ITERATIONS = 500
WEIGHT_DIGITS = 6  # decimals of a row's weight in train.jsonl (mode: weight): stable bytes across platforms
TYPE_SHIFT_NOTE = 0.10  # a type whose share of the split moves more than this gets a note
Count = Annotated[int, Field(ge=0, le=MAX_METRICS)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _normalise_shares(shares: dict[Any, float], what: str) -> dict[Any, float]:
    total = sum(shares.values())
    if total <= 0:
        raise ValueError(f"{what} shares sum to 0; give at least one positive share")
    if abs(total - 1.0) > 0.01:
        raise ValueError(f"{what} shares sum to {total:.3g}, not 1")
    return {k: v / total for k, v in sorted(shares.items())}


class Where(_Strict):
    """Which training rows a slice takes: a type (or list of types) and/or a count (or list)."""

    type: SampleType | list[SampleType] | None = None
    count: Count | list[Count] | None = None

    @model_validator(mode="after")
    def _some(self) -> Where:
        if self.type is None and self.count is None:
            raise ValueError("where needs `type` and/or `count`")
        return self

    def matches(self, sample_type: str, count: int) -> bool:
        types = [self.type] if isinstance(self.type, str) else self.type
        counts = [self.count] if isinstance(self.count, int) else self.count
        return (types is None or sample_type in types) and (counts is None or count in counts)


class Slice(_Strict):
    """A named slice upsampled to at least `share` of the composed training split."""

    name: str = Field(min_length=1)
    where: Where
    share: float = Field(gt=0.0, lt=1.0)


class Replay(_Strict):
    """Rows from a second dataset making up `share` of the final training file."""

    path: Path
    share: float = Field(gt=0.0, lt=1.0)


class ComposeConfig(_Strict):
    """The compose file (YAML): exactly one of `match: test` or `counts`, plus optional constraints."""

    match: Literal["test"] | None = None
    counts: dict[Count, Share] | None = None
    types: Literal["free", "keep"] | dict[SampleType, Share] = "free"
    size: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    max_upsample: float = Field(DEFAULT_MAX_UPSAMPLE, ge=1.0)
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0.0, lt=1.0)
    slices: list[Slice] = Field(default_factory=list)
    replay: Replay | None = None
    # copies: reach the target with whole-row copies and drops; weight: keep every row once with a loss weight.
    # Left out of the dump at its default, so a copies config (its manifest, its hash) reads as it did before
    mode: Literal["copies", "weight"] = Field("copies", exclude_if=lambda v: v == "copies")
    _base_dir: Path = PrivateAttr(default=Path("."))

    @field_validator("counts")
    @classmethod
    def _counts_sum(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        return None if value is None else _normalise_shares(value, "counts")

    @field_validator("types")
    @classmethod
    def _types_sum(cls, value: Any) -> Any:
        return _normalise_shares(value, "types") if isinstance(value, dict) else value

    @field_validator("slices")
    @classmethod
    def _unique_names(cls, value: list[Slice]) -> list[Slice]:
        names = [s.name for s in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"slice names must be unique; repeated: {', '.join(duplicated)}")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> ComposeConfig:
        if (self.match is None) == (self.counts is None):
            raise ValueError("give exactly one target: `match: test` or `counts: {0: 0.1, 1: 0.45, ...}`")
        if self.mode == "weight":
            copying = [
                name
                for name, on in (
                    ("slices", bool(self.slices)),
                    ("replay", self.replay is not None),
                    ("size", self.size != "auto"),
                )
                if on
            ]
            if copying:
                raise ValueError(
                    f"mode: weight keeps every training row once and weighs it; "
                    f"{', '.join(f'`{n}`' for n in copying)} need(s) mode: copies (remove them, or "
                    f"set mode: copies)"
                )
        return self

    @property
    def base_dir(self) -> Path:
        """The directory relative paths (replay) are read from: the compose file's own."""
        return self._base_dir

    def sha256(self) -> str:
        """Hash of the validated config (so two spellings of the same config hash alike)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


_UNION_TAGS = {"int", "float", "str", "bool", "constrained-int", "constrained-float"}


def _field_path(loc: tuple[Any, ...]) -> str:
    """`slices.0.where` from Pydantic's loc, without the union-member tags it inserts
    (`literal['free','keep']`, `dict[...]`, `[key]`)."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))]
    return ".".join(parts) or "<file>"


def _validation_message(exc: ValidationError) -> str:
    """One line: the first field at fault and what it should be; a union's alternatives joined by 'or'."""
    errors = exc.errors()
    top = errors[0]["loc"][:1]
    same = [e for e in errors if e["loc"][:1] == top]
    field = _field_path(errors[0]["loc"])
    said: list[str] = []
    for e in same:
        path, msg = _field_path(e["loc"]), e["msg"].removeprefix("Value error, ")
        text = msg if path == field else f"`{path}`: {msg}"
        if text not in said:
            said.append(text)
    rest = len(errors) - len(same)
    more = f" (and {rest} more error(s) in other fields)" if rest else ""
    return f"field `{field}`: {'; or '.join(said)}{more}"


def parse_compose_config(data: Any, source: str = "compose config", base_dir: Path | None = None) -> ComposeConfig:
    """Validate a decoded compose document; a bad field is a one-line `UserError` naming it."""
    if not isinstance(data, dict):
        raise UserError(
            f"{source}: expected a mapping of compose settings (match/counts, types, size, "
            f"max_upsample, slices, replay), got {type(data).__name__}"
        )
    try:
        config = ComposeConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{source}: {_validation_message(exc)}") from exc
    config._base_dir = base_dir or Path(".")
    return config


def load_compose_config(path: str | Path) -> ComposeConfig:
    """Read a compose YAML file; unreadable, unparsable or invalid files are one-line user errors."""
    path = Path(path)
    return parse_compose_config(read_yaml(path, "compose"), str(path), base_dir=path.parent)


class ComposeResult(BaseModel):
    """The composed training split, the rows composed out, and what happened (for manifest and report)."""

    records: list[Record]
    composed_out: list[QuarantineRow]
    summary: Composition
    cells: dict[str, dict[str, int]] = Field(description="final target rows per type x count")
    replay: dict[str, Any] = Field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return self.summary.warnings

    @property
    def notes(self) -> list[str]:
        return self.summary.notes


# --- arithmetic ------------------------------------------------------------------------------------


def _round_to_total(values: dict[Any, float], total: int) -> dict[Any, int]:
    """Largest-remainder rounding of non-negative `values` to integers summing to `total`
    (ties broken by key order, so the result is deterministic)."""
    floors = {k: math.floor(v) for k, v in values.items()}
    left = total - sum(floors.values())
    order = sorted(values, key=lambda k: (-(values[k] - floors[k]), k))
    for k in order[: max(left, 0)]:
        floors[k] += 1
    return floors


def _distribution(cells: dict[tuple[str, int], int]) -> dict[int, int]:
    out = dict.fromkeys(COUNTS, 0)
    for (_t, c), n in cells.items():
        out[c] += n
    return out


def _mean(dist: dict[int, int]) -> float:
    total = sum(dist.values())
    return sum(c * n for c, n in dist.items()) / total if total else 0.0


def _shares(dist: dict[int, int]) -> dict[int, float]:
    total = sum(dist.values()) or 1
    return {c: n / total for c, n in dist.items()}


def _pct(shares: dict[Any, float]) -> str:
    return ", ".join(f"{k}: {v:.0%}" for k, v in shares.items())


def _by_type(cells: dict[tuple[str, int], int], types: Sequence[str]) -> dict[str, dict[int, int]]:
    table = {t: dict.fromkeys(COUNTS, 0) for t in types}
    for (t, c), n in cells.items():
        table.setdefault(t, dict.fromkeys(COUNTS, 0))[c] += n
    table["all"] = _distribution(cells)
    return table


def _fit(
    available: dict[tuple[str, int], int], count_target: dict[int, float], type_target: dict[str, float] | None
) -> dict[tuple[str, int], float]:
    """Cell shares (summing to 1) with the count marginal `count_target`: each count's share spread over
    the types in proportion to the rows they have, or, with `type_target`, by iterative proportional
    fitting (count marginal fitted last, so it holds whenever any row has that count)."""
    m = {k: float(v) for k, v in available.items()}

    def fit_counts() -> None:
        col: Counter[int] = Counter()
        for (_t, c), v in m.items():
            col[c] += v  # type: ignore[assignment]  # float weights: Counter allows them, typeshed says int
        for (t, c), v in m.items():
            m[(t, c)] = v * count_target.get(c, 0.0) / col[c] if col[c] else 0.0

    fit_counts()
    if type_target is not None:
        for _ in range(IPF_ITERATIONS):
            row: Counter[str] = Counter()
            for (t, _c), v in m.items():
                row[t] += v  # type: ignore[assignment]  # float weights, as above
            if all(abs(row[t] - type_target.get(t, 0.0)) < 1e-9 for t in row):
                break
            for (t, c), v in m.items():
                m[(t, c)] = v * type_target.get(t, 0.0) / row[t] if row[t] else 0.0
            fit_counts()
    total = sum(m.values()) or 1.0
    return {k: v / total for k, v in m.items()}


# --- the composition -------------------------------------------------------------------------------


def _copy(record: Record, new_id: str, **compose: Any) -> Record:
    sample = record.item
    provenance = Provenance.model_validate({**sample.provenance.model_dump(mode="json"), "compose": compose})
    return Record(
        path=record.path, line=record.line, item=sample.model_copy(update={"id": new_id, "provenance": provenance})
    )


def _multiply(
    rows: list[Record], n: int, rng: random.Random, suffix: str = "", **compose: Any
) -> tuple[list[Record], list[Record], int]:
    """(kept rows with their copies, rows left out, copies added): `n` rows drawn from `rows`."""
    order = sorted(rows, key=lambda r: (r.item.id, r.path, r.line))
    rng.shuffle(order)
    if n <= len(order):
        chosen, left = order[:n], order[n:]
        multiplicity = dict.fromkeys(range(len(chosen)), 1)
    else:
        chosen, left = order, []
        base, extra = divmod(n, len(order))
        multiplicity = {i: base + (1 if i < extra else 0) for i in range(len(order))}
    out, copies = [], 0
    for i, record in enumerate(chosen):
        first_id = record.item.id + suffix
        out.append(_copy(record, first_id, **compose) if suffix else record)
        for k in range(2, multiplicity[i] + 1):
            out.append(_copy(record, f"{first_id}{COPY_SUFFIX}{k}", copy_of=record.item.id, copy=k, **compose))
            copies += 1
    return out, left, copies


def _out_row(record: Record, reason: str) -> QuarantineRow:
    return QuarantineRow.of(
        record, reason, "compose", id=record.item.id, type=record.item.type, count=record.item.count
    )


def _count_target(
    config: ComposeConfig, tests: Sequence[TestCase] | None
) -> tuple[dict[int, float], Literal["test", "explicit"]]:
    if config.counts is not None:
        return {c: config.counts.get(c, 0.0) for c in COUNTS}, "explicit"
    if not tests:
        raise UserError(
            "compose: `match: test` needs the build's test cases (none were loaded from the raw "
            "directory); put the test set there or give explicit `counts:`"
        )
    dist = Counter(t.count for t in tests)
    return {c: dist.get(c, 0) / len(tests) for c in COUNTS}, "test"


def _apply_slices(
    config: ComposeConfig,
    cells: dict[tuple[str, int], int],
    available: dict[tuple[str, int], int],
    cap: dict[tuple[str, int], int],
    warnings: list[str],
    notes: list[str],
) -> list[dict[str, Any]]:
    done = []
    for slc in config.slices:
        keys = sorted(k for k in available if slc.where.matches(*k))
        total = sum(cells.values())
        have = sum(cells[k] for k in keys)
        entry = {
            "name": slc.name,
            "where": slc.where.model_dump(exclude_none=True),
            "share": slc.share,
            "before": round(have / total, 4) if total else 0.0,
            "added": 0,
        }
        if not keys:
            warnings.append(f"slice {slc.name}: matches no training rows; nothing to upsample")
        elif have / total >= slc.share:
            notes.append(
                f"slice {slc.name}: already {have / total:.1%} of the composed split (asked "
                f"{slc.share:.0%}); left as it is"
            )
        else:
            need = math.ceil((slc.share * total - have) / (1 - slc.share) - 1e-9)
            weights = {k: float(cells[k] or available[k]) for k in keys}
            added = 0
            while need - added > 0:
                room = {k: cap[k] - cells[k] for k in keys if cap[k] > cells[k]}
                if not room:
                    break
                weight = sum(weights[k] for k in room)
                share = _round_to_total({k: (need - added) * weights[k] / weight for k in room}, need - added)
                step = 0
                for k, n in share.items():
                    n = min(n, room[k])
                    cells[k] += n
                    step += n
                added += step
                if step == 0:
                    break
            entry["added"] = added
            reached = sum(cells[k] for k in keys) / sum(cells.values())
            if added < need:
                warnings.append(
                    f"slice {slc.name}: reached {reached:.1%} of the composed split, not the asked "
                    f"{slc.share:.0%}: its rows are already repeated max_upsample "
                    f"{config.max_upsample:g}x"
                )
        done.append(entry)
    return done


def _load_replay(
    config: ComposeConfig,
    seed: int,
    n_wanted: int,
    holdout: Sequence[Sample | TestCase],
    warnings: list[str],
    notes: list[str],
) -> tuple[list[Record], dict[str, Any]]:
    replay = config.replay
    assert replay is not None
    path = replay.path if replay.path.is_absolute() else config.base_dir / replay.path
    loaded = load_paths([path])
    info: dict[str, Any] = {
        "path": replay.path.as_posix(),
        "share": replay.share,
        "read": loaded.read,
        "quarantined_on_load": len(loaded.quarantined),
        "sha256": hashlib.sha256(b"".join(Path(f).read_bytes() for f in loaded.files)).hexdigest(),
    }
    rows = [r for r in loaded.records if isinstance(r.item, Sample)]
    if loaded.quarantined:
        warnings.append(
            f"replay {replay.path}: {len(loaded.quarantined)} row(s) did not load and are not used "
            f"(finsynth lint {replay.path} names them)"
        )
    if len(rows) < len(loaded.records):
        notes.append(f"replay {replay.path}: {len(loaded.records) - len(rows)} test case(s) ignored")
    if holdout and rows:
        index = NearDupIndex([h.input.paragraph for h in holdout], threshold=DEFAULT_THRESHOLD)
        clean = [r for r in rows if not index.query(r.item.input.paragraph)]
        if len(clean) < len(rows):
            warnings.append(
                f"replay {replay.path}: {len(rows) - len(clean)} row(s) dropped: their paragraphs "
                f"(near-)duplicate a validation or test paragraph (Jaccard >= {DEFAULT_THRESHOLD})"
            )
        info["leaking_dropped"] = len(rows) - len(clean)
        rows = clean
    if not rows:
        raise UserError(f"replay {replay.path}: no usable training samples in it")
    limit = math.floor(config.max_upsample * len(rows))
    n = min(n_wanted, limit)
    if n < n_wanted:
        warnings.append(
            f"replay {replay.path}: {n} row(s), not the {n_wanted} its share asks for: its "
            f"{len(rows)} usable row(s) are repeated max_upsample {config.max_upsample:g}x"
        )
    chosen, _left, copies = _multiply(
        rows, n, random.Random(f"{seed}:compose:replay"), suffix=REPLAY_SUFFIX, replay=replay.path.as_posix()
    )
    info.update({"usable": len(rows), "rows": len(chosen), "unique": len(chosen) - copies, "copies": copies})
    return chosen, info


def _reachable(target: dict[int, float], per_count: dict[int, int], warnings: list[str]) -> dict[int, float]:
    """The target over the counts the split can supply: those it cannot are warned of, the rest renormalised."""
    missing = [c for c in COUNTS if target[c] > 0 and per_count[c] == 0]
    reachable = {c: (0.0 if c in missing else target[c]) for c in COUNTS}
    if missing:
        if not sum(reachable.values()):
            raise UserError(
                f"compose: the training split has no rows with {', '.join(map(str, missing))} "
                f"metric(s), the only counts the target asks for"
            )
        warnings.append(
            f"target count(s) {', '.join(map(str, missing))} ({_pct({c: target[c] for c in missing})}) "
            f"cannot be reached: the training split has no row with that many metrics; the other "
            f"counts' shares are renormalised"
        )
        total = sum(reachable.values())
        reachable = {c: v / total for c, v in reachable.items()}
    return reachable


def _type_target(
    config: ComposeConfig, available: dict[tuple[str, int], int], types: list[str], warnings: list[str]
) -> dict[str, float] | None:
    """The type shares to hold (`types: keep` or explicit shares), None with `types: free`."""
    type_target: dict[str, float] | None = None
    if config.types == "keep":
        n_by_type: Counter[str] = Counter()
        for (t, _c), n in available.items():
            n_by_type[t] += n
        rows = sum(available.values())
        type_target = {t: n_by_type[t] / rows for t in types}
    elif isinstance(config.types, dict):
        absent = [t for t, s in config.types.items() if s > 0 and t not in types]
        if absent:
            warnings.append(f"types: {', '.join(absent)} asked for but absent from the training split")
        type_target = {t: config.types.get(cast(SampleType, t), 0.0) for t in types}
        if not sum(type_target.values()):
            raise UserError("compose: `types` gives no share to any type in the training split")
        total = sum(type_target.values())
        type_target = {t: v / total for t, v in type_target.items()}
    return type_target


def _size(
    config: ComposeConfig,
    available: dict[tuple[str, int], int],
    q: dict[tuple[str, int], float],
    reachable: dict[int, float],
    warnings: list[str],
    notes: list[str],
) -> int:
    """Rows of the composed split: `size`, or with `auto` the split's own size as far as max_upsample allows."""
    n_rows = sum(available.values())
    limit = min((config.max_upsample * available[k] / share for k, share in q.items() if share > 0), default=0.0)
    if config.size == "auto":
        size = min(n_rows, math.floor(limit + 1e-9))
        if size < n_rows:
            binding = min((k for k, s in q.items() if s > 0), key=lambda k: config.max_upsample * available[k] / q[k])
            message = (
                f"size: {size} rows, not the split's {n_rows}: at the target, cell "
                f"{binding[0]}x{binding[1]} ({available[binding]} rows) would need more than max_upsample "
                f"{config.max_upsample:g}x copies at the full size"
            )
            (warnings if size < n_rows / 2 else notes).append(message)
    else:
        size = config.size
    if size < 1:
        raise UserError(
            f"compose: no composed row fits: with max_upsample {config.max_upsample:g}x the target "
            f"{_pct(reachable)} allows {size} rows; raise max_upsample or change the target"
        )
    return size


def _fill_cells(
    groups: dict[tuple[str, int], list[Record]],
    cells: dict[tuple[str, int], int],
    seed: int,
    reachable: dict[int, float],
) -> tuple[list[Record], list[QuarantineRow], int]:
    """Each type x count cell filled to its row count (seeded per cell): the rows, those composed out, and the
    number of copies added."""
    composed: list[Record] = []
    composed_out: list[QuarantineRow] = []
    copies = 0
    for key, rows in sorted(groups.items()):
        n = cells[key]
        rng = random.Random(f"{seed}:compose:{key[0]}:{key[1]}")
        kept, left, added = _multiply(rows, n, rng)
        composed.extend(kept)
        copies += added
        reason = (
            f"composition: cell {key[0]}x{key[1]} downsampled {len(rows)} -> {n} rows "
            f"(target share of count {key[1]}: {reachable[key[1]]:.1%})"
        )
        composed_out.extend(_out_row(r, reason) for r in left)
    return composed, composed_out, copies


def _off_target(
    config: ComposeConfig, after: dict[int, int], reachable: dict[int, float], causes: list[str]
) -> str | None:
    """The warning when the composed split's count shares end up further than `tolerance` off the target."""
    reached_share = _shares(after)
    deviation = max(abs(reached_share[c] - reachable[c]) for c in COUNTS)
    if deviation <= config.tolerance:
        return None
    return (
        f"the composed training split is {deviation:.1%} off the target at worst (tolerance "
        f"{config.tolerance:.0%}): reached {_pct(reached_share)} against {_pct(reachable)}"
        + (f" ({', '.join(causes)})" if causes else "")
    )


def _slice_rows(
    config: ComposeConfig, slices: list[dict[str, Any]], after_cells: Counter[tuple[str, int]], warnings: list[str]
) -> list[CompositionSlice]:
    """Each slice with the share it reached in the composed file; a warning for one diluted below its share."""
    n_final = sum(after_cells.values())
    slice_rows = []
    for entry in slices:
        where = _slice_of(config, entry["name"]).where
        reached = round(sum(n for k, n in after_cells.items() if where.matches(*k)) / (n_final or 1), 4)
        slice_rows.append(CompositionSlice(**entry, reached=reached))
        warned = any(w.startswith(f"slice {entry['name']}:") for w in warnings)
        if not warned and reached < entry["share"] - config.tolerance:
            warnings.append(
                f"slice {entry['name']}: diluted to {reached:.1%} of the training file (asked "
                f"{entry['share']:.0%}) by later slices or replay; order the slices or lower their shares"
            )
    return slice_rows


def _cells(
    config: ComposeConfig,
    available: dict[tuple[str, int], int],
    q: dict[tuple[str, int], float],
    reachable: dict[int, float],
    type_target: dict[str, float] | None,
    warnings: list[str],
    notes: list[str],
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int], list[dict[str, Any]]]:
    """Rows per type x count cell at the composed size, capped at max_upsample copies, then the slices applied;
    with the cells max_upsample held short (and by how many rows) and the slices' accounts."""
    types = sorted({t for t, _c in available})
    cap = {k: math.floor(config.max_upsample * a + 1e-9) for k, a in available.items()}
    size = _size(config, available, q, reachable, warnings, notes)
    desired = _round_to_total({k: size * s for k, s in q.items()}, size)
    cells = {k: min(n, cap[k]) for k, n in desired.items()}
    capped = {k: desired[k] - cells[k] for k in cells if desired[k] > cells[k]}
    if capped and config.size != "auto":
        names = ", ".join(f"{t}x{c} {cells[(t, c)]}/{desired[(t, c)]}" for t, c in sorted(capped))
        warnings.append(
            f"max_upsample {config.max_upsample:g}x stops {len(capped)} cell(s) short of size {size} "
            f"({names}); reached {sum(cells.values())} rows, counts "
            f"{_pct(_shares(_distribution(cells)))} against the target {_pct(reachable)}"
        )

    if type_target is not None:
        row: Counter[str] = Counter()
        for (t, _c), n in cells.items():
            row[t] += n
        total = sum(row.values()) or 1
        off = {t: row[t] / total for t in types if abs(row[t] / total - type_target[t]) > config.tolerance}
        if off:
            warnings.append(
                "types: the count target takes precedence; type shares reached "
                + ", ".join(f"{t} {off[t]:.0%} (asked {type_target[t]:.0%})" for t in sorted(off))
            )

    slices = _apply_slices(config, cells, available, cap, warnings, notes)
    return cells, capped, slices


def _means(before: dict[int, int], after: dict[int, int], tests: Sequence[TestCase] | None) -> dict[str, Any]:
    """Mean metric count before and after, the test set's, and the ratios to it (the summary's fields)."""
    test_mean = sum(t.count for t in tests) / len(tests) if tests else None
    before_mean, after_mean = _mean(before), _mean(after)

    def ratio(mean: float) -> float | None:
        return round(mean / test_mean, 3) if test_mean else None

    return {
        "before_mean": round(before_mean, 3),
        "after_mean": round(after_mean, 3),
        "test_mean": round(test_mean, 3) if test_mean is not None else None,
        "before_ratio": ratio(before_mean),
        "after_ratio": ratio(after_mean),
    }


def compose(
    records: Sequence[Record],
    config: ComposeConfig,
    seed: int,
    *,
    tests: Sequence[TestCase] | None = None,
    holdout: Sequence[Sample | TestCase] = (),
) -> ComposeResult:
    """Compose the training split `records` towards `config`'s target (deterministic in `seed`).

    `tests` gives the count prior for `match: test` and the mean-count ratios; `holdout` (validation
    and test items) keeps replay rows that would leak into them out."""
    records = [r for r in records if isinstance(r.item, Sample)]
    if not records:
        raise UserError("compose: the training split is empty; nothing to compose")
    warnings: list[str] = []
    notes: list[str] = []
    target, target_source = _count_target(config, tests)
    groups: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        groups.setdefault((record.item.type, record.item.count), []).append(record)
    available = {k: len(v) for k, v in sorted(groups.items())}
    types = sorted({t for t, _c in available})
    per_count = _distribution(available)

    reachable = _reachable(target, per_count, warnings)
    type_target = _type_target(config, available, types, warnings)
    q = _fit(available, reachable, type_target)
    if config.mode == "weight":
        return _compose_by_weight(groups, q, target, target_source, reachable, config, tests, warnings, notes)

    cells, capped, slices = _cells(config, available, q, reachable, type_target, warnings, notes)

    composed, composed_out, copies = _fill_cells(groups, cells, seed, reachable)

    replay_info: dict[str, Any] = {}
    replay_rows: list[Record] = []
    if config.replay is not None:
        n_wanted = round(config.replay.share * len(composed) / (1 - config.replay.share))
        replay_rows, replay_info = _load_replay(config, seed, n_wanted, holdout, warnings, notes)
    final = sorted(composed + replay_rows, key=lambda r: (r.item.id, r.path, r.line))
    ids = Counter(r.item.id for r in final)
    clash = sorted(i for i, n in ids.items() if n > 1)
    if clash:
        raise UserError(
            f"compose: composed ids are not unique ({', '.join(clash[:3])}); an input id already "
            f"ends in {COPY_SUFFIX}K or {REPLAY_SUFFIX}: rename it"
        )
    kept_unique = len(composed) - copies
    if kept_unique + len(composed_out) != len(records):  # never hand back a composition that loses rows
        raise AssertionError(f"compose accounting: {kept_unique} kept + {len(composed_out)} out != {len(records)}")

    after_cells: Counter[tuple[str, int]] = Counter((r.item.type, r.item.count) for r in final)
    after = _by_type(dict(after_cells), types)
    causes = {
        "max_upsample": bool(capped) and config.size != "auto",
        "slices": any(s["added"] for s in slices),
        "replay": bool(replay_rows),
    }
    off_target = _off_target(config, after["all"], reachable, [cause for cause, on in causes.items() if on])
    if off_target:
        warnings.append(off_target)

    before = _by_type(available, types)
    moved = {t: (sum(before[t].values()) / len(records), sum(after[t].values()) / (len(final) or 1)) for t in types}
    moved = {t: v for t, v in moved.items() if abs(v[1] - v[0]) > TYPE_SHIFT_NOTE}
    if moved and config.types == "free":
        notes.append(
            "type shares moved (types: free follows the counts each type has): "
            + ", ".join(f"{t} {b:.0%} -> {a:.0%}" for t, (b, a) in sorted(moved.items()))
            + "; set `types: keep` or explicit shares to hold them"
        )
    slice_rows = _slice_rows(config, slices, after_cells, warnings)
    summary = Composition(
        target_source=target_source,
        target={c: round(target[c], 4) for c in COUNTS},
        reachable_target={c: round(reachable[c], 4) for c in COUNTS},
        before=before,
        after=after,
        **_means(before["all"], after["all"], tests),
        size_requested=config.size,
        max_upsample=config.max_upsample,
        rows_before=len(records),
        rows_after=len(final),
        kept=kept_unique,
        copies=copies,
        composed_out=len(composed_out),
        replay_rows=len(replay_rows),
        slices=slice_rows,
        warnings=warnings,
        notes=notes,
        config_sha256=config.sha256(),
    )
    composed_out.sort(key=lambda q_: (q_.path, q_.line))
    return ComposeResult(
        records=final,
        composed_out=composed_out,
        summary=summary,
        cells={t: {str(c): n for (tt, c), n in sorted(cells.items()) if tt == t} for t in types},
        replay=replay_info,
    )


def cell_weights(
    available: dict[tuple[str, int], int], q: dict[tuple[str, int], float], max_upsample: float
) -> dict[tuple[str, int], float]:
    """The loss weight of each type x count cell: its target share over its natural share (`q[k]` over
    `available[k] / rows`), which averages 1 over the rows; weights above `max_upsample` are clipped to it and
    the unclipped cells scaled up to keep the mean at 1 (water-filling, at most one round per cell). When every
    cell with a target share ends clipped, the mean stays below 1 (the cap wins, as it does for copies)."""
    rows = sum(available.values())
    weights = {k: q.get(k, 0.0) * rows / a for k, a in available.items()}
    clipped: set[tuple[str, int]] = set()
    while over := {k for k, w in weights.items() if w > max_upsample and k not in clipped}:
        clipped |= over
        for k in over:
            weights[k] = max_upsample
        free = rows - sum(available[k] * max_upsample for k in clipped)
        rest = sum(available[k] * w for k, w in weights.items() if k not in clipped)
        if rest <= 0:
            break
        for k in weights:
            if k not in clipped:
                weights[k] *= free / rest
    return weights


def _compose_by_weight(
    groups: dict[tuple[str, int], list[Record]],
    q: dict[tuple[str, int], float],
    target: dict[int, float],
    target_source: Literal["test", "explicit"],
    reachable: dict[int, float],
    config: ComposeConfig,
    tests: Sequence[TestCase] | None,
    warnings: list[str],
    notes: list[str],
) -> ComposeResult:
    """`mode: weight`: every training row kept once, none copied or dropped, each carrying its cell's loss weight
    in `provenance.compose.weight` (rounded to WEIGHT_DIGITS); `python -m train sft` multiplies the row's
    per-token loss by it. The summary's `after` counts are weight sums (effective rows), rounded to the split."""
    available = {k: len(v) for k, v in sorted(groups.items())}
    rows = sum(available.values())
    types = sorted({t for t, _c in available})
    weights = cell_weights(available, q, config.max_upsample)
    final = sorted(
        (_copy(r, r.item.id, weight=round(weights[key], WEIGHT_DIGITS)) for key, cell in groups.items() for r in cell),
        key=lambda r: (r.item.id, r.path, r.line),
    )
    effective = {k: available[k] * weights[k] for k in available}
    mass = sum(effective.values())
    clipped = sorted(k for k, w in weights.items() if w >= config.max_upsample - 1e-9)
    if mass < rows - 1e-6:
        warnings.append(
            f"weights average {mass / rows:.3f}, not 1: every cell the target asks for is clipped at "
            f"max_upsample {config.max_upsample:g}x; raise max_upsample or change the target"
        )
    reached = {c: sum(v for (_t, cc), v in effective.items() if cc == c) / (mass or 1.0) for c in COUNTS}
    deviation = max(abs(reached[c] - reachable[c]) for c in COUNTS)
    if deviation > config.tolerance:
        warnings.append(
            f"the weighted training split is {deviation:.1%} off the target at worst (tolerance "
            f"{config.tolerance:.0%}): reached {_pct(reached)} against {_pct(reachable)}"
            + (" (max_upsample)" if clipped else "")
        )
    notes.append(
        f"mode: weight: all {rows} training rows kept once (none copied or dropped), each weighted by its "
        f"type x count cell (target share / natural share, mean {mass / rows:.3f}, at most max_upsample "
        f"{config.max_upsample:g}); the counts after are weight sums. Cell weights: "
        + ", ".join(f"{t}x{c} {w:.3f}" for (t, c), w in sorted(weights.items()))
    )
    zero = sum(available[k] for k, w in weights.items() if w == 0)
    if zero:
        notes.append(
            f"{zero} row(s) weigh 0 (their count has no share in the target): they stay in train.jsonl "
            f"and add nothing to the loss"
        )
    effective_rows = _round_to_total(effective, rows) if mass else dict.fromkeys(effective, 0)
    before, after = _by_type(available, types), _by_type(effective_rows, types)
    moved = {
        t: (
            sum(n for (tt, _c), n in available.items() if tt == t) / rows,
            sum(v for (tt, _c), v in effective.items() if tt == t) / (mass or 1.0),
        )
        for t in types
    }
    moved = {t: v for t, v in moved.items() if abs(v[1] - v[0]) > TYPE_SHIFT_NOTE}
    if moved and config.types == "free":
        notes.append(
            "type shares moved (types: free follows the counts each type has): "
            + ", ".join(f"{t} {b:.0%} -> {a:.0%}" for t, (b, a) in sorted(moved.items()))
            + "; set `types: keep` or explicit shares to hold them"
        )
    test_mean = sum(t.count for t in tests) / len(tests) if tests else None
    before_mean = _mean(before["all"])
    after_mean = sum(c * v for (_t, c), v in effective.items()) / (mass or 1.0)

    def ratio(mean: float) -> float | None:
        return round(mean / test_mean, 3) if test_mean else None

    summary = Composition(
        target_source=target_source,
        target={c: round(target[c], 4) for c in COUNTS},
        reachable_target={c: round(reachable[c], 4) for c in COUNTS},
        before=before,
        after=after,
        before_mean=round(before_mean, 3),
        after_mean=round(after_mean, 3),
        test_mean=round(test_mean, 3) if test_mean is not None else None,
        before_ratio=ratio(before_mean),
        after_ratio=ratio(after_mean),
        size_requested=config.size,
        max_upsample=config.max_upsample,
        rows_before=rows,
        rows_after=len(final),
        kept=len(final),
        copies=0,
        composed_out=0,
        replay_rows=0,
        warnings=warnings,
        notes=notes,
        config_sha256=config.sha256(),
    )
    return ComposeResult(
        records=final,
        composed_out=[],
        summary=summary,
        cells={t: {str(c): n for (tt, c), n in sorted(effective_rows.items()) if tt == t} for t in types},
    )


def _slice_of(config: ComposeConfig, name: str) -> Slice:
    return next(s for s in config.slices if s.name == name)
