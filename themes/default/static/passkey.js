// Passkey ceremonies for idp's hosted pages: sign-in (button and autofill), the passkey as a
// second factor, and registration on the account page. The server keeps every challenge;
// this script only carries options to navigator.credentials and the results back, converting
// between ArrayBuffers and the base64url strings of the WebAuthn JSON forms.
"use strict";
(() => {
  const toBuffer = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body ?? {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.message || "Something went wrong. Please try again.");
      error.code = data.error;
      throw error;
    }
    return data;
  }

  const requestOptions = ({ publicKey }) => ({
    ...publicKey,
    challenge: toBuffer(publicKey.challenge),
    allowCredentials: (publicKey.allowCredentials || []).map((c) => ({ ...c, id: toBuffer(c.id) })),
  });

  const creationOptions = ({ publicKey }) => ({
    ...publicKey,
    challenge: toBuffer(publicKey.challenge),
    user: { ...publicKey.user, id: toBuffer(publicKey.user.id) },
    excludeCredentials: (publicKey.excludeCredentials || []).map((c) => ({ ...c, id: toBuffer(c.id) })),
  });

  const assertionJson = (credential) => ({
    id: credential.id,
    rawId: toText(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toText(credential.response.authenticatorData),
      clientDataJSON: toText(credential.response.clientDataJSON),
      signature: toText(credential.response.signature),
      userHandle: credential.response.userHandle ? toText(credential.response.userHandle) : null,
    },
    extensions: credential.getClientExtensionResults(),
  });

  const attestationJson = (credential) => ({
    id: credential.id,
    rawId: toText(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: toText(credential.response.attestationObject),
      clientDataJSON: toText(credential.response.clientDataJSON),
      transports: credential.response.getTransports ? credential.response.getTransports() : [],
    },
    extensions: credential.getClientExtensionResults(),
  });

  const supported = () => Boolean(window.PublicKeyCredential && navigator.credentials);
  const cancelled = (error) => error && (error.name === "AbortError" || error.name === "NotAllowedError");

  // Sign-in, or the second factor: the server knows from the sign-in's step which one.
  function setUpSignIn(box, { autofill }) {
    const tx = box.dataset.tx;
    const button = box.querySelector("[data-passkey-start]");
    const status = box.querySelector("[data-passkey-status]");
    let pendingAutofill = null;

    async function run(conditional) {
      const begin = await post("/login/passkey/begin", { tx, conditional });
      const options = { publicKey: requestOptions(begin.options) };
      if (conditional) {
        pendingAutofill = new AbortController();
        options.mediation = "conditional";
        options.signal = pendingAutofill.signal;
      }
      const credential = await navigator.credentials.get(options);
      if (!credential) return;
      status.textContent = "Signing you in…";
      const done = await post("/login/passkey/finish", {
        tx,
        ceremony: begin.ceremony,
        credential: assertionJson(credential),
      });
      window.location.assign(done.redirect);
    }

    if (!supported()) {
      button.disabled = true;
      status.textContent = "This browser cannot use passkeys.";
      return;
    }
    button.addEventListener("click", async () => {
      if (pendingAutofill) pendingAutofill.abort();
      button.disabled = true;
      status.textContent = "Follow your browser's instructions to use your passkey.";
      try {
        await run(false);
      } catch (error) {
        status.textContent = cancelled(error)
          ? "The passkey request was cancelled. You can try again."
          : error.message;
        button.disabled = false;
      }
    });
    if (autofill && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
        if (!available) return;
        run(true).catch((error) => {
          if (!cancelled(error)) status.textContent = error.message;
        });
      });
    }
  }

  // Registration: on the account page, or during sign-in when a second factor is required
  // (then bound to the sign-in, `data-tx`).
  function setUpRegistration(box) {
    const tx = box.dataset.tx;
    const urls = tx
      ? { begin: "/login/enroll/passkey/begin", finish: "/login/enroll/passkey/finish" }
      : { begin: "/account/api/passkeys/register/begin", finish: "/account/api/passkeys/register/finish" };
    const button = box.querySelector("[data-passkey-start]");
    const status = box.querySelector("[data-passkey-status]");
    const name = box.querySelector("#passkey-name");
    if (!supported()) {
      button.disabled = true;
      status.textContent = "This browser cannot create passkeys.";
      return;
    }
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "Follow your browser's instructions to create your passkey.";
      try {
        const begin = await post(urls.begin, tx ? { tx } : {});
        const credential = await navigator.credentials.create({ publicKey: creationOptions(begin.options) });
        const done = await post(urls.finish, {
          tx,
          ceremony: begin.ceremony,
          name: name.value,
          credential: attestationJson(credential),
        });
        status.textContent = "Passkey added.";
        window.location.assign(done.redirect || "/account");
      } catch (error) {
        if (error.code === "reauthentication_required") {
          status.textContent = error.message;
          window.location.assign("/account/reauthenticate");
          return;
        }
        status.textContent = cancelled(error)
          ? "Creating the passkey was cancelled. You can try again."
          : error.message;
        button.disabled = false;
      }
    });
  }

  // Sign-up: check the new account, make its passkey, and only then is the account created.
  function setUpSignup(form) {
    const status = form.querySelector("[data-signup-status]");
    const button = form.querySelector("[data-signup-start]");
    if (!supported()) {
      button.disabled = true;
      status.textContent = "This browser cannot create passkeys.";
      return;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      status.textContent = "Follow your browser's instructions to create your passkey.";
      const tx = form.dataset.tx;
      try {
        const begin = await post("/signup/passkey/begin", {
          tx,
          invite: form.dataset.invite || null,
          username: form.querySelector("#username").value,
          display_name: form.querySelector("#display-name").value,
          email: form.querySelector("#email").value,
        });
        const credential = await navigator.credentials.create({ publicKey: creationOptions(begin.options) });
        status.textContent = "Creating your account…";
        const done = await post("/signup/passkey/finish", {
          tx,
          ceremony: begin.ceremony,
          credential: attestationJson(credential),
        });
        window.location.assign(done.redirect);
      } catch (error) {
        status.textContent = cancelled(error)
          ? "Creating the passkey was cancelled. Your account was not created; you can try again."
          : error.message;
        button.disabled = false;
      }
    });
  }

  // The account page's "Copy recovery codes" button.
  document.querySelectorAll("[data-copy-codes]").forEach((button) => {
    button.addEventListener("click", async () => {
      const codes = document.querySelector("[data-recovery-codes]")?.textContent ?? "";
      try {
        await navigator.clipboard.writeText(codes.trim());
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select the codes and copy them";
      }
    });
  });

  document.querySelectorAll("[data-passkey-sign-in]").forEach((box) => setUpSignIn(box, { autofill: true }));
  document.querySelectorAll("[data-passkey-second-factor]").forEach((box) => setUpSignIn(box, { autofill: false }));
  document.querySelectorAll("[data-passkey-register], [data-passkey-enroll]").forEach(setUpRegistration);
  document.querySelectorAll("[data-signup]").forEach(setUpSignup);
})();
