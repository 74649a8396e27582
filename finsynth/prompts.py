"""Prompt templates: one sandboxed Jinja environment, hashed templates, the shared chat format.

Training, inference, the build and the LLM engine all render prompts here, so the system prompt the
model is trained on is the one it is asked with.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
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


def environment(template_dir: str | os.PathLike[str] | None = None) -> SandboxedEnvironment:
    """The sandboxed, StrictUndefined Jinja environment for a template directory."""
    return _environment(resolve_template_dir(template_dir))


def render(name: str, template_dir: str | os.PathLike[str] | None = None, **context: object) -> str:
    """Render template `name`; a missing variable raises instead of rendering blank."""
    return environment(template_dir).get_template(name).render(**context)


def template_hash(name: str, template_dir: str | os.PathLike[str] | None = None) -> str:
    """sha256 of a template's source: part of cache keys and manifests."""
    source = (resolve_template_dir(template_dir) / name).read_bytes()
    return hashlib.sha256(source).hexdigest()


def template_hashes(template_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Hashes of every template in the directory, by file name, sorted."""
    root = resolve_template_dir(template_dir)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.j2"))
    }


def system_prompt(template_dir: str | os.PathLike[str] | None = None) -> str:
    """The system prompt used for training, inference and LLM annotation alike."""
    return render(SYSTEM_TEMPLATE, template_dir)


def user_prompt(inp: ParagraphInput, template_dir: str | os.PathLike[str] | None = None) -> str:
    """The user turn: 【章节标题】... 【段落内容】..."""
    return render(USER_TEMPLATE, template_dir, chapter_title=inp.chapter_title, paragraph=inp.paragraph)


def prompt_messages(
    inp: ParagraphInput, template_dir: str | os.PathLike[str] | None = None
) -> list[dict[str, str]]:
    """System + user messages for one paragraph."""
    return [
        {"role": "system", "content": system_prompt(template_dir)},
        {"role": "user", "content": user_prompt(inp, template_dir)},
    ]


def completion_messages(output: Extraction) -> list[dict[str, str]]:
    """The assistant turn: the extraction as canonical JSON (analysis first)."""
    return [{"role": "assistant", "content": output.to_json()}]


def chat_row(item: Sample | TestCase, template_dir: str | os.PathLike[str] | None = None) -> dict:
    """One built row: conversational prompt/completion (loss on the reply only) plus the sample.

    `prompt` holds system + user, `completion` the assistant JSON; `sample` is the structured row.
    """
    row: dict = {"id": item.id, "type": item.type}
    if isinstance(item, TestCase):
        row["scenario"] = item.scenario.value
    row["prompt"] = prompt_messages(item.input, template_dir)
    row["completion"] = completion_messages(item.output)
    row["sample"] = item.model_dump(mode="json")
    return row
