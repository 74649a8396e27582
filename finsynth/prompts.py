"""Prompt templates: one sandboxed Jinja environment, hashed templates, the shared chat format.

Training, inference, the build and the LLM engine all render prompts here, so the system prompt the
model is trained on is the one it is asked with.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from functools import cached_property, lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from finsynth.schema import Extraction, ParagraphInput, Sample, TestCase

SYSTEM_TEMPLATE = "system.j2"
USER_TEMPLATE = "user.j2"


@lru_cache(maxsize=1)
def default_template_dir() -> Path:
    """Templates shipped in the wheel (`finsynth/_templates`) or, in a checkout, `templates/`."""
    packaged = Path(__file__).parent / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def resolve_template_dir(template_dir: str | os.PathLike[str] | None = None) -> Path:
    """The template directory to use: `template_dir` if given (it must exist), else the shipped one."""
    if not template_dir:
        return default_template_dir()
    path = Path(template_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"template directory {path} does not exist")
    return path


@lru_cache(maxsize=16)
def _environment(template_dir: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(template_dir)),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
        auto_reload=False,  # templates do not change within a run; skip a stat() per render
    )


class Templates:
    """One template directory: `render`, `hash` and `combined_hash` on it. Make one from the user's
    setting (`--templates DIR`, `BuildConfig.template_dir`) and hand it down; `DEFAULT_TEMPLATES` is the
    shipped set. The directory is checked on first use, not when the object is made."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._given = directory

    @cached_property
    def directory(self) -> Path:
        return resolve_template_dir(self._given)

    @property
    def environment(self) -> SandboxedEnvironment:
        """The sandboxed, StrictUndefined Jinja environment of the directory."""
        return _environment(self.directory)

    def render(self, name: str, **context: object) -> str:
        """Render template `name`; a missing variable raises instead of rendering blank."""
        return self.environment.get_template(name).render(**context)

    def hash(self, name: str) -> str:
        """sha256 of a template's source: part of cache keys and manifests."""
        return hashlib.sha256((self.directory / name).read_bytes()).hexdigest()

    def combined_hash(self, names: Iterable[str]) -> str:
        """One hash over several templates (system + task + re-ask): the cache key's template part."""
        digest = hashlib.sha256()
        for name in names:
            digest.update(f"{name}:{self.hash(name)}\n".encode())
        return digest.hexdigest()

    def hashes(self) -> dict[str, str]:
        """Hashes of every template in the directory, by file name, sorted."""
        root = self.directory
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.j2"))
        }

    def __repr__(self) -> str:
        return f"Templates({self._given!r})"


DEFAULT_TEMPLATES = Templates()


def system_prompt(templates: Templates = DEFAULT_TEMPLATES) -> str:
    """The system prompt used for training, inference and LLM annotation alike."""
    return templates.render(SYSTEM_TEMPLATE)


def user_prompt(inp: ParagraphInput, templates: Templates = DEFAULT_TEMPLATES) -> str:
    """The user turn: 【章节标题】... 【段落内容】..."""
    return templates.render(USER_TEMPLATE, chapter_title=inp.chapter_title, paragraph=inp.paragraph)


def prompt_messages(inp: ParagraphInput, templates: Templates = DEFAULT_TEMPLATES) -> list[dict[str, str]]:
    """System + user messages for one paragraph."""
    return [
        {"role": "system", "content": system_prompt(templates)},
        {"role": "user", "content": user_prompt(inp, templates)},
    ]


def completion_messages(output: Extraction) -> list[dict[str, str]]:
    """The assistant turn: the extraction as canonical JSON (analysis first)."""
    return [{"role": "assistant", "content": output.to_json()}]


def chat_row(item: Sample | TestCase, templates: Templates = DEFAULT_TEMPLATES) -> dict:
    """One built row: conversational prompt/completion (loss on the reply only) plus the sample.

    `prompt` holds system + user, `completion` the assistant JSON; `sample` is the structured row.
    """
    row: dict = {"id": item.id, "type": item.type}
    if isinstance(item, TestCase):
        row["scenario"] = item.scenario.value
    row["prompt"] = prompt_messages(item.input, templates)
    row["completion"] = completion_messages(item.output)
    row["sample"] = item.model_dump(mode="json")
    return row
