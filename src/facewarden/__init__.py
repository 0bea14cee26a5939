"""facewarden: face recognition for site security, safe by construction."""

__version__ = "0.1.0"
