// Users and API keys (admin only). A new API key is shown exactly once, with a
// copy button and a warning; the server keeps only its hash.

import { api, currentUser } from "../api.js";
import { banner, button, card, field, h, icon, modal, onSubmit, pill, replace, time, toast } from "../dom.js";

const ROLES = [
  { value: "operator", label: "Operator — enroll, search, verify" },
  { value: "investigator", label: "Investigator — subject read, sightings with a case reference" },
  { value: "analyst", label: "Analyst — crowd aggregates only" },
  { value: "auditor", label: "Auditor — audit log only" },
  { value: "admin", label: "Administrator — users, keys, settings" },
];

const MIN_PASSWORD = 12;

export default async function renderAdmin(view) {
  const usersHost = h("div", {});
  const keysHost = h("div", {});
  const reveal = h("div", {});

  async function loadUsers() {
    const { users } = await api("GET", "/v1/users", { signal: view.signal });
    replace(usersHost, usersTable(users, loadUsers));
  }
  async function loadKeys() {
    const { api_keys: keys } = await api("GET", "/v1/api-keys", { signal: view.signal });
    replace(keysHost, keysTable(keys, loadKeys));
  }
  await Promise.all([loadUsers(), loadKeys()]);

  return h(
    "div",
    { class: "page page-admin" },
    h(
      "div",
      { class: "grid-2" },
      card("New user", newUserForm(loadUsers), { subtitle: "Give each person their own account and the least role they need." }),
      card("New API key", newKeyForm(loadKeys, reveal), { subtitle: "For machines and integrations. Shown once; facewarden stores only its hash." }),
    ),
    reveal,
    card("Users", [usersHost], { subtitle: "People who sign in to this console." }),
    card("API keys", [keysHost], { subtitle: "Sent by clients as the X-API-Key header." }),
  );
}

function roleLabel(role) {
  return (ROLES.find((r) => r.value === role) || { label: role }).label.split(" — ")[0];
}

function usersTable(users, reload) {
  if (!users.length) return h("p", { class: "muted" }, "No users.");
  const me = currentUser().username;
  return h(
    "table",
    { class: "table table-compact" },
    h("thead", {}, h("tr", {}, h("th", {}, "Username"), h("th", {}, "Role"), h("th", {}, "Created"), h("th", {}, "Status"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
    h(
      "tbody",
      {},
      users.map((u) => {
        let action = null;
        if (!u.disabled && u.username !== me) {
          action = button("Disable", { kind: "ghost", class: "btn btn-ghost btn-small btn-danger-text" });
          action.addEventListener("click", async () => {
            const done = await modal({
              title: `Disable ${u.username}?`,
              body: h("p", {}, "They are signed out and can no longer sign in. Their past actions stay in the audit log."),
              confirmLabel: "Disable user",
              kind: "danger",
              onConfirm: () => api("DELETE", `/v1/users/${encodeURIComponent(u.username)}`).then(() => true),
            });
            if (done) {
              toast(`${u.username} disabled`);
              reload();
            }
          });
        }
        return h(
          "tr",
          { dataset: { user: u.username } },
          h("td", { class: "strong" }, u.username, u.username === me ? h("span", { class: "muted" }, " (you)") : null),
          h("td", {}, pill(roleLabel(u.role), u.role === "admin" ? "info" : "neutral")),
          h("td", {}, time(u.created_at, { withTime: false })),
          h("td", {}, u.disabled ? pill("Disabled", "danger") : pill("Active", "ok")),
          h("td", { class: "row-action" }, action),
        );
      }),
    ),
  );
}

function keysTable(keys, reload) {
  if (!keys.length) return h("p", { class: "muted" }, "No API keys yet.");
  const now = Date.now();
  return h(
    "table",
    { class: "table table-compact" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Key id"), h("th", {}, "Role"), h("th", {}, "Created"), h("th", {}, "Expires"), h("th", {}, "Status"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
    h(
      "tbody",
      {},
      keys.map((k) => {
        const expired = k.expires_at && new Date(k.expires_at).getTime() < now;
        let action = null;
        if (!k.revoked) {
          action = button("Revoke", { kind: "ghost", class: "btn btn-ghost btn-small btn-danger-text" });
          action.addEventListener("click", async () => {
            const done = await modal({
              title: `Revoke key "${k.name}"?`,
              body: h("p", {}, "Every client using this key loses access immediately. This cannot be undone."),
              confirmLabel: "Revoke key",
              kind: "danger",
              onConfirm: () => api("DELETE", `/v1/api-keys/${encodeURIComponent(k.key_id)}`).then(() => true),
            });
            if (done) {
              toast("Key revoked");
              reload();
            }
          });
        }
        return h(
          "tr",
          { dataset: { key: k.key_id } },
          h("td", { class: "strong" }, k.name),
          h("td", { class: "mono muted" }, k.key_id),
          h("td", {}, pill(roleLabel(k.role), "neutral")),
          h("td", {}, time(k.created_at, { withTime: false })),
          h("td", {}, k.expires_at ? time(k.expires_at, { withTime: false }) : h("span", { class: "muted" }, "Never")),
          h("td", {}, k.revoked ? pill("Revoked", "danger") : expired ? pill("Expired", "warn") : pill("Active", "ok")),
          h("td", { class: "row-action" }, action),
        );
      }),
    ),
  );
}

function roleSelect(name) {
  return h("select", { name }, ROLES.map((r) => h("option", { value: r.value, selected: r.value === "operator" }, r.label)));
}

function newUserForm(reload) {
  const username = h("input", { type: "text", name: "new-username", autocomplete: "off", autocapitalize: "none", spellcheck: "false", maxlength: "64" });
  const password = h("input", { type: "password", name: "new-password", autocomplete: "new-password", minlength: String(MIN_PASSWORD) });
  const role = roleSelect("new-role");
  const messages = h("div", {});
  const submit = button("Create user", { kind: "primary", type: "submit", iconName: "plus", disabled: true });
  const form = h(
    "form",
    { class: "form-stack", novalidate: true },
    field("Username", username, { required: true }),
    field("Initial password", password, { required: true, hint: `At least ${MIN_PASSWORD} characters. Hand it over in person or through a secure channel.` }),
    field("Role", role),
    messages,
    h("div", { class: "form-row-end" }, submit),
  );
  const refresh = () => {
    submit.disabled = !(username.value.trim() && password.value.length >= MIN_PASSWORD);
  };
  form.addEventListener("input", refresh);
  onSubmit(form, {
    submit,
    messages,
    refresh,
    send: async () => {
      const u = await api("POST", "/v1/users", { json: { username: username.value.trim(), password: password.value, role: role.value } });
      toast(`User ${u.username} created`);
      form.reset();
      await reload();
    },
    after: () => {
      password.value = "";
    },
  });
  return form;
}

function newKeyForm(reload, reveal) {
  const name = h("input", { type: "text", name: "key-name", autocomplete: "off", maxlength: "64", placeholder: "e.g. gate-b-turnstile" });
  const role = roleSelect("key-role");
  const expires = h("select", { name: "key-expires" }, [["30", "30 days"], ["90", "90 days"], ["365", "1 year"], ["", "Never"]].map(([v, l]) => h("option", { value: v, selected: v === "90" }, l)));
  const messages = h("div", {});
  const submit = button("Create API key", { kind: "primary", type: "submit", iconName: "keys", disabled: true });
  const form = h(
    "form",
    { class: "form-stack", novalidate: true },
    field("Name", name, { required: true, hint: "What uses the key, so it can be found and revoked later." }),
    h("div", { class: "form-grid" }, field("Role", role), field("Expires after", expires)),
    messages,
    h("div", { class: "form-row-end" }, submit),
  );
  const refresh = () => {
    submit.disabled = !name.value.trim();
  };
  form.addEventListener("input", refresh);
  onSubmit(form, {
    submit,
    messages,
    refresh,
    send: async () => {
      const body = { name: name.value.trim(), role: role.value, expires_in_days: expires.value ? Number(expires.value) : null };
      const created = await api("POST", "/v1/api-keys", { json: body });
      replace(reveal, keyReveal(created, () => replace(reveal)));
      reveal.scrollIntoView({ behavior: "smooth", block: "center" });
      form.reset();
      await reload();
    },
  });
  return form;
}

function keyReveal(created, dismiss) {
  const value = h("input", { type: "text", readonly: true, class: "mono key-value", "aria-label": "New API key", dataset: { testid: "new-api-key" } });
  value.value = created.api_key;
  value.addEventListener("focus", () => value.select());
  const copy = button("Copy", { kind: "primary", iconName: "copy" });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(created.api_key);
      toast("API key copied");
    } catch {
      value.focus();
      value.select();
      toast("Press Ctrl+C to copy the selected key", "warn");
    }
  });
  const done = button("I have stored the key", { kind: "secondary", iconName: "check" });
  done.addEventListener("click", () => {
    value.value = "";
    dismiss();
  });
  return h(
    "section",
    { class: "card key-reveal" },
    banner("warn", `Copy the key for "${created.name}" now`, "It will not be shown again: facewarden keeps only a hash. Store it in your secrets manager; anyone holding it acts with its role."),
    h("div", { class: "key-row" }, value, copy),
    h("div", { class: "form-row-end" }, done),
    h("p", { class: "hint" }, icon("info"), " Send it as the X-API-Key header. Revoke it here if it is ever exposed."),
  );
}
