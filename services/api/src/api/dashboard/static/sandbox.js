// The persona sandbox: type as a contact, see the persona's reply. The chat lives only in
// this page's memory and is sent whole with each message; nothing is stored or sent.
"use strict";

(function () {
  const { t, request, announce } = window.Mirage;
  const MAX_TURNS = 50;
  const root = document.getElementById("sandbox");
  if (!root) return;
  const personaId = root.dataset.personaId;
  const personaName = root.dataset.personaName;
  const transcript = document.getElementById("sandbox-transcript");
  const empty = document.getElementById("sandbox-empty");
  const meta = document.getElementById("sandbox-meta");
  const errorText = document.getElementById("sandbox-error");
  const form = document.getElementById("sandbox-form");
  const input = document.getElementById("sandbox-message");
  const sendButton = document.getElementById("sandbox-send");
  const resetButton = document.getElementById("sandbox-reset");
  const turns = [];

  function add(side, who, text) {
    const item = document.createElement("li");
    item.className = "msg " + side;
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const author = document.createElement("p");
    author.className = "who";
    author.textContent = who;
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    bubble.append(author, body);
    item.append(bubble);
    transcript.append(item);
    empty.hidden = true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || sendButton.disabled) return;
    errorText.hidden = true;
    add("inbound", t("sandbox.contact"), text);
    turns.push({ role: "contact", text: text });
    input.value = "";
    sendButton.disabled = true;
    meta.textContent = t("sandbox.thinking");
    try {
      const answer = await request("POST", "/ui/api/personas/" + personaId + "/sandbox", {
        messages: turns.slice(-MAX_TURNS),
      });
      answer.parts.forEach((part) => add("outbound", personaName, part));
      turns.push({ role: "persona", text: answer.reply });
      meta.textContent = answer.offline
        ? t("sandbox.offline")
        : t("sandbox.meta", { model: answer.model, ms: answer.latency_ms });
    } catch (error) {
      meta.textContent = "";
      errorText.textContent = error.message;
      errorText.hidden = false;
      announce(error.message);
    } finally {
      sendButton.disabled = false;
      input.focus();
    }
  });

  // Enter sends, Shift+Enter starts a new line (as in WhatsApp Web).
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  resetButton.addEventListener("click", () => {
    turns.length = 0;
    transcript.replaceChildren();
    empty.hidden = false;
    meta.textContent = "";
    errorText.hidden = true;
    input.focus();
  });
})();
