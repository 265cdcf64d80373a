// Mirage dashboard: the new-campaign form. A file over the upload limit is refused here, before
// it travels (the server refuses it too, but a large body may be cut off before any page).
"use strict";

(function () {
  const input = document.getElementById("file");
  const error = document.getElementById("file-size-error");
  if (!input || !error) return;
  const limit = Number(input.dataset.maxBytes || "0");

  function tooLarge() {
    const file = input.files && input.files[0];
    return Boolean(limit && file && file.size > limit);
  }

  function check() {
    const bad = tooLarge();
    error.hidden = !bad;
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== error.id);
    if (bad) described.push(error.id);
    input.setAttribute("aria-describedby", described.join(" "));
    return !bad;
  }

  input.addEventListener("change", check);
  input.form.addEventListener("submit", (event) => {
    if (!check()) {
      event.preventDefault();
      input.focus();
    }
  });
})();
