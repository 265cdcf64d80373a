// The instances page: live status (server-sent events, polling as the fallback), the
// "New instance" form, the QR dialog with its 2-minute countdown, disconnect and delete.
"use strict";

(function () {
  const { t, request, announce, openDialog } = window.Mirage;
  const POLL_MS = 4000;
  const QR_REFRESH_MS = 20000;
  const SAFETY_POLL_MS = 10000;

  const rows = document.getElementById("instance-rows");
  const liveState = document.getElementById("live-state");
  const newButton = document.getElementById("new-instance");
  const createDialog = document.getElementById("create-dialog");
  const createForm = document.getElementById("create-form");
  const nameInput = document.getElementById("instance-name");
  const createError = document.getElementById("create-error");
  const createSubmit = document.getElementById("create-submit");
  const confirmDialog = document.getElementById("confirm-dialog");
  const confirmTitle = document.getElementById("confirm-title");
  const confirmText = document.getElementById("confirm-text");
  const confirmError = document.getElementById("confirm-error");
  const confirmYes = document.getElementById("confirm-yes");

  let live = false;
  let pollTimer = null;

  // --- the table --------------------------------------------------------------------------

  let refreshing = null;
  let refreshAgain = false;

  function focusedAction() {
    const element = document.activeElement;
    if (!element || !rows.contains(element)) return null;
    const row = element.closest("tr");
    return row ? { id: row.dataset.instanceId, action: element.dataset.action } : null;
  }

  function restoreFocus(focused) {
    if (!focused) return;
    const row = document.getElementById("instance-" + focused.id);
    const target = row && (row.querySelector('[data-action="' + focused.action + '"]') || row.querySelector("button"));
    if (target) target.focus();
    else document.getElementById("main").focus();
  }

  /** Re-render the rows on the server (one request at a time; a change meanwhile asks again). */
  function refreshRows() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        do {
          refreshAgain = false;
          const html = await request("GET", "/ui/api/instances/rows");
          const focused = focusedAction();
          rows.innerHTML = html;
          restoreFocus(focused);
        } while (refreshAgain);
      } catch (error) {
        // The next event or poll tries again.
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  // --- live updates -------------------------------------------------------------------------

  function setLive(on) {
    live = on;
    liveState.dataset.state = on ? "live" : "polling";
    liveState.textContent = t(on ? "live.on" : "live.polling");
    if (on) stopPolling();
    else startPolling();
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = window.setInterval(() => {
      refreshRows();
      qr.poll(false);
    }, POLL_MS);
  }

  function stopPolling() {
    window.clearInterval(pollTimer);
    pollTimer = null;
  }

  function connectEvents() {
    if (!("EventSource" in window)) {
      setLive(false);
      return;
    }
    const source = new EventSource("/ui/api/events");
    source.addEventListener("snapshot", () => {
      setLive(true);
      refreshRows();
    });
    source.addEventListener("instance.status_changed", (event) => {
      let change;
      try {
        change = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      qr.onStatus(change);
      refreshRows();
    });
    // EventSource reconnects by itself (with Last-Event-ID); meanwhile the page polls.
    source.addEventListener("error", () => setLive(false));
  }

  // --- the QR dialog ------------------------------------------------------------------------

  const qr = {
    dialog: document.getElementById("qr-dialog"),
    title: document.getElementById("qr-title"),
    waiting: document.getElementById("qr-waiting"),
    image: document.getElementById("qr-image"),
    loadingText: document.getElementById("qr-loading"),
    pairing: document.getElementById("qr-pairing"),
    countdownText: document.getElementById("qr-countdown"),
    progress: document.getElementById("qr-progress"),
    done: document.getElementById("qr-done"),
    doneTitle: document.getElementById("qr-done-title"),
    doneText: document.getElementById("qr-done-text"),
    error: document.getElementById("qr-error"),
    closeButton: document.getElementById("qr-close"),
    instance: null,
    expiresAt: 0,
    loading: false,
    paired: false,
    timers: [],

    open(instance, opener) {
      this.stop();
      this.instance = instance;
      this.paired = false;
      this.expiresAt = 0;
      this.title.textContent = t("qr.title", { name: instance.name });
      this.waiting.hidden = false;
      this.image.hidden = true;
      this.image.removeAttribute("src");
      this.image.alt = t("qr.alt", { name: instance.name });
      this.loadingText.hidden = false;
      this.loadingText.textContent = t("qr.loading");
      this.pairing.hidden = true;
      this.countdownText.hidden = true;
      this.progress.hidden = true;
      this.done.hidden = true;
      this.doneTitle.textContent = "";
      this.doneText.textContent = "";
      this.hideError();
      openDialog(this.dialog, opener, this.closeButton);
      this.timers = [
        window.setInterval(() => this.countdown(), 1000),
        // Evolution rotates the code while it waits; a fresh one shows within this period.
        window.setInterval(() => this.load(), QR_REFRESH_MS),
        // Even with the event stream up, a slow check that the scan was not missed.
        window.setInterval(() => this.poll(true), SAFETY_POLL_MS),
      ];
      this.load();
    },

    stop() {
      this.timers.forEach((timer) => window.clearInterval(timer));
      this.timers = [];
    },

    showError(text) {
      this.error.textContent = text;
      this.error.hidden = false;
    },

    hideError() {
      this.error.hidden = true;
      this.error.textContent = "";
    },

    async load() {
      const instance = this.instance;
      if (!instance || this.paired || this.loading) return;
      this.loading = true;
      try {
        const data = await request("GET", "/ui/api/instances/" + instance.id + "/qr");
        if (this.instance !== instance || this.paired) return;
        if (data.connected) {
          this.connected();
          return;
        }
        if (data.qr_data_url) {
          if (this.image.getAttribute("src") !== data.qr_data_url) this.image.src = data.qr_data_url;
          this.image.hidden = false;
          this.loadingText.hidden = true;
        }
        if (data.pairing_code) {
          this.pairing.textContent = t("qr.pairing", { code: data.pairing_code });
          this.pairing.hidden = false;
        }
        if (data.expires_at) {
          // The server's clock decides when the code expires, whatever the browser's says.
          const skew = Date.parse(data.server_time) - Date.now();
          this.expiresAt = Date.parse(data.expires_at) - skew;
        }
        this.hideError();
        this.countdown();
      } catch (error) {
        if (this.instance === instance) this.showError(t("qr.failed", { message: error.message }));
      } finally {
        this.loading = false;
      }
    },

    countdown() {
      if (!this.instance || this.paired || !this.expiresAt) return;
      const left = Math.max(0, Math.ceil((this.expiresAt - Date.now()) / 1000));
      this.countdownText.hidden = false;
      this.progress.hidden = false;
      this.progress.value = left;
      if (left <= 0) {
        // Expired: ask for a new code at once (the server issues one with a fresh 2 minutes).
        this.countdownText.textContent = t("qr.refreshing");
        this.load();
        return;
      }
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      this.countdownText.textContent = t("qr.expires_in", { time: minutes + ":" + seconds });
    },

    onStatus(change) {
      if (!this.instance || change.instance_id !== this.instance.id || this.paired) return;
      if (change.current === "connected") this.connected();
      else if (change.current === "expired") this.load();
      else if (change.current === "disconnected") {
        if (change.reason === "likely_banned" || change.sending_stopped) this.showError(t("qr.banned"));
        else if (change.reason === "logged_out") this.showError(t("qr.logged_out"));
      }
    },

    async poll(always) {
      const instance = this.instance;
      if (!instance || this.paired || (live && !always)) return;
      try {
        const status = await request("GET", "/ui/api/instances/" + instance.id + "/status");
        if (this.instance === instance && status.connected) this.connected();
      } catch (error) {
        // The countdown and the next poll carry on.
      }
    },

    connected() {
      if (!this.instance || this.paired) return;
      this.paired = true;
      this.stop();
      this.hideError();
      this.waiting.hidden = true;
      this.doneTitle.textContent = t("qr.done_title");
      this.doneText.textContent = t("qr.done_text", { name: this.instance.name });
      this.done.hidden = false;
      announce(t("instances.done.paired", { name: this.instance.name }));
      this.closeButton.focus();
      refreshRows();
    },
  };

  qr.dialog.addEventListener("close", () => {
    qr.stop();
    qr.instance = null;
    refreshRows();
  });

  // --- creating -------------------------------------------------------------------------------

  function showCreateError(text) {
    createError.textContent = text;
    createError.hidden = false;
    nameInput.setAttribute("aria-invalid", "true");
    nameInput.focus();
  }

  newButton.addEventListener("click", () => {
    createForm.reset();
    createError.hidden = true;
    nameInput.removeAttribute("aria-invalid");
    openDialog(createDialog, newButton, nameInput);
  });

  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name || !nameInput.checkValidity()) {
      showCreateError(t("error.invalid_instance_name"));
      return;
    }
    createSubmit.disabled = true;
    createSubmit.textContent = t("create.working");
    try {
      const instance = await request("POST", "/ui/api/instances", { name: name });
      createDialog.close();
      announce(t("instances.done.created", { name: instance.name }));
      refreshRows();
      qr.open({ id: instance.id, name: instance.name }, newButton);
    } catch (error) {
      showCreateError(error.message);
    } finally {
      createSubmit.disabled = false;
      createSubmit.textContent = t("create.submit");
    }
  });

  // --- row actions ------------------------------------------------------------------------

  let pending = null;

  function confirmAction(kind, instance, opener) {
    confirmTitle.textContent = t("confirm." + kind + ".title", { name: instance.name });
    confirmText.textContent = t("confirm." + kind + ".text", { name: instance.name });
    confirmYes.textContent = t("confirm." + kind + ".yes");
    confirmError.hidden = true;
    pending = { kind: kind, instance: instance };
    // A destructive choice is never the default: focus starts on Cancel.
    openDialog(confirmDialog, opener, confirmDialog.querySelector("[data-close]"));
  }

  confirmYes.addEventListener("click", async () => {
    if (!pending) return;
    const { kind, instance } = pending;
    confirmYes.disabled = true;
    try {
      if (kind === "delete") await request("DELETE", "/ui/api/instances/" + instance.id);
      else await request("POST", "/ui/api/instances/" + instance.id + "/disconnect");
      pending = null;
      confirmDialog.close();
      announce(t(kind === "delete" ? "instances.done.deleted" : "instances.done.disconnected", { name: instance.name }));
      refreshRows();
    } catch (error) {
      confirmError.textContent = error.message;
      confirmError.hidden = false;
    } finally {
      confirmYes.disabled = false;
    }
  });

  rows.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const instance = { id: row.dataset.instanceId, name: row.dataset.name };
    if (button.dataset.action === "qr") qr.open(instance, button);
    else confirmAction(button.dataset.action, instance, button);
  });

  connectEvents();
})();
