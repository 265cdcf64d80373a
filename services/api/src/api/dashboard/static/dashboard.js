// Mirage dashboard: what every page shares. Plain JavaScript, no build step, no CDN.
"use strict";

(function () {
  const catalogElement = document.getElementById("i18n");
  const messages = catalogElement ? JSON.parse(catalogElement.textContent || "{}") : {};

  /** The message `key` of the page's language, with `{name}` placeholders filled. */
  function t(key, params) {
    let text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    for (const [name, value] of Object.entries(params || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  class RequestError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function describe(code, message) {
    const key = "error." + code;
    return Object.prototype.hasOwnProperty.call(messages, key)
      ? t(key, { message: message })
      : t("error.generic", { message: message });
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /** A same-origin request with the session's CSRF token; JSON in and out (or text). */
  async function request(method, url, body) {
    const headers = { Accept: "application/json, text/html" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      throw new RequestError(0, "network", t("error.network"));
    }
    const type = response.headers.get("content-type") || "";
    if (response.status === 401) {
      window.location.assign("/ui/login?next=" + encodeURIComponent(window.location.pathname));
      throw new RequestError(401, "unauthorized", t("error.unauthorized"));
    }
    if (!response.ok) {
      let code = "http_error";
      let message = response.statusText || String(response.status);
      if (type.includes("json")) {
        const data = await response.json().catch(() => ({}));
        if (data && data.error) {
          code = data.error.code || code;
          message = data.error.message || message;
        }
      }
      throw new RequestError(response.status, code, describe(code, message));
    }
    return type.includes("json") ? response.json() : response.text();
  }

  /** Say `text` to screen readers (the polite live region of the page). */
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region) return;
    region.textContent = "";
    window.requestAnimationFrame(() => {
      region.textContent = text;
    });
  }

  /**
   * Open a native modal <dialog>: the rest of the page is inert, Tab stays inside and
   * Escape closes it. Focus goes to its first field (or `focus`) and back to the opener.
   */
  function openDialog(dialog, opener, focus) {
    dialog.mirageOpener = opener || document.activeElement;
    if (!dialog.open) dialog.showModal();
    const target =
      focus ||
      dialog.querySelector("[autofocus]") ||
      dialog.querySelector("input:not([type=hidden]), textarea, select") ||
      dialog.querySelector("button");
    if (target) target.focus();
  }

  document.addEventListener(
    "close",
    (event) => {
      const dialog = event.target;
      if (!(dialog instanceof HTMLDialogElement)) return;
      if (document.querySelector("dialog[open]")) return; // another dialog took over
      const opener = dialog.mirageOpener;
      if (opener && opener.isConnected && !opener.disabled) {
        opener.focus();
      } else {
        const main = document.getElementById("main");
        if (main) main.focus();
      }
    },
    true,
  );

  document.addEventListener("click", (event) => {
    const closer = event.target.closest("[data-close]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) dialog.close();
    }
  });

  // Forms that destroy something ask first.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  window.Mirage = { t: t, request: request, announce: announce, openDialog: openDialog, RequestError: RequestError };
})();
