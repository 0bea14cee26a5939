"""A minimal RTSP camera on loopback: MJPEG over RTP (RFC 2435), interleaved in the RTSP connection.

Enough of RTSP (RFC 2326) for FFmpeg to play it as it plays an IP camera:
OPTIONS, DESCRIBE (an SDP naming one JPEG track), SETUP over TCP, PLAY, then
RTP packets of baseline JPEG frames with in-band quantisation tables.
:attr:`RtspCamera.redirect_to` makes it answer DESCRIBE with a redirect
instead, as a hostile camera may; :attr:`RtspCamera.requests` records the
method of every request it got.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time

import cv2
import numpy as np

__all__ = ["RtspCamera"]


def _scan(jpeg: bytes) -> tuple[bytes, bytes, int, int]:
    """The two 8-bit quantisation tables, the entropy-coded scan and the size of a baseline JPEG."""
    tables: list[bytes] = []
    width = height = 0
    at = 2
    while True:
        marker, length = jpeg[at + 1], struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
        body = jpeg[at + 4 : at + 2 + length]
        if marker == 0xDB:  # DQT: one or more tables, each a precision/id byte and 64 bytes
            for start in range(0, len(body), 65):
                tables.append(body[start + 1 : start + 65])
        elif marker == 0xC0:  # SOF0
            height, width = struct.unpack(">HH", body[1:5])
        elif marker == 0xDA:  # SOS: the scan runs to the EOI marker
            return b"".join(tables[:2]), jpeg[at + 2 + length : -2], width, height
        at += 2 + length


class RtspCamera:
    """An RTSP server on 127.0.0.1 streaming a test pattern at ``fps`` (see the module)."""

    def __init__(self, fps: float = 10.0) -> None:
        self.fps = fps
        self.redirect_to: str | None = None
        self.requests: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream1"

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            try:
                while not self._stopping.is_set():
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(4096)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    if self._answer(conn, head.decode("latin-1")):
                        self._play(conn)
                        return
            except OSError:
                return

    def _answer(self, conn: socket.socket, head: str) -> bool:
        """Answer one request; True once PLAY was answered."""
        method, url = head.split(" ", 2)[:2]
        self.requests.append(method)
        found = re.search(r"^CSeq:\s*(\d+)", head, re.I | re.M)
        lines = [f"CSeq: {found.group(1) if found else 0}"]
        body = ""
        status = "200 OK"
        if method == "OPTIONS":
            lines.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
        elif method == "DESCRIBE" and self.redirect_to is not None:
            status = "302 Moved Temporarily"
            lines.append(f"Location: {self.redirect_to}")
        elif method == "DESCRIBE":
            body = (
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                "m=video 0 RTP/AVP 26\r\na=control:track1\r\n"
            )
            lines += [f"Content-Base: {url.rstrip('/')}/", "Content-Type: application/sdp"]
        elif method == "SETUP":
            lines += ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1", "Session: 4711"]
        elif method == "PLAY":
            lines.append("Session: 4711")
        lines.append(f"Content-Length: {len(body)}")
        reply = f"RTSP/1.0 {status}\r\n" + "\r\n".join(lines) + "\r\n\r\n" + body
        conn.sendall(reply.encode("latin-1"))
        return method == "PLAY"

    def _play(self, conn: socket.socket) -> None:
        sequence = 0
        for index in range(1_000_000):
            if self._stopping.is_set():
                return
            frame = np.zeros((240, 320, 3), np.uint8)
            frame[:, :, 1] = (np.arange(320) + 4 * index) % 256
            ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
            assert ok
            tables, scan, width, height = _scan(encoded.tobytes())
            stamp = int(index * 90_000 / self.fps) & 0xFFFFFFFF
            for offset in range(0, len(scan), 1400):
                piece = scan[offset : offset + 1400]
                last = offset + 1400 >= len(scan)
                header = struct.pack(
                    ">BBHII", 0x80, (0x80 if last else 0) | 26, sequence & 0xFFFF, stamp, 0x5EED
                )
                # Type 1 (4:2:0), Q 255: the tables travel in the first packet of each frame.
                jpeg = struct.pack(">I", offset)[1:]
                packet = header + b"\x00" + jpeg + bytes([1, 255, width // 8, height // 8])
                if offset == 0:
                    packet += struct.pack(">BBH", 0, 0, len(tables)) + tables
                packet += piece
                conn.sendall(b"$\x00" + struct.pack(">H", len(packet)) + packet)
                sequence += 1
            time.sleep(1 / self.fps)
