// Sign-in: username and password to POST /v1/auth/login. The session cookie is
// HttpOnly; the CSRF token it returns stays in memory (api.js).

import { login } from "../api.js";
import { banner, button, errorBanner, field, h, replace } from "../dom.js";

export default function renderLogin({ notice = null, onSignedIn }) {
  const username = h("input", { type: "text", name: "username", autocomplete: "username", autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password" });
  const messages = h("div", { class: "login-messages" }, notice ? banner("info", notice) : null);
  const submit = button("Sign in", { kind: "primary", type: "submit", class: "btn btn-primary btn-block" });
  const form = h(
    "form",
    { class: "login-form", novalidate: true },
    field("Username", username, { required: true }),
    field("Password", password, { required: true }),
    messages,
    submit,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!username.value.trim() || !password.value) {
      replace(messages, banner("warn", "Enter your username and password."));
      return;
    }
    submit.disabled = true;
    replace(messages);
    try {
      await login(username.value.trim(), password.value);
      password.value = "";
      onSignedIn();
    } catch (err) {
      password.value = "";
      // A refused sign-in says only that: never which of the two was wrong.
      if (err && err.status === 401) replace(messages, banner("danger", "Wrong username or password", "Check both and try again. Repeated failures lock the account for a while."));
      else replace(messages, errorBanner(err));
      submit.disabled = false;
      password.focus();
    }
  });
  queueMicrotask(() => username.focus());
  return h(
    "div",
    { class: "login-screen" },
    h(
      "div",
      { class: "login-panel" },
      h(
        "div",
        { class: "login-brand" },
        h("img", { src: "logo.svg", alt: "", width: "56", height: "56" }),
        h("div", {}, h("div", { class: "login-product" }, "facewarden"), h("div", { class: "login-tag" }, "Operator console")),
      ),
      h("h1", { class: "login-title" }, "Sign in"),
      h("p", { class: "login-lead" }, "Use the account your administrator gave you."),
      form,
    ),
    h(
      "p",
      { class: "login-foot" },
      "Authorised personnel only. Sign-ins and every action taken in this console are recorded in a tamper-evident audit log.",
    ),
  );
}
