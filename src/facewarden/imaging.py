"""Decode untrusted input into RGB numpy arrays, safely (SECURITY.md promise 19).

:func:`decode` caps bytes and pixels, decodes only JPEG, PNG, WebP and BMP, and
turns decompression bombs, truncated files and wrong formats into an
:class:`~facewarden.errors.ImageError` a person can act on, fast and before any
large allocation. :func:`encode_jpeg` writes pixels only, so no EXIF survives in
a kept photo. Nothing here knows about faces beyond "too small to hold one".
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps
from PIL.BmpImagePlugin import BmpImageFile
from PIL.JpegImagePlugin import JpegImageFile
from PIL.PngImagePlugin import PngImageFile
from PIL.WebPImagePlugin import WebPImageFile

from facewarden.errors import ConfigError, FacewardenError, ImageError, ImageTooLargeError
from facewarden.image_structure import check_structure

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_LIMITS",
    "ImageLimits",
    "decode",
    "encode_jpeg",
    "read_bytes",
    "sniff_format",
    "to_rgb",
]

logger = logging.getLogger(__name__)

RGBImage = npt.NDArray[np.uint8]
ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | npt.NDArray[Any]

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "BMP"})
_ACCEPTED_HINT = "use JPEG, PNG, WebP or BMP"

# The plugin for the sniffed format is called directly rather than through
# Image.open: its own header check still confirms the format (it raises
# SyntaxError on a mismatch), but Image.open's global MAX_IMAGE_PIXELS check
# would fire before ours, without the dimensions, and ignore ImageLimits.
_OPENERS: dict[str, type[ImageFile.ImageFile]] = {
    "JPEG": JpegImageFile,
    "PNG": PngImageFile,
    "WEBP": WebPImageFile,
    "BMP": BmpImageFile,
}

# Header sizes Pillow's BMP reader understands; checking one makes "BM" at the
# start of a text file fall to "looks like text" instead of "damaged BMP".
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "TIFF": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),  # classic and BigTIFF
    "JPEG 2000": (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"),
    "JPEG XL": (b"\x00\x00\x00\x0cJXL \r\n\x87\n", b"\xff\x0a"),
    "ICO": (b"\x00\x00\x01\x00",),
    "PSD": (b"8BPS",),
    "PDF": (b"%PDF",),
}
_FTYP_BRANDS = {
    **dict.fromkeys((b"heic", b"heix", b"hevc", b"hevx", b"heim", b"mif1", b"msf1"), "HEIC"),
    b"avif": "AVIF",
    b"avis": "AVIF",
}


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Caps applied to every input before it is decoded.

    Attributes:
        max_bytes: Largest accepted input, in bytes.
        max_pixels: Largest accepted ``width * height``, checked from the header.
        min_side: Smallest accepted width or height; smaller cannot hold a face.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 16

    def __post_init__(self) -> None:
        for field_name in ("max_bytes", "max_pixels", "min_side"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"ImageLimits.{field_name} must be a positive integer, got {value!r}"
                )
        if self.min_side * self.min_side > self.max_pixels:
            raise ConfigError(
                f"ImageLimits.min_side={self.min_side} cannot fit in max_pixels={self.max_pixels}"
            )


DEFAULT_LIMITS = ImageLimits()


def sniff_format(data: bytes) -> str | None:
    """Name an image format from its magic bytes.

    Args:
        data: The start of the input (the first KiB is enough).

    Returns:
        A Pillow format name: ``"JPEG"``, ``"PNG"``, ``"WEBP"`` or ``"BMP"``
        for the accepted formats, or a refused one such as ``"TIFF"``,
        ``"GIF"`` or ``"HEIC"`` so the refusal can name it; ``None`` when the
        format is not recognised.
    """
    head = bytes(data[:32])
    for fmt, magics in _MAGIC.items():
        if head.startswith(magics):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    if head[4:8] == b"ftyp":  # ISO media: the brand says HEIC, AVIF or a video
        return _FTYP_BRANDS.get(head[8:12], "MP4")
    return "SVG" if b"<svg" in bytes(data[:1024]).lower() else None


def read_bytes(path: str | os.PathLike[str], *, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """Read an image file, reading at most ``limits.max_bytes + 1`` bytes of it.

    Args:
        path: The file to read.
        limits: The byte cap to apply.

    Returns:
        The file's bytes.

    Raises:
        ImageTooLargeError: The file is larger than ``limits.max_bytes``.
        ImageError: The file is missing, a directory or unreadable.
    """
    return _read(path, limits, os.fspath(path))


def decode(
    source: ImageSource,
    *,
    limits: ImageLimits = DEFAULT_LIMITS,
    name: str | None = None,
) -> RGBImage:
    """Decode an untrusted image into an RGB array.

    EXIF orientation is applied; transparency is composited on white; grey,
    palette, 16-bit and CMYK images are converted; an animation gives its
    first frame.

    Args:
        source: A file path, the encoded bytes, or an array accepted by :func:`to_rgb`.
        limits: Byte, pixel and size caps.
        name: What to call the input in error messages (defaults to the path).

    Returns:
        A new C-contiguous ``(H, W, 3)`` ``uint8`` RGB array.

    Raises:
        ImageTooLargeError: The input is over the byte or pixel cap.
        ImageError: The input is empty, unreadable, of a refused format,
            damaged, truncated or too small to hold a face.
    """
    if isinstance(source, np.ndarray):
        if source.ndim in (2, 3):
            height, width = source.shape[:2]
            _check_size(width, height, limits, name)
        return _to_rgb(source, name)
    if isinstance(source, str | os.PathLike):
        if isinstance(source, str):
            _refuse_text_that_is_no_path(source, name)
        label = name or os.fspath(source)
        return _decode_bytes(_read(source, limits, label), limits, label)
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        # Refuse before copying: the copy protects us from a caller mutating a
        # bytearray mid-decode, but must not double a memory bomb.
        if view.nbytes > limits.max_bytes:
            raise ImageTooLargeError(
                f"input is {view.nbytes} bytes, over the limit of {limits.max_bytes} bytes",
                source=name,
            )
        return _decode_bytes(view.tobytes(), limits, name)
    raise ImageError(f"cannot read an image from a {type(source).__name__}", source=name)


def to_rgb(array: npt.NDArray[Any]) -> RGBImage:
    """Normalise a caller's numpy image to RGB ``uint8``.

    Accepted shapes are ``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 3)`` RGB and
    ``(H, W, 4)`` RGBA (composited on white). Accepted dtypes are ``uint8``,
    ``uint16`` (scaled by ``>> 8``) and floats in ``[0, 1]`` (scaled by 255; an
    overshoot of up to 0.5 either side, as resampling leaves, clipped).

    Args:
        array: The image.

    Returns:
        A new C-contiguous ``(H, W, 3)`` ``uint8`` array sharing no memory with ``array``.

    Raises:
        ImageError: The shape or dtype is not one of the above, or a float
            array holds NaN or infinity or values far outside ``[0, 1]`` (another scale).
    """
    return _to_rgb(array, None)


def encode_jpeg(image: npt.NDArray[Any], *, quality: int = 90) -> bytes:
    """Encode pixels alone as JPEG, with no EXIF, XMP or ICC data: use it for kept photos.

    Args:
        image: An RGB array (anything :func:`to_rgb` accepts).
        quality: JPEG quality, 1 to 100.

    Returns:
        The JPEG bytes.

    Raises:
        ConfigError: ``quality`` is out of range.
        ImageError: ``image`` is not a usable array or is empty.
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be an integer from 1 to 100, got {quality!r}")
    rgb = _to_rgb(image, None)
    if rgb.size == 0:
        raise ImageError(f"cannot encode an empty image of shape {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


#: Longer than any path a system opens (Linux's PATH_MAX is 4096 bytes): such a str is
#: an image's contents as text (base64, which DeepFace and CompreFace clients pass around).
_MAX_PATH_CHARS = 4096
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _refuse_text_that_is_no_path(text: str, name: str | None) -> None:
    """Refuse, in a few words, a str that holds an image instead of naming its file.

    Tried as a path, it failed with an error quoting all of it (hundreds of
    kilobytes for one photo, into a log line).
    """
    if text[:5].lower() == "data:":
        raise ImageError(
            "a data: URI is not a file path: decode its base64 and pass the bytes", source=name
        )
    if len(text) > _MAX_PATH_CHARS:
        raise ImageError(
            f"a text of {len(text)} characters is too long to be a file path (base64? "
            "decode it and pass the bytes)",
            source=name,
        )


def _read(path: str | os.PathLike[str], limits: ImageLimits, label: str) -> bytes:
    try:
        # Non-blocking: opening a named pipe for reading would otherwise wait for
        # a writer forever; opened so, it is found out by fstat and refused.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise ImageError("not a regular file (a named pipe or socket)", source=label)
            data = handle.read(limits.max_bytes + 1)
    except FileNotFoundError:
        missing = "file not found"
        if _URL.match(os.fspath(path)):
            missing += " (URLs are not fetched: download the image and pass its bytes)"
        raise ImageError(missing, source=label) from None
    except IsADirectoryError:
        raise ImageError("this is a folder, not an image file", source=label) from None
    except OSError as exc:  # permission denied, a device, a dangling link...
        raise ImageError(f"the file cannot be read ({exc.strerror or exc})", source=label) from exc
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"file is larger than the limit of {limits.max_bytes} bytes", source=label
        )
    return data


def _decode_bytes(data: bytes, limits: ImageLimits, source: str | None) -> RGBImage:
    # The byte cap is already checked: by _read, or in decode before copying.
    if not data:
        raise ImageError("empty input: 0 bytes", source=source)
    fmt = sniff_format(data)
    if fmt is None:
        kind = "looks like text" if _looks_like_text(data) else "is in no recognised image format"
        raise ImageError(f"not an image: the data {kind}; {_ACCEPTED_HINT}", source=source)
    if fmt not in ALLOWED_FORMATS:
        raise ImageError(f"{fmt} images are not accepted; {_ACCEPTED_HINT}", source=source)
    if fmt == "WEBP":
        # libwebp allocates the whole canvas when Pillow opens the file, so the
        # pixel cap must be checked from the raw header first.
        size = _webp_canvas_size(data)
        if size is None:
            raise ImageError("damaged WebP: the image header is unreadable", source=source)
        _check_size(*size, limits, source)
    # The pixel cap bounds a decode's memory; its time needs the structure bounded too.
    check_structure(data, fmt, source)
    # Pillow reports odd files through warnings; recorded here so none escapes
    # (tests turn warnings into errors) and logged instead of refusing the image.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _OPENERS[fmt](io.BytesIO(data)) as opened:
                _check_size(*opened.size, limits, source)
                opened.load()
                # In place: no copy of an image that needs no turning (most).
                ImageOps.exif_transpose(opened, in_place=True)
                rgb = _pil_to_rgb(opened)
        except FacewardenError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(
                f"image declares more pixels than the limit of {limits.max_pixels}", source=source
            ) from exc
        except Exception as exc:
            # Pillow's parsers meet hostile bytes with a long tail of types
            # (OSError, SyntaxError, struct.error, IndexError, ...): on
            # untrusted input every one of them means "not decodable".
            raise _decoding_error(exc, fmt, source) from exc
    for warning in caught:
        logger.debug("Pillow warned while decoding %s: %s", source or "input", warning.message)
    return rgb


def _pil_to_rgb(image: Image.Image) -> RGBImage:
    if image.mode.startswith("I"):
        # 16-bit (and 32-bit holding 16-bit) grey: Pillow's convert("L") clips
        # at 255, which turns most of such an image white; scale instead.
        wide = np.asarray(image).astype(np.int64)
        grey = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2))
    if image.has_transparency_data:
        # Dropping alpha leaves whatever colour hides under transparent pixels,
        # often black; a face photo on a transparent background wants white.
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    # convert("RGB") of an RGB image would only copy it before numpy copies it again.
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.array(rgb, dtype=np.uint8, order="C")


def _to_rgb(array: npt.NDArray[Any], source: str | None) -> RGBImage:
    if not isinstance(array, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(array).__name__}", source=source)
    shape = array.shape
    if not (array.ndim == 2 or (array.ndim == 3 and shape[2] in (1, 3, 4))):
        raise ImageError(
            f"array has shape {shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)",
            source=source,
        )
    kind, itemsize = array.dtype.kind, array.dtype.itemsize
    if kind == "u" and itemsize == 1:
        pixels = array.astype(np.uint8, order="C", copy=True)
    elif kind == "u" and itemsize == 2:
        pixels = (array.astype(np.uint16) >> 8).astype(np.uint8)
    elif kind == "f":
        if not np.isfinite(array).all():
            raise ImageError("array holds NaN or infinite values", source=source)
        _check_float_scale(array, source)
        pixels = np.rint(np.clip(array.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    else:
        raise ImageError(
            f"array dtype {array.dtype} is not accepted; use uint8, uint16 or float in [0, 1]",
            source=source,
        )
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    if pixels.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    if pixels.shape[2] == 4:
        # Composite on white, as for decoded files; uint32 avoids overflow.
        rgb, alpha = pixels[:, :, :3].astype(np.uint32), pixels[:, :, 3:].astype(np.uint32)
        blended = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
        return np.ascontiguousarray(blended.astype(np.uint8))
    return np.ascontiguousarray(pixels)


#: How far float pixels may stray outside [0, 1] and still be clipped: resampling a [0, 1]
#: image (bicubic, Lanczos) overshoots at sharp edges by a fraction of the range, never by
#: more than half of it; a value further out means another scale (0-255, what
#: ``photo.astype(np.float32)`` keeps), which clipping would turn white.
_FLOAT_OVERSHOOT = 0.5


def _check_float_scale(array: npt.NDArray[Any], source: str | None) -> None:
    low, high = float(array.min(initial=0.0)), float(array.max(initial=0.0))
    if high > 1 + _FLOAT_OVERSHOOT:
        raise ImageError(
            f"float pixels must lie in [0, 1], but values reach {high:g}: an image on the "
            "0-255 scale? divide by 255 (or pass it as uint8)",
            source=source,
        )
    if low < -_FLOAT_OVERSHOOT:
        raise ImageError(
            f"float pixels must lie in [0, 1], but values reach {low:g}", source=source
        )


def _check_size(width: int, height: int, limits: ImageLimits, source: str | None) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image declares {width}x{height} pixels, over the limit of {limits.max_pixels}",
            source=source,
        )
    if min(width, height) < limits.min_side:
        raise ImageError(
            f"image is {width}x{height} pixels, too small to hold a face "
            f"(minimum {limits.min_side} pixels per side)",
            source=source,
        )


def _decoding_error(exc: Exception, fmt: str, source: str | None) -> ImageError:
    label = "WebP" if fmt == "WEBP" else fmt
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        message = f"truncated {label}: the file ends before the image data is complete"
    else:
        message = f"damaged {label}: the image data cannot be decoded"
    return ImageError(message, source=source)


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    # The three WebP flavours keep the canvas size in different places (RFC 9649).
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        return width, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _looks_like_text(data: bytes) -> bool:
    sample = data[:1024]
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still text.
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    return all(char.isprintable() or char.isspace() for char in text)
