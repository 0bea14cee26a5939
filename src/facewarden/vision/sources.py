"""Video sources on a steady frame budget: files, RTSP and HTTP streams (OpenCV).

* :class:`FileSource` reads a video file (MP4, AVI, MKV, MOV: whatever
  OpenCV's FFmpeg can demux) and hands out at most ``fps_budget`` frames
  per second of *video* time, skipping the rest without converting them.
  Its frame times are video times, so a file is processed as fast as the
  CPU allows and always the same way.
* :class:`StreamSource` reads an ``rtsp://``, ``http://`` or ``https://``
  stream (MJPEG over HTTP included). A reader thread keeps only the newest
  frame (as OpenCV decoded it, BGR: only a frame that is handed out is
  converted to RGB), so however slow the processing, a frame handed out is
  never older than ``max_lag`` seconds (older ones are dropped, counted in
  :attr:`StreamSource.dropped`); at most ``fps_budget`` frames a second are
  handed out. When the stream drops (or cannot be opened: a wrong URL) the
  source says so in :attr:`StreamSource.state` and :attr:`last_error` and
  reconnects with exponential backoff, until :meth:`stop`.

A stream URL may carry a user name and password: states, errors and logs
name it only as :func:`redact_url` writes it (``rtsp://host:554/...``).

Every stream is opened with FFmpeg options that keep it where it was sent
(see :func:`_guarded_options`): no redirect is followed, and only
the protocols a stream needs are spoken, not ``file`` (a video file is read
through Python, so a stream's playlist cannot name one of this machine's). Where a
stream's host may be connected to is decided by the caller, on each
connection attempt (``connect_to``): FFmpeg would otherwise resolve a host
name again for itself, and follow a redirect, wherever it leads.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from facewarden.errors import FacewardenError, InvalidInputError

__all__ = [
    "FileSource",
    "Frame",
    "FrameSource",
    "SourceError",
    "StreamSource",
    "open_source",
    "redact_url",
    "source_kind",
]

RGBImage = npt.NDArray[np.uint8]
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


def source_kind(uri: str) -> str:
    """``stream`` for an ``rtsp(s)://`` or ``http(s)://`` URL (any case), else ``file``."""
    return "stream" if uri.lower().startswith(STREAM_SCHEMES) else "file"


def redact_url(uri: str) -> str:
    """``uri`` safe to show: ``scheme://host[:port]/...`` for a URL, ``.../name`` for a file.

    No user name, password, path, query or fragment of a URL is kept (any
    of them may hold a credential or say too much about the camera
    network); of a file path, only its last part.
    """
    if "://" not in uri:
        name = uri.replace("\\", "/").rstrip("/").rpartition("/")[2]
        return f".../{name}" if name else "..."
    try:
        parts = urllib.parse.urlsplit(uri)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a malformed port or host: keep nothing of it
        scheme = uri.partition(":")[0].lower()
        return f"{scheme if scheme.isalnum() else 'url'}://..."
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme.lower()}://{netloc}/..."


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str, source: str | None = None) -> str:
    """``text`` (an error message) with ``source`` and every URL in it redacted.

    An error from OpenCV or the network may quote the source in full, or a
    URL derived from it: each becomes :func:`redact_url`'s form.
    """
    if source:
        text = text.replace(source, redact_url(source))
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


class SourceError(FacewardenError):
    """A video source cannot be read (a missing or undecodable file)."""


@dataclass(frozen=True)
class Frame:
    """A decoded frame: its number in the source, its time (seconds from the start), RGB pixels."""

    index: int
    seconds: float
    image: RGBImage


class FrameSource(Protocol):
    """Something that hands out frames on a budget."""

    @property
    def state(self) -> str:
        """``opening``, ``live``, ``reconnecting``, ``ended`` or ``stopped``."""
        ...

    def frames(self) -> Iterator[Frame]:
        """The frames, in order, until the source ends or is stopped."""
        ...

    def stop(self) -> None:
        """Stop handing out frames (from any thread)."""
        ...


_CAPTURE_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# What OpenCV opens a capture with when the variable is unset; setting it replaces this.
_OPENCV_DEFAULT = "rtsp_flags;prefer_tcp"
# FFmpeg's options, as "key;value" pairs joined by "|" (OpenCV's format); later keys win.
_GUARDS = (
    # A redirect is where the camera's answer, not its checked address, sends FFmpeg:
    # a cloud metadata service, this machine. None is followed.
    "max_redirects;0",
    # What RTSP (over TCP, UDP or TLS) and HTTP(S) streams need, HLS with its AES
    # segments and data: URIs included (FFmpeg's own list for an http input). Not
    # "file": a stream's playlist would read this machine's files as segments
    # (video files are read through Python, see _file_capture); nor gopher, ftp,
    # unix sockets or concat:, which nothing here asks for. "rtsp" itself is left
    # out on purpose: FFmpeg asks for it only to follow an RTSP server's redirect
    # (max_redirects is HTTP's alone), so that redirect is refused too.
    "protocol_whitelist;http,https,httpproxy,tcp,tls,crypto,data,rtp,srtp,udp",
)
_guard_lock = threading.Lock()
_guarding: dict[str, Any] = {"opening": 0, "before": None}


@contextlib.contextmanager
def _guarded_options() -> Iterator[None]:
    """Stream captures opened inside open with :data:`_GUARDS` added to FFmpeg's options.

    OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` as each capture opens, and
    hands it to FFmpeg: the only way to give FFmpeg options through it. It is
    set while any stream capture of this process opens (streams opening at
    once share it) and given its value back after the last: the guards leave
    out ``file``, which a video file opened by name elsewhere in the process
    (the application's own OpenCV, say) needs. Options a user set there are
    kept, the guards win. The variable is only ever given a value, never
    removed, which another thread may read meanwhile.
    """
    with _guard_lock:
        if _guarding["opening"] == 0:
            before = os.environ.get(_CAPTURE_OPTIONS) or _OPENCV_DEFAULT
            _guarding["before"] = before
            os.environ[_CAPTURE_OPTIONS] = "|".join((before, *_GUARDS))
        _guarding["opening"] += 1
    try:
        yield
    finally:
        with _guard_lock:
            _guarding["opening"] -= 1
            if _guarding["opening"] == 0:
                os.environ[_CAPTURE_OPTIONS] = _guarding["before"]


@contextlib.contextmanager
def _file_capture(path: Path) -> Iterator[Any]:
    """A capture of the video file ``path``, or None where it cannot be decoded.

    FFmpeg reads the file through Python (OpenCV's stream reader), not through
    its own ``file`` protocol, which the guards leave out (see :data:`_GUARDS`).

    Raises:
        SourceError: the file cannot be opened for reading.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below, after the capture)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    capture = None
    try:
        capture = _capture(handle)
        yield capture
    finally:
        if capture is not None:
            capture.release()
        handle.close()


def _capture(uri: str | BinaryIO, timeout_ms: int = 5000) -> Any:
    """An open FFmpeg capture of a stream URL, or of a file read through Python; None if it
    cannot be opened."""
    import cv2

    # Bounded waits: a dead camera must not hang its reader thread.
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        timeout_ms,
    ]
    # OpenCV (4.9+) takes an object with read and seek as a stream; its stubs omit that.
    capture = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)  # type: ignore[arg-type]
    if not capture.isOpened():
        capture.release()
        return None
    return capture


def _rgb(bgr: Any) -> RGBImage:
    import cv2

    rgb: RGBImage = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return rgb


class FileSource:
    """A video file, read at most ``fps_budget`` frames per second of video time.

    Raises:
        SourceError: the file is missing, unreadable or not a video.
        InvalidInputError: a non-positive budget.
    """

    def __init__(self, path: str | Path, *, fps_budget: float = 5.0) -> None:
        if fps_budget <= 0:
            raise InvalidInputError(f"fps_budget must be positive, got {fps_budget}")
        self.path = Path(path)
        if not self.path.is_file():
            if self.path.exists():
                raise SourceError(f"video file {self.path} is not a file (a folder or a device)")
            raise SourceError(f"video file {self.path} does not exist")
        self.fps_budget = fps_budget
        with _file_capture(self.path) as capture:
            if capture is None:
                raise SourceError(f"cannot read {self.path}: not a video file OpenCV can decode")
            if not capture.grab():
                raise SourceError(f"cannot read {self.path}: no decodable frame")
        self._state = "opening"
        self._stop = threading.Event()
        self.skipped = 0

    @property
    def state(self) -> str:
        return self._state

    def stop(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        import cv2

        with _file_capture(self.path) as capture:
            if capture is None:
                raise SourceError(f"cannot read {self.path}")
            fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
            step = 1.0 / self.fps_budget
            due = 0.0
            index = -1
            self._state = "live"
            try:
                while not self._stop.is_set() and capture.grab():
                    index += 1
                    seconds = index / fps
                    if seconds + 1e-9 < due:
                        self.skipped += 1
                        continue
                    ok, bgr = capture.retrieve()
                    if not ok:
                        break
                    due = max(due + step, seconds)
                    yield Frame(index, seconds, _rgb(bgr))
            finally:
                self._state = "stopped" if self._stop.is_set() else "ended"


class StreamSource:
    """A live stream: newest frame only, reconnecting with backoff.

    Args:
        url: ``rtsp://``, ``http://`` or ``https://``.
        fps_budget: at most this many frames a second are handed out.
        max_lag: a frame older than this (seconds) is dropped, never handed out.
        backoff: first and longest wait (seconds) between reconnection attempts.
        max_attempts: give up (state ``failed``) after this many failed
            attempts in a row; None tries forever.
        connect_to: called before each connection attempt with ``url``; returns
            the URLs to open this time, tried in turn until one opens (``url``
            with its host name replaced by each address the caller checked,
            say); none is a failed attempt (retried with backoff). An error it
            raises gives the stream up (state ``failed``, its message in
            ``last_error``). None: ``url`` itself.

    Raises:
        InvalidInputError: not a stream URL, or a non-positive budget.
    """

    def __init__(
        self,
        url: str,
        *,
        fps_budget: float = 5.0,
        max_lag: float = 1.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        max_attempts: int | None = None,
        connect_to: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        if source_kind(url) != "stream":
            raise InvalidInputError(f"not a stream URL (rtsp, http or https): {redact_url(url)!r}")
        if fps_budget <= 0:
            raise InvalidInputError(f"fps_budget must be positive, got {fps_budget}")
        self.url = url
        self.fps_budget = fps_budget
        self.max_lag = max_lag
        self.backoff = backoff
        self.max_attempts = max_attempts
        self._connect_to = connect_to
        self.last_error: str | None = None
        self.reconnects = 0
        self.dropped = 0
        self._state = "opening"
        self._stop = threading.Event()
        self._cond = threading.Condition()
        # The newest frame as decoded (BGR); converted only when handed out.
        self._latest: tuple[int, float, Any] | None = None
        self._reader: threading.Thread | None = None

    @property
    def state(self) -> str:
        return self._state

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def frames(self) -> Iterator[Frame]:
        self._reader = threading.Thread(target=self._read, name="stream-reader", daemon=True)
        self._reader.start()
        step = 1.0 / self.fps_budget
        start = time.monotonic()
        last_index = -1
        next_due = 0.0
        try:
            while not self._stop.is_set():
                with self._cond:
                    self._cond.wait_for(
                        lambda seen=last_index: (  # type: ignore[misc]
                            self._stop.is_set()
                            or self._state == "failed"
                            or (self._latest is not None and self._latest[0] != seen)
                        ),
                        timeout=0.5,
                    )
                    latest = self._latest
                if self._state == "failed":
                    return
                if latest is None or latest[0] == last_index:
                    continue
                index, captured, bgr = latest
                now = time.monotonic()
                if now - captured > self.max_lag:
                    self.dropped += 1
                    last_index = index
                    continue
                if now < next_due and self._stop.wait(next_due - now):
                    return  # stopped while pacing (at a low budget, seconds)
                if time.monotonic() - captured > self.max_lag:
                    self.dropped += 1  # went stale while waiting its turn
                    last_index = index
                    continue
                next_due = max(next_due + step, time.monotonic())
                last_index = index
                yield Frame(index, captured - start, _rgb(bgr))
        finally:
            self.stop()
            if self._reader is not None:
                self._reader.join(timeout=5)

    def _read(self) -> None:
        try:
            self._read_until_stopped()
        except FacewardenError as exc:  # connect_to refused where the stream leads now
            self._fail(exc.message)
        except Exception as exc:  # e.g. cv2.error: the camera fails, visibly, not silently
            self._fail(f"stream {redact_url(self.url)} failed: {type(exc).__name__}")

    def _fail(self, error: str) -> None:
        self.last_error = error
        self._state = "failed"
        with self._cond:
            self._cond.notify_all()

    def _open(self) -> Any:
        """A capture of the stream, or None when it cannot be opened now."""
        targets = [self.url] if self._connect_to is None else self._connect_to(self.url)
        for target in targets:
            with _guarded_options():
                capture = _capture(target)
            if capture is not None:
                return capture
        return None

    def _read_until_stopped(self) -> None:
        index = 0
        failures = 0
        delay = self.backoff[0]
        while not self._stop.is_set():
            capture = self._open()
            if capture is None:
                failures += 1
                self.last_error = f"cannot open {redact_url(self.url)}"
                if self.max_attempts is not None and failures >= self.max_attempts:
                    self._state = "failed"
                    with self._cond:
                        self._cond.notify_all()
                    return
                self._state = "reconnecting" if index else "unreachable"
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            failures, delay = 0, self.backoff[0]
            self._state = "live"
            try:
                while not self._stop.is_set():
                    ok, bgr = capture.read()
                    if not ok:
                        self.last_error = f"stream {redact_url(self.url)} dropped"
                        break
                    index += 1
                    with self._cond:
                        self._latest = (index, time.monotonic(), bgr)
                        self._cond.notify_all()
            finally:
                capture.release()
            if not self._stop.is_set():
                self.reconnects += 1
                self._state = "reconnecting"
                self._stop.wait(delay)
        self._state = "stopped"


def open_source(
    uri: str,
    *,
    fps_budget: float = 5.0,
    max_attempts: int | None = None,
    connect_to: Callable[[str], Sequence[str]] | None = None,
) -> FileSource | StreamSource:
    """A :class:`StreamSource` for a stream URL (``connect_to`` as it takes), else a
    :class:`FileSource`.

    Raises:
        SourceError: a file that cannot be read.
        InvalidInputError: a bad budget.
    """
    if source_kind(uri) == "stream":
        return StreamSource(
            uri, fps_budget=fps_budget, max_attempts=max_attempts, connect_to=connect_to
        )
    return FileSource(uri, fps_budget=fps_budget)
