"""The roles of SECURITY.md, and the authenticated caller (:class:`Principal`) holding one.

``admin`` (users, keys, settings, audit; and everything an operator may),
``operator`` (enroll, identify, verify), ``investigator`` (sighting history
with a case reference; subject read), ``analyst`` (crowd aggregates only),
``auditor`` (the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facewarden.service.records import invalid_input

__all__ = ["ROLES", "Principal", "check_role", "expand_roles"]

ROLES: tuple[str, ...] = ("admin", "operator", "investigator", "analyst", "auditor")
"""Every role, most privileged first."""

# An admin may do everything an operator may (SECURITY.md promise 4), and read
# the audit log; no other role includes another.
_INCLUDED: dict[str, frozenset[str]] = {"admin": frozenset({"operator", "auditor"})}


def expand_roles(roles: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The roles that may act where ``roles`` are allowed (admin included where operator is)."""
    allowed = set(roles)
    for role, included in _INCLUDED.items():
        if allowed & included:
            allowed.add(role)
    return frozenset(allowed)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a signed-in user or an API key, with its role."""

    kind: Literal["user", "key"]
    name: str
    role: str

    @property
    def actor(self) -> str:
        """How the audit log names this caller (``user:alice``, ``key:0123abcd...``)."""
        return f"{self.kind}:{self.name}"

    def may(self, *roles: str) -> bool:
        """True when this caller's role is among ``roles`` (admin counts as operator)."""
        return self.role in expand_roles(roles)


def check_role(role: str) -> str:
    """``role``, checked to be one of :data:`ROLES`.

    Raises:
        InvalidInputError: an unknown role.
    """
    if role not in ROLES:
        raise invalid_input(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    return role
