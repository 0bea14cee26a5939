"""The HTTP server: native JSON API, CompreFace-compatible API and the console's files."""

from facewarden.api.app import create_app

__all__ = ["create_app"]
