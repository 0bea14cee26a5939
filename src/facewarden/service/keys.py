"""Key administration: master-key rotation, destruction of old keys, template renewal.

* :meth:`KeyAdmin.rotate_master` adds a master key, re-encrypts every
  subject's key-encryption key with it, and re-wraps every other data key
  with it in one transaction (the data itself is untouched);
* :meth:`KeyAdmin.destroy_master` then shreds an old master key, refusing
  while any data key still depends on it;
* :meth:`KeyAdmin.rotate_templates` stages a new template seed, re-protects
  every template in one transaction that also records the new seed's id,
  and commits the seed (see :mod:`facewarden.service.keycheck` for how an
  interruption is settled). Identification results do not change: the
  transform preserves similarities.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from facewarden.errors import ConflictError, KeyMaterialError
from facewarden.privacy.crypto import WrappedKey, is_subject_wrapped
from facewarden.privacy.template import TemplateProtector, renew, renewal
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.gallery import open_template, seal_template
from facewarden.service.keycheck import KEY_CHECK, TEMPLATE_KEY, key_check_key, seal_key_check

__all__ = ["KeyAdmin", "KeyStatus", "MasterRotation", "TemplateRotation"]


@dataclass(frozen=True)
class MasterRotation:
    """What :meth:`KeyAdmin.rotate_master` did."""

    new_key_id: str
    rewrapped: int
    retired_key_ids: tuple[str, ...]


@dataclass(frozen=True)
class TemplateRotation:
    """What :meth:`KeyAdmin.rotate_templates` did."""

    old_key_id: str | None
    new_key_id: str
    templates: int


@dataclass(frozen=True)
class KeyStatus:
    """Which keys exist and how many data keys each master key wraps."""

    key_dir: str
    active_master_id: str
    master_key_ids: tuple[str, ...]
    data_keys_by_master: dict[str, int]
    template_key_id: str

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output (ids only, never key bytes)."""
        return {
            "key_dir": self.key_dir,
            "active_master_id": self.active_master_id,
            "master_key_ids": list(self.master_key_ids),
            "data_keys_by_master": self.data_keys_by_master,
            "template_key_id": self.template_key_id,
        }


class KeyAdmin:
    """Rotate and destroy keys, for one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def status(self) -> KeyStatus:
        """Key ids and usage; no key material."""
        self._ctx.ensure_open()
        keyring = self._ctx.keyring
        keyring.reload()
        return KeyStatus(
            str(keyring.path),
            keyring.active_master_id,
            keyring.master_key_ids,
            dict(self._usage()),
            keyring.template_key_id,
        )

    def rotate_master(self) -> MasterRotation:
        """Add a master key, make it active, and re-wrap every data key with it.

        If the transaction fails, the new key stays in the key directory but
        every data key is still wrapped by a key that is also still there:
        nothing becomes unreadable, and the rotation can simply be run again.
        """
        ctx = self._ctx
        with ctx.writing() as tx:
            new_id = ctx.keyring.add_master_key()
            # Subjects' KEKs (in the key directory) are re-encrypted; the data keys
            # they wrap stay as they are in the database.
            count = ctx.keyring.rewrap_subject_keys()
            for subject_id, raw in tx.iter_wrapped_keys():
                wrapped = WrappedKey.from_bytes(raw)
                if is_subject_wrapped(wrapped):
                    continue
                tx.set_wrapped_key(subject_id, ctx.envelope.rewrap(wrapped).to_bytes())
                count += 1
            check = tx.get_meta(KEY_CHECK)
            if check is not None:
                tx.set_meta(
                    KEY_CHECK,
                    seal_key_check(ctx.envelope, ctx.envelope.rewrap(key_check_key(check))),
                )
            self._audit.append(
                tx,
                "keys.rotate_master",
                object_type="key",
                object_id=new_id,
                details={"rewrapped": count},
            )
        retired = tuple(k for k in ctx.keyring.master_key_ids if k != new_id)
        return MasterRotation(new_id, count, retired)

    def destroy_master(self, key_id: str) -> None:
        """Shred an old master key once no data key depends on it.

        Raises:
            ConflictError: data keys are still wrapped by it (rotate first).
            KeyMaterialError: it is the active key, or it does not exist.
        """
        ctx = self._ctx
        with ctx.writing() as tx:
            ctx.keyring.reload()
            if key_id == ctx.keyring.active_master_id:
                raise KeyMaterialError(
                    f"refusing to destroy {key_id}: it is the active master "
                    "key; run `facewarden keys rotate` first"
                )
            if key_id not in ctx.keyring.master_key_ids:
                raise KeyMaterialError(f"master key {key_id!r} is not in {ctx.keyring.path}")
            in_use = self._usage().get(key_id, 0)
            if in_use:
                raise ConflictError(
                    f"{in_use} data key(s) are still wrapped by {key_id}; run "
                    "`facewarden keys rotate` first"
                )
            self._audit.append(tx, "keys.destroy_master", object_type="key", object_id=key_id)
            # Last, inside the transaction: if shredding fails, no audit entry
            # claims it happened.
            ctx.keyring.destroy_master_key(key_id)

    def rotate_templates(self) -> TemplateRotation:
        """Re-protect every template with a fresh secret transform, in one transaction.

        Raises:
            KeyMaterialError: a staged seed is left over (reopen to settle it).
        """
        ctx = self._ctx
        keyring = ctx.keyring
        with ctx.writing(gallery_changes=True) as tx:
            # Staged under the database's write lock, so that another process
            # settling an interrupted rotation at open waits for this one.
            new_id = keyring.new_template_seed()
            try:
                old = ctx.protector
                new = TemplateProtector.from_keyring(keyring, ctx.template_dim, staged=True)
                matrix = renewal(old, new)
                count = 0
                for row in tx.iter_templates():
                    key = WrappedKey.from_bytes(row.wrapped_key)
                    vector = open_template(
                        ctx.envelope, key, row.face_id, row.template, ctx.template_dim
                    )
                    renewed = renew(vector, matrix)
                    tx.set_template(
                        row.face_id, seal_template(ctx.envelope, key, row.face_id, renewed)
                    )
                    if ctx.gallery.in_database:
                        tx.put_face_vector(row.face_id, renewed)
                    count += 1
                tx.set_meta(TEMPLATE_KEY, new_id)
                self._audit.append(
                    tx,
                    "keys.rotate_templates",
                    object_type="key",
                    object_id=new_id,
                    details={"templates": count, "previous": old.key_id},
                )
                ctx.gallery.transform(matrix)
            except BaseException:
                keyring.discard_template_seed()
                ctx.gallery.unload()
                raise
        ctx.protector = new
        try:
            keyring.commit_template_seed(new_id)
        except KeyMaterialError:
            # Another process opening meanwhile may have settled it already.
            keyring.reload()
            if keyring.template_key_id != new_id:
                raise
        return TemplateRotation(old.key_id, new_id, count)

    def _usage(self) -> Counter[str]:
        # Data keys wrapped by a subject's KEK count under the master key that
        # encrypts the KEK.
        usage: Counter[str] = Counter(self._ctx.keyring.subject_key_usage())
        for _, raw in self._ctx.store.iter_wrapped_keys():
            wrapped = WrappedKey.from_bytes(raw)
            if not is_subject_wrapped(wrapped):
                usage[wrapped.master_key_id] += 1
        check = self._ctx.store.get_meta(KEY_CHECK)
        if check is not None:
            usage[key_check_key(check).master_key_id] += 1
        return usage
