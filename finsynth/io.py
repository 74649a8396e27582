"""Reading and writing at the edges: JSONL/JSON in, quarantine for bad rows, atomic writes out.

Nothing read is lost: every non-blank input row becomes either a `Record` or a `QuarantineRow`, and
`LoadResult.reconciles()` checks read == accepted + quarantined.

Files are read as people have them: a UTF-8 byte-order mark is dropped (the first row is kept), CRLF
line endings are fine, and a JSON array saved as `.jsonl` is read as its elements, with a warning in
`LoadResult.warnings`. A file that holds JSON rows but not one sample-shaped row (a predictions dump, a
TAT-QA file found under a directory of samples) is not read as 50 broken samples: `load_paths` skips it
whole, names it in `LoadResult.skipped` and in a warning, and its rows are not counted as read.

`UserError` (from `finsynth.errors`, the one error taxonomy) is what the library raises for something the
user can fix (a path, a file, a setting, a missing package); the CLIs print its message on one line and exit
2. `InputError` is the `UserError` for an unusable input.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from finsynth.errors import InputError as InputError  # re-exported: the taxonomy lives in finsynth.errors
from finsynth.errors import InvalidInputError
from finsynth.errors import UserError as UserError
from finsynth.schema import Sample, TestCase

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

    @classmethod
    def of(
        cls, record: Record, reason: str, stage: str, *, field: str | None = None, raw: str | None = None, **extra: Any
    ) -> QuarantineRow:
        """A valid row that a stage after loading takes out (the one helper of build, relabel, review and
        compose): where it was read, and the row itself as JSON unless `raw` (a model's reply) says more."""
        return cls(
            path=record.path,
            line=record.line,
            field=field,
            reason=reason,
            stage=stage,
            raw=json.dumps(record.item.model_dump(mode="json"), ensure_ascii=False) if raw is None else raw,
            extra=extra,
        )


class SkippedFile(BaseModel):
    """A file that holds no sample rows at all, skipped whole: where, how many rows it has, and why."""

    path: str
    rows: int
    reason: str

    @property
    def warning(self) -> str:
        """The loader's one-line remark about the skip (in `LoadResult.warnings`)."""
        return f"{self.path}: skipped, not sample rows: {self.reason}"


class LoadResult(BaseModel):
    """Outcome of reading one or more files."""

    records: list[Record] = Field(default_factory=list)
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    read: int = 0
    files: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # whole-file remarks (a JSON array in a .jsonl file)
    skipped: list[SkippedFile] = Field(default_factory=list)  # files that are not sample rows (see `load_paths`)

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
        self.warnings.extend(other.warnings)
        self.skipped.extend(other.skipped)

    def require_rows(self, where: str, what: str = "sample", hint: str = "", setting: str | None = None) -> None:
        """An `InputError` when nothing was read from `where` (no files, only empty files, or only files
        that are not sample rows): a command must not report on, lint, or check against nothing. `setting`:
        the setting `where` begins with (`UserError.setting`)."""
        if self.read:
            return
        if self.skipped:
            names = "; ".join(s.reason if s.path == where else f"{s.path} ({s.reason})" for s in self.skipped[:3])
            more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            problem = f"no {what} rows; skipped {len(self.skipped)} file(s) that hold none: {names}{more}"
        elif self.files:
            problem = f"no {what} rows ({len(self.files)} file(s), all empty)"
        else:
            problem = "no .jsonl/.json files"
        raise InputError(f"{where}: {problem}" + (f"; {hint}" if hint else ""), setting=setting)


SPLITS = ("train", "val", "test")  # the splits a build writes, in this order
BUILT_SPLITS = tuple(f"{split}.jsonl" for split in SPLITS)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The `manifest.json` of a `finsynth build` output directory, or None when the directory has
    none, or one that is not a finsynth build's."""
    manifest = Path(directory) / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("tool") == "finsynth" else None


def built_splits(directory: str | os.PathLike[str]) -> list[Path] | None:
    """The split files of a `finsynth build` output directory (one with the build's manifest.json),
    or None for any other directory. Its manifest, reports and quarantine are not samples."""
    directory = Path(directory)
    if read_manifest(directory) is None:
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
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in INPUT_SUFFIXES and p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return out


def type_from_filename(path: Path) -> str | None:
    """`type_a.jsonl` -> "A"; None when the name carries no type."""
    match = _TYPE_FROM_NAME.search(path.stem)
    return match.group(1).upper() if match else None


_BOM = b"\xef\xbb\xbf"


def raw_rows(path: Path, warnings: list[str] | None = None) -> Iterator[tuple[int, str | None, str]]:
    """Yield (line number, decoded text or None on bad UTF-8, raw text) for each non-blank row.

    A JSON array yields its elements numbered from 1 (in a `.jsonl` file too, noted in `warnings`)."""
    data = path.read_bytes()
    data = data.removeprefix(_BOM)  # Windows editors' UTF-8 signature: not part of the first row
    if data.lstrip().startswith(b"["):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None and path.suffix == ".json":
            yield 0, None, data.decode("utf-8", errors="replace")
            return
        try:
            rows = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            rows = None
        if isinstance(rows, list):
            if path.suffix != ".json" and warnings is not None:
                warnings.append(
                    f"{path}: holds a JSON array, not one object per line; read its {len(rows)} "
                    f"element(s) as rows numbered from 1 (rename it .json to silence this)"
                )
            for index, row in enumerate(rows, start=1):
                dumped = json.dumps(row, ensure_ascii=False)
                yield index, dumped, dumped
            return
        if path.suffix == ".json":
            yield 0, text, text or ""  # fails again, with the parser's message, in load_file
            return
        # a .jsonl file that is not one valid array: read line by line, so bad lines are named
    # a .json file holding one object per line is read as JSONL
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8").rstrip("\r"), raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            yield number, None, raw.decode("utf-8", errors="replace") + f"\x00{exc}"


def json_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank row of a JSONL file (BOM, CRLF and a JSON array as in
    `raw_rows`); a row that is not UTF-8 or not JSON is an `InputError` naming the file and line."""
    path = Path(path)
    for number, text, raw in raw_rows(path):
        if text is None:
            raise InputError(f"{path}:{number}: not UTF-8 ({raw.rpartition(chr(0))[2] or 'undecodable bytes'})")
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON: {exc.msg} (column {exc.colno})") from exc


def field_path(loc: Iterable[Any], root: str = "<root>") -> str:
    """A pydantic error location as a dotted field path (`output.metrics.0.score`), `root` when empty."""
    return ".".join(str(part) for part in loc) or root


def schema_errors(error: ValidationError, root: str = "<root>") -> str:
    """Every error of a pydantic validation on one line, `; `-separated, each naming its field path."""
    return "; ".join(f"{field_path(e['loc'], root)}: {e['msg']}" for e in error.errors())


def parse_row(row: Any, path: Path, line: int, kind: Kind = "auto") -> Sample | TestCase:
    """Validate one decoded JSON row as a Sample or TestCase; raises ValidationError/ValueError."""
    if not isinstance(row, dict):
        raise ValueError(f"row is {type(row).__name__}, expected an object")  # noqa: TRY004 (quarantined like any bad row)
    if isinstance(row.get("sample"), dict) and ("prompt" in row or "messages" in row):
        row = row["sample"]  # a built row (prompts.chat_row): the structured sample rides inside it
    row = dict(row)
    is_test = kind == "test" or (
        kind == "auto" and (row.get("type") == "test" or ("scenario" in row and row.get("type") not in tuple("ABCD")))
    )
    provenance = dict(row.pop("provenance", None) or {})
    provenance.setdefault("source", str(path))
    provenance.setdefault("line", line)
    row["provenance"] = provenance  # validated with the row, so an error names `provenance.<field>`
    if is_test:
        row.setdefault("type", "test")
        return TestCase.model_validate(row)
    if "type" not in row:
        inferred = type_from_filename(path)
        if inferred:
            row["type"] = inferred
    return Sample.model_validate(row)


# a row carrying any of these is a sample or test case, however broken (a built row carries `sample`)
_SAMPLE_KEYS = frozenset({"input", "output", "sample"})


def foreign_rows_reason(rows: list[tuple[int, str | None, str]]) -> str | None:
    """Why a file's rows are not sample rows at all, or None when they may be: every row is JSON and
    none is an object with a sample's fields. A file with undecodable rows is a broken sample file, not
    a foreign one: its rows are quarantined one by one."""
    decoded = []
    for _line, text, _raw in rows:
        if text is None:
            return None
        try:
            decoded.append(json.loads(text))
        except json.JSONDecodeError:
            return None
    if not decoded or any(isinstance(row, dict) and _SAMPLE_KEYS & row.keys() for row in decoded):
        return None
    first = decoded[0]
    if isinstance(first, dict) and {"table", "questions"} <= first.keys():
        shape = "a TAT-QA file (table, paragraphs, questions); for QA use `finsynth qa import-tatqa`"
    elif isinstance(first, dict) and ({"pred_raw", "prediction", "pred"} & first.keys()):
        shape = "model predictions; score them with `finsynth eval --pred`"
    elif isinstance(first, dict):
        keys = list(first)
        shape = "first row's fields: " + (", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "") or "none")
    else:
        shape = f"rows are JSON {type(first).__name__}s, not objects"
    return f"{len(decoded)} row(s), none with a sample's input/output; {shape}"


def load_file(path: str | os.PathLike[str], kind: Kind = "auto", skip_foreign: bool = False) -> LoadResult:
    """Read one JSONL/JSON file; bad rows go to quarantine with path, line, field and reason.

    `skip_foreign`: a file whose rows are not sample rows at all (`foreign_rows_reason`) is skipped whole,
    named in `skipped` and `warnings`, and none of its rows counts as read."""
    path = Path(path)
    result = LoadResult(files=[str(path)])
    try:
        rows = list(raw_rows(path, result.warnings))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, not a JSONL/JSON file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    reason = foreign_rows_reason(rows) if skip_foreign else None
    if reason is not None:
        skipped = SkippedFile(path=str(path), rows=len(rows), reason=reason)
        return LoadResult(skipped=[skipped], warnings=[skipped.warning])
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
            result.quarantined.append(
                QuarantineRow(
                    path=str(path),
                    line=line,
                    field=field_path(exc.errors()[0]["loc"], "<row>"),
                    reason=schema_errors(exc, "<row>"),
                    raw=raw,
                )
            )
            continue
        except ValueError as exc:
            result.quarantined.append(QuarantineRow(path=str(path), line=line, field="<row>", reason=str(exc), raw=raw))
            continue
        result.records.append(Record(path=str(path), line=line, item=item))
    return result


def load_paths(paths: Iterable[str | os.PathLike[str]], kind: Kind = "auto") -> LoadResult:
    """Read every file under `paths` (files or directories) into one LoadResult; files that hold no
    sample rows at all are skipped and named (`LoadResult.skipped`), not quarantined row by row."""
    result = LoadResult()
    for path in expand_paths(paths):
        result.extend(load_file(path, kind, skip_foreign=True))
    return result


def require_file(path: str | os.PathLike[str], flag: str = "", hint: str = "") -> Path:
    """`path` must be a file: a missing path, or a directory where a file is wanted, is one `InputError`
    naming the flag and the path (`hint`: what to give instead)."""
    path = Path(path)
    where = f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        problem = "is a directory, not a file"
    elif not path.is_file():
        problem = "no such file"
    else:
        return path
    setting = flag if flag and not flag.startswith("-") else None  # a library setting name, which a CLI words
    raise InputError(f"{where}: {problem}" + (f"; {hint}" if hint else ""), setting=setting)


def read_yaml(path: str | os.PathLike[str], what: str, error: type[UserError] = UserError, hint: str = "") -> Any:
    """A user's YAML file (a BOM is ignored), decoded; a missing, unreadable or unparsable file is one
    `error` line naming the file (`what` says which kind: "compose", "lexicon"; `hint` follows a
    missing file's message)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise error(f"{path}: no such {what} file{hint}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the {what} file: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: not valid YAML{where}: {problem}") from exc


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Plain JSONL reader for files this tool wrote itself (built splits, caches); a BOM is ignored. A line
    that is not JSON (a truncated or hand-edited file) is an `InvalidInputError` naming the file and line."""
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(
                        f"{path}: line {number}: not JSON ({exc.msg}); was the file cut short or edited? rebuild it"
                    ) from exc
    return rows


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
    if path.is_dir():  # else the rename fails naming the temp file, which the user never gave
        raise InputError(f"{path}: is a directory; give a file path to write to")
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
