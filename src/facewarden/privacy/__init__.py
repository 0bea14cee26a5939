"""Privacy building blocks: keys, field encryption, template protection, the audit chain.

Pure computation over key material: nothing here talks to a database; the
service layer hands these objects a store. The public names are re-exported
here; the submodules are ``keys``, ``crypto``, ``template``, ``audit`` and ``clock``.
"""

from __future__ import annotations

from facewarden.privacy.audit import (
    GENESIS_HASH,
    AuditChain,
    AuditEntry,
    DetailValue,
    VerifyReport,
    canonical_bytes,
    check_details,
)
from facewarden.privacy.clock import Clock, ManualClock, utc_now
from facewarden.privacy.crypto import Envelope, WrappedKey, normalise_id_number
from facewarden.privacy.keys import KEY_BYTES, KeyRing
from facewarden.privacy.template import (
    DEFAULT_DIM,
    TemplateProtector,
    pack_vector,
    renew,
    renewal,
    unpack_vector,
)

__all__ = [
    "DEFAULT_DIM",
    "GENESIS_HASH",
    "KEY_BYTES",
    "AuditChain",
    "AuditEntry",
    "Clock",
    "DetailValue",
    "Envelope",
    "KeyRing",
    "ManualClock",
    "TemplateProtector",
    "VerifyReport",
    "WrappedKey",
    "canonical_bytes",
    "check_details",
    "normalise_id_number",
    "pack_vector",
    "renew",
    "renewal",
    "unpack_vector",
    "utc_now",
]
