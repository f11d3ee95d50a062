"""Profiles in a TOML file, and how the URL and key are chosen.

The file (``$MAILCRM_CONFIG``, else ``$XDG_CONFIG_HOME/mailcrm/config.toml``, else
``~/.config/mailcrm/config.toml``) holds API keys, so it is created with mode 0600 in a
0700 directory, and rewritten through a private temporary file::

    default = "prod"

    [profiles.prod]
    url = "https://crm.example.com"
    api_key = "mc_…"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailcrm_cli.client import ConfigError

DEFAULT_PROFILE = "default"


def config_path() -> Path:
    explicit = os.environ.get("MAILCRM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "mailcrm" / "config.toml"


def load(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}") from None
    return data


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def dumps(data: dict[str, Any]) -> str:
    """Write the file's small shape (a default name and string-valued profiles) as TOML."""
    lines = []
    if data.get("default"):
        lines += [f"default = {_quote(str(data['default']))}", ""]
    for name, profile in sorted((data.get("profiles") or {}).items()):
        lines.append(f"[profiles.{_quote(name)}]")
        for key, value in profile.items():
            lines.append(f"{key} = {_quote(str(value))}")
        lines.append("")
    return "\n".join(lines)


def save(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # O_EXCL on a fresh name with mode 0600: the key is never readable by others, not even
    # for a moment, whatever the umask.
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def store_profile(name: str, *, url: str, api_key: str, make_default: bool) -> Path:
    data = load()
    profiles = dict(data.get("profiles") or {})
    profiles[name] = {"url": url, "api_key": api_key}
    data["profiles"] = profiles
    if make_default or not data.get("default"):
        data["default"] = name
    return save(data)


def remove_profile(name: str) -> bool:
    data = load()
    profiles = dict(data.get("profiles") or {})
    if name not in profiles:
        return False
    del profiles[name]
    data["profiles"] = profiles
    if data.get("default") == name:
        data["default"] = next(iter(sorted(profiles)), "")
    save(data)
    return True


@dataclass
class Settings:
    url: str
    api_key: str
    profile: str | None


def resolve(*, url: str | None, api_key: str | None, profile: str | None) -> Settings:
    """Pick the server and key: flags first; then the profile named by ``--profile`` (or
    ``MAILCRM_PROFILE``); then ``MAILCRM_URL``/``MAILCRM_API_KEY``; then the default profile."""
    data = load()
    profiles = data.get("profiles") or {}
    chosen: dict[str, Any] = {}
    name = profile or os.environ.get("MAILCRM_PROFILE") or None
    if name:
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none yet: run `mailcrm-cli login`"
            raise ConfigError(f"No profile {name!r} in {config_path()} (profiles: {known}).")
        chosen = profiles[name]
    url = url or chosen.get("url") or os.environ.get("MAILCRM_URL")
    api_key = api_key or chosen.get("api_key") or os.environ.get("MAILCRM_API_KEY")
    if not (url and api_key) and not name:
        name = data.get("default") or (DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else None)
        fallback = profiles.get(name, {}) if name else {}
        url = url or fallback.get("url")
        api_key = api_key or fallback.get("api_key")
    if not url:
        raise ConfigError("No server URL: pass --url, set MAILCRM_URL, or run `mailcrm-cli login`.")
    if not api_key:
        raise ConfigError(
            "No API key: pass --api-key, set MAILCRM_API_KEY, or run `mailcrm-cli login`."
        )
    return Settings(url=url, api_key=api_key, profile=name)
