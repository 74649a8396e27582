"""Endpoint configuration for the LLM engine: environment first, then TOML files, then defaults.

Sources, highest precedence first:

1. environment: ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``FINSYNTH_MODEL`` (plus ``FINSYNTH_TIMEOUT``,
   ``FINSYNTH_CONCURRENCY``);
2. ``finsynth.toml`` in the working directory (top-level keys, or a ``[tool.finsynth]`` table);
3. ``[tool.finsynth]`` in ``pyproject.toml`` in the working directory;
4. the defaults below.

The API key is never read from a file (a file may be committed): only from ``OPENAI_API_KEY`` or from
the environment variable that ``api_key_env`` names. It is held as a ``SecretStr`` and left out of
`EndpointConfig.public()`, which is what caches, manifests, reports and logs record.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from finsynth.errors import ConfigError, InvalidInputError

DEFAULT_MODEL = "gpt-4o-mini"


class Price(BaseModel):
    """Price of one model in currency units per million tokens."""

    input: float = 0.0
    output: float = 0.0


class EndpointConfig(BaseModel):
    """Everything needed to talk to one OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)
    model: str = DEFAULT_MODEL
    timeout: float = 60.0
    concurrency: int = 8
    max_retries: int = 6
    max_reasks: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    temperature: float = 0.2
    top_p: float | None = None
    max_tokens: int | None = 2048
    seed: int | None = None
    currency: str = "USD"
    prices: dict[str, Price] = Field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """True when an endpoint is set up: a base URL or an API key is present."""
        return bool(self.base_url) or self.api_key is not None

    def sampling_params(self) -> dict[str, Any]:
        """The sampling parameters sent with every request (and hashed into cache keys)."""
        params: dict[str, Any] = {"temperature": self.temperature}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        if self.seed is not None:
            params["seed"] = self.seed
        return params

    def public(self) -> dict[str, Any]:
        """A JSON-safe description without the API key: what manifests and reports record."""
        data = self.model_dump(mode="json", exclude={"api_key", "prices"})
        data["api_key_set"] = self.api_key is not None
        data["prices"] = {name: price.model_dump() for name, price in self.prices.items()}
        return data

    def secret(self) -> str | None:
        """The API key in clear, for the HTTP client only."""
        return self.api_key.get_secret_value() if self.api_key is not None else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path}: invalid TOML: {exc}") from exc


def file_settings(directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Merged `[tool.finsynth]` settings from pyproject.toml, overridden by finsynth.toml."""
    root = Path(directory) if directory is not None else Path.cwd()
    merged: dict[str, Any] = {}
    pyproject = _read_toml(root / "pyproject.toml")
    merged.update(pyproject.get("tool", {}).get("finsynth", {}) or {})
    own = _read_toml(root / "finsynth.toml")
    table = own.get("tool", {}).get("finsynth") if isinstance(own.get("tool"), dict) else None
    merged.update(table if table is not None else own)
    if "api_key" in merged:
        raise ConfigError(
            "api_key must not be stored in a TOML file; set OPENAI_API_KEY or name a variable with api_key_env"
        )
    return merged


_ENV_FIELDS = {
    "OPENAI_BASE_URL": "base_url",
    "FINSYNTH_MODEL": "model",
    "FINSYNTH_TIMEOUT": "timeout",
    "FINSYNTH_CONCURRENCY": "concurrency",
}


def load_config(
    env: Mapping[str, str] | None = None,
    directory: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> EndpointConfig:
    """Build the endpoint configuration from environment, TOML files and keyword overrides.

    Keyword overrides whose value is None are ignored, so CLI flags can be passed through as-is.
    """
    env = os.environ if env is None else env
    settings = file_settings(directory)
    key_var = settings.pop("api_key_env", "OPENAI_API_KEY")
    for var, field in _ENV_FIELDS.items():
        if env.get(var):
            settings[field] = env[var]
    key = env.get(key_var) or env.get("OPENAI_API_KEY")
    if key:
        settings["api_key"] = key
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return EndpointConfig.model_validate(settings)
