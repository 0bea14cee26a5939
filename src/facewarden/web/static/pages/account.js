// Change your own password (POST /v1/auth/password). Every session of yours ends on
// success, this one too: the sign-in screen follows.

import { api, logout } from "../api.js";
import { banner, button, card, errorBanner, field, h, replace } from "../dom.js";

const MIN = 12;

export default async function renderAccount() {
  const current = h("input", { type: "password", name: "current_password", autocomplete: "current-password" });
  const next = h("input", { type: "password", name: "new_password", autocomplete: "new-password", minlength: String(MIN) });
  const again = h("input", { type: "password", name: "confirm_password", autocomplete: "new-password" });
  const why = h("p", { class: "hint disabled-reason", dataset: { testid: "disabled-reason" } });
  const out = h("div", { "aria-live": "polite" });
  const submit = button("Change password", { kind: "primary", type: "submit", disabled: true });
  // A disabled button says why it is disabled.
  const reason = () => {
    if (!current.value) return "Enter your current password.";
    if (next.value.length < MIN) return `The new password needs ${MIN} characters or more.`;
    if (next.value === current.value) return "The new password must differ from the current one.";
    if (again.value !== next.value) return "Type the new password twice, the same both times.";
    return "";
  };
  const form = h(
    "form",
    { class: "form-stack form-narrow", novalidate: true },
    field("Current password", current, { required: true }),
    field("New password", next, { required: true, hint: `${MIN} characters or more. A passphrase of a few words is easy to remember and hard to guess.` }),
    field("New password again", again, { required: true }),
    h("div", { class: "form-row-end" }, why, submit),
  );
  const refresh = () => {
    const r = reason();
    submit.disabled = Boolean(r);
    submit.title = r || "";
    why.textContent = r;
  };
  form.addEventListener("input", refresh);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (reason()) return;
    submit.disabled = true;
    try {
      await api("POST", "/v1/auth/password", { json: { current_password: current.value, new_password: next.value } });
      replace(out, banner("ok", "Password changed", "Every session of yours has ended. Sign in again with the new password."));
      setTimeout(() => logout(), 1500);
    } catch (err) {
      replace(out, errorBanner(err));
      refresh();
    }
  });
  refresh();
  return h("div", { class: "page page-account" }, card("Change your password", [form, out], { subtitle: "Changing it ends every session of yours, this one too." }));
}
