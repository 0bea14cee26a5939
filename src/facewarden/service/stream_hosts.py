"""Which hosts a camera's stream may be fetched from: not this machine, not the cloud's own.

A camera's source is a URL the server (its ingest workers) connects to. Whoever
may register a camera (an operator's or admin's key, perhaps a stolen one)
would otherwise choose where the server connects: the cloud metadata service
that hands out the instance's credentials (``169.254.169.254`` on AWS, GCP,
Azure and Oracle, ``fd00:ec2::254`` on AWS over IPv6, ``100.100.100.200`` on
Alibaba, Azure's ``168.63.129.16``), or services listening on the machine's
loopback (its PostgreSQL, admin ports, this API). That is server-side request
forgery, and it is refused by default:

* refused: loopback (``127.0.0.0/8``, ``::1``, ``localhost``, and a URL with no
  host, ``http://:8080/``, which FFmpeg connects to this machine), the unspecified
  address (``0.0.0.0/8``, ``::``, which reach this machine), link-local
  (``169.254.0.0/16``, ``fe80::/10``), and the cloud metadata addresses and
  names above (``metadata.google.internal``, ``instance-data``, ...); an IPv6
  address that embeds an IPv4 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged
  by that IPv4 address, and a number written another way (``2852039166``,
  ``0251.0376.0251.0376``, ``127.1``) as the resolver reads it;
* allowed: everything else, private LANs included (``10.0.0.0/8``,
  ``172.16.0.0/12``, ``192.168.0.0/16``, ``fc00::/7``, ``100.64.0.0/10``):
  that is where real IP cameras live, and refusing them would break nearly
  every installation for little gain (a camera network is what the server is
  meant to reach);
* ``FACEWARDEN_CAMERA_ALLOWED_NETWORKS`` (CIDRs, comma-separated) allows a
  refused range on purpose, e.g. ``127.0.0.1/32`` for an RTSP relay
  (MediaMTX, go2rtc) on the same machine.

A host name is resolved and every address it resolves to is judged. A name
that does not resolve (yet) is let through when a camera is registered, and
judged again each time a worker connects to the stream
(:func:`stream_targets`, on every attempt, reconnections included). For
``rtsp://`` and ``http://``, FFmpeg is then handed the address judged in
place of the name, so it never looks the name up again: a name whose answer
changes in between (DNS rebinding: an allowed address for the check, this
machine for the connection) reaches only the address judged; one that does
not resolve now is not connected to (a failed attempt). FFmpeg follows no
HTTP redirect (:mod:`facewarden.vision.sources`).

Left open, written down in the README (Cameras and crowds): ``https://`` and
``rtsps://`` keep their name, since TLS names the server it wants by it (SNI)
and FFmpeg sends none for an address, which would break streams served from a
shared TLS front; FFmpeg resolves such a name again as it connects. An HLS
playlist naming segments on other hosts is followed, also without asking.
A plain ``http://`` stream is asked for with its address in the ``Host``
header: one behind a name-based virtual host needs ``https://``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Sequence

from facewarden.errors import InvalidInputError
from facewarden.vision.sources import redact_url, source_kind

__all__ = [
    "RESOLVE_SECONDS",
    "check_stream_host",
    "ffmpeg_host",
    "refused_reason",
    "stream_targets",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str], list[str] | None]

RESOLVE_SECONDS = 2.0
"""How long a host name's resolution is waited for before it counts as unresolved."""

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
_LOOPBACK_NAME = ipaddress.ip_address("127.0.0.1")
_METADATA_NAME = ipaddress.ip_address("169.254.169.254")
# Names that reach the metadata service only from inside a cloud instance
# (where this check would resolve them anyway); refused wherever it runs.
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_UNSPECIFIED_V4 = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _canonical(address: Address) -> Address:
    """``address`` as it is reached: the IPv4 address an IPv6 one embeds, no scope id."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
        return ipaddress.IPv6Address(int(address))  # drops a scope id (fe80::1%eth0)
    return address


def refused_reason(address: Address) -> str | None:
    """Why a stream at ``address`` is refused by default, or None when it is allowed."""
    address = _canonical(address)
    if address in _METADATA:
        return "a cloud metadata service"
    if address.is_loopback:
        return "loopback (this machine)"
    if address.is_unspecified or (
        isinstance(address, ipaddress.IPv4Address) and address in _UNSPECIFIED_V4
    ):
        return "the unspecified address (this machine)"
    if address.is_link_local:
        return "link-local (where cloud metadata services answer)"
    return None


def check_stream_host(
    source: str,
    allowed: Sequence[str] = (),
    *,
    resolve: Resolve | None = None,
) -> None:
    """Refuse a stream ``source`` whose host is refused (see the module); a file passes.

    Args:
        source: a camera source (a file path, or an rtsp/http(s) URL).
        allowed: CIDR networks allowed even where refused by default
            (``FACEWARDEN_CAMERA_ALLOWED_NETWORKS``).
        resolve: host name -> its addresses, or None when it does not
            resolve (now); by default the system's resolver, bounded by
            :data:`RESOLVE_SECONDS`.

    Raises:
        InvalidInputError: the host is, or resolves to, a refused address; the
            message names the host (never the URL's credentials or path) and
            the setting that allows it.
    """
    if source_kind(source) == "stream":
        _judged(source, allowed, resolve or _resolve)


def stream_targets(
    source: str,
    allowed: Sequence[str] = (),
    *,
    resolve: Resolve | None = None,
) -> list[str]:
    """What FFmpeg may be handed to connect to ``source`` now, to try in turn.

    Resolves the host once and judges every address (as :func:`check_stream_host`).
    An ``rtsp://`` or ``http://`` URL naming its host comes back once per address
    it resolved to, in the resolver's order, the address in place of the name
    (user, password, port and path kept): FFmpeg connects where the check looked,
    and, as it would itself, another address when one does not answer. A name
    that does not resolve now gives none (nothing to connect to: try again
    later). Other sources come back as they are.

    Raises:
        InvalidInputError: the host is, or resolves to, a refused address.
    """
    if source_kind(source) != "stream":
        return [source]
    host, addresses = _judged(source, allowed, resolve or _resolve)
    if source.partition("://")[0].lower() not in _PINNED_SCHEMES or _is_address(host):
        return [source]
    reached = dict.fromkeys(_canonical(address) for address in addresses)
    return [_with_host(source, address) for address in reached]


_PINNED_SCHEMES = frozenset({"rtsp", "http"})


def _judged(source: str, allowed: Sequence[str], resolve: Resolve) -> tuple[str, list[Address]]:
    """The host of stream ``source`` and the addresses it was judged by (none: unresolved).

    Raises:
        InvalidInputError: one of them is refused.
    """
    host = ffmpeg_host(source).rstrip(".")
    networks = [ipaddress.ip_network(n, strict=False) for n in allowed]
    addresses = _addresses(host, resolve)
    for address in addresses:
        reason = refused_reason(address)
        if reason is None or any(_canonical(address) in n for n in networks):
            continue
        shown = host or "an empty host"
        named = shown if host == str(_canonical(address)) else f"{shown} is {_canonical(address)}"
        raise InvalidInputError(
            f"a camera stream at {redact_url(source)} is refused: {named}, {reason}, which "
            "the server does not connect to unless FACEWARDEN_CAMERA_ALLOWED_NETWORKS allows "
            "it (e.g. 127.0.0.1/32 for an RTSP relay on this machine)"
        )
    return host, addresses


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _with_host(url: str, address: Address) -> str:
    """``url`` with its host (as :func:`ffmpeg_host` reads it) replaced by ``address``."""
    scheme, _, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    user, at, hostport = authority.rpartition("@")
    port = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    port = port[port.index(":") :] if ":" in port else ""
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{scheme}://{user}{at}{host}{port}{rest[len(authority) :]}"


def ffmpeg_host(url: str) -> str:
    """The host FFmpeg connects to for ``url``, split as its ``av_url_split`` splits it.

    FFmpeg, not Python's URL parser, opens the stream, and they disagree: a
    host in brackets is taken whole by FFmpeg (``http://[127.0.0.1]:80/``
    reaches loopback) while :func:`urllib.parse.urlsplit` refuses it as a
    malformed URL, so judging Python's reading let such a stream through.
    """
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    authority = authority.rpartition("@")[2]  # user[:password]@, up to the last @
    if authority.startswith("[") and "]" in authority:
        return authority[1 : authority.index("]")]
    return authority.partition(":")[0]


def _addresses(host: str, resolve: Resolve) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    name = host.lower()
    # No host at all: FFmpeg connects to this machine (its resolver's answer for none).
    if not name or name == "localhost" or name.endswith(".localhost"):
        return [_LOOPBACK_NAME]
    if name in _METADATA_NAMES:
        return [_METADATA_NAME]
    found: list[Address] = []
    for text in resolve(host) or ():
        try:
            found.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    return found


def _resolve(host: str) -> list[str] | None:
    """The addresses ``host`` resolves to (as FFmpeg's resolver reads it), None if none in time."""
    answer: list[list[str] | None] = [None]

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        answer[0] = [str(info[4][0]) for info in infos]

    # getaddrinfo has no timeout: a slow resolver must not hold a request or a
    # worker, so the lookup runs in a thread that is left behind if it is late.
    thread = threading.Thread(target=lookup, name="stream-host-lookup", daemon=True)
    thread.start()
    thread.join(RESOLVE_SECONDS)
    return answer[0]
