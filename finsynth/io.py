"""Reading and writing at the edges: JSONL/JSON in, quarantine for bad rows, atomic writes out.

Nothing read is lost: every non-blank input row becomes either a `Record` or a `QuarantineRow`, and
`LoadResult.reconciles()` checks read == accepted + quarantined.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from .schema import Provenance, Sample, TestCase

Kind = Literal["sample", "test", "auto"]
_TYPE_FROM_NAME = re.compile(r"type[_\-]?([abcd])(?![a-z])", re.IGNORECASE)
INPUT_SUFFIXES = (".jsonl", ".json")


class Record(BaseModel):
    """An accepted row with where it came from."""

    path: str
    line: int
    item: Sample | TestCase


class QuarantineRow(BaseModel):
    """A rejected row: where, which field, why, and the raw text so nothing is lost."""

    path: str
    line: int
    field: str | None = None
    reason: str
    raw: str = ""
    stage: str = "load"
    extra: dict[str, Any] = Field(default_factory=dict)


class LoadResult(BaseModel):
    """Outcome of reading one or more files."""

    records: list[Record] = Field(default_factory=list)
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    read: int = 0
    files: list[str] = Field(default_factory=list)

    @property
    def samples(self) -> list[Sample]:
        return [r.item for r in self.records if isinstance(r.item, Sample)]

    @property
    def test_cases(self) -> list[TestCase]:
        return [r.item for r in self.records if isinstance(r.item, TestCase)]

    def reconciles(self) -> bool:
        return self.read == len(self.records) + len(self.quarantined)

    def extend(self, other: LoadResult) -> None:
        self.records.extend(other.records)
        self.quarantined.extend(other.quarantined)
        self.read += other.read
        self.files.extend(other.files)


class InputError(Exception):
    """A whole input is unusable (missing path, unreadable file); rows never raise this."""


BUILT_SPLITS = ("train.jsonl", "val.jsonl", "test.jsonl")


def built_splits(directory: str | os.PathLike[str]) -> list[Path] | None:
    """The split files of a `finsynth build` output directory (one with the build's manifest.json),
    or None for any other directory. Its manifest, reports and quarantine are not samples."""
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("tool") != "finsynth":
        return None
    return [directory / name for name in BUILT_SPLITS if (directory / name).is_file()]


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, plus every *.jsonl/*.json under named directories, in sorted order; a
    build output directory gives its train, val and test splits."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        splits = built_splits(path) if path.is_dir() else None
        if splits is not None:
            out.extend(splits)
        elif path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.suffix in INPUT_SUFFIXES and p.is_file())
            )
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return out


def type_from_filename(path: Path) -> str | None:
    """`type_a.jsonl` -> "A"; None when the name carries no type."""
    match = _TYPE_FROM_NAME.search(path.stem)
    return match.group(1).upper() if match else None


def _raw_rows(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """Yield (line number, decoded text or None on bad UTF-8, raw text) for each non-blank row."""
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield 0, None, data.decode("utf-8", errors="replace")
            return
        stripped = text.lstrip()
        if stripped.startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError:
                yield 0, text, text  # fails again, with the parser's message, in _parse_row
                return
            for index, row in enumerate(rows, start=1):
                dumped = json.dumps(row, ensure_ascii=False)
                yield index, dumped, dumped
            return
        # a .json file holding one object per line is read as JSONL
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8").rstrip("\r"), raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            yield number, None, raw.decode("utf-8", errors="replace") + f"\x00{exc}"


def _field_of(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    reasons = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<row>'}: {e['msg']}" for e in error.errors()
    )
    return field or "<row>", reasons


def parse_row(row: Any, path: Path, line: int, kind: Kind = "auto") -> Sample | TestCase:
    """Validate one decoded JSON row as a Sample or TestCase; raises ValidationError/ValueError."""
    if not isinstance(row, dict):
        raise ValueError(f"row is {type(row).__name__}, expected an object")  # noqa: TRY004 (quarantined like any bad row)
    if isinstance(row.get("sample"), dict) and ("prompt" in row or "messages" in row):
        row = row["sample"]  # a built row (prompts.chat_row): the structured sample rides inside it
    row = dict(row)
    is_test = kind == "test" or (
        kind == "auto"
        and (row.get("type") == "test" or ("scenario" in row and row.get("type") not in tuple("ABCD")))
    )
    provenance = dict(row.pop("provenance", None) or {})
    provenance.setdefault("source", str(path))
    provenance.setdefault("line", line)
    row["provenance"] = Provenance(**provenance)
    if is_test:
        row.setdefault("type", "test")
        return TestCase.model_validate(row)
    if "type" not in row:
        inferred = type_from_filename(path)
        if inferred:
            row["type"] = inferred
    return Sample.model_validate(row)


def load_file(path: str | os.PathLike[str], kind: Kind = "auto") -> LoadResult:
    """Read one JSONL/JSON file; bad rows go to quarantine with path, line, field and reason."""
    path = Path(path)
    result = LoadResult(files=[str(path)])
    try:
        rows = list(_raw_rows(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    for line, text, raw in rows:
        result.read += 1
        if text is None:
            raw_text, _, why = raw.partition("\x00")
            result.quarantined.append(
                QuarantineRow(path=str(path), line=line, field="<row>", reason=f"bad UTF-8: {why}", raw=raw_text)
            )
            continue
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError as exc:
            result.quarantined.append(
                QuarantineRow(path=str(path), line=line, field="<row>", reason=f"bad JSON: {exc}", raw=raw)
            )
            continue
        try:
            item = parse_row(decoded, path, line, kind)
        except ValidationError as exc:
            field, reasons = _field_of(exc)
            result.quarantined.append(
                QuarantineRow(path=str(path), line=line, field=field, reason=reasons, raw=raw)
            )
            continue
        except ValueError as exc:
            result.quarantined.append(
                QuarantineRow(path=str(path), line=line, field="<row>", reason=str(exc), raw=raw)
            )
            continue
        result.records.append(Record(path=str(path), line=line, item=item))
    return result


def load_paths(paths: Iterable[str | os.PathLike[str]], kind: Kind = "auto") -> LoadResult:
    """Read every file under `paths` (files or directories) into one LoadResult."""
    result = LoadResult()
    for path in expand_paths(paths):
        result.extend(load_file(path, kind))
    return result


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Plain JSONL reader for files this tool wrote itself (built splits, caches)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def dumps_row(row: Any) -> str:
    """One canonical JSON line: keys in insertion order, Chinese unescaped."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write via a temp file in the same directory and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 less the umask)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_jsonl_atomic(path: str | os.PathLike[str], rows: Iterable[Any]) -> Path:
    """Write rows (dicts or Pydantic models) as JSONL atomically."""
    lines = []
    for row in rows:
        if isinstance(row, BaseModel):
            row = row.model_dump(mode="json")
        lines.append(dumps_row(row))
    return write_text_atomic(path, "".join(line + "\n" for line in lines))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write one JSON document (pretty, sorted as given) atomically."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
