// Mirage dashboard: the weekly-grid editor. The grid is plain checkboxes (it works without this
// script); this adds arrow-key movement (one Tab stop per grid), painting cells by dragging the
// pointer, a few presets and a live count. No library.
"use strict";

(function () {
  const t = window.Mirage ? window.Mirage.t : (key) => key;

  function setup(grid) {
    const boxes = Array.from(grid.querySelectorAll('input[type="checkbox"][name="cell"]'));
    if (!boxes.length) return;
    const at = new Map(boxes.map((box) => [box.dataset.day + ":" + box.dataset.hour, box]));
    const summary = grid.querySelector("[data-grid-summary]");
    const tools = grid.querySelector(".grid-tools");
    if (tools) tools.hidden = false;

    function count() {
      if (summary) summary.textContent = t("grid.summary", { count: boxes.filter((b) => b.checked).length });
    }

    // Roving tabindex: Tab enters the grid once, arrows move inside it.
    function focusable(box) {
      for (const other of boxes) other.tabIndex = other === box ? 0 : -1;
    }
    focusable(boxes.find((box) => box.checked) || boxes[0]);

    grid.addEventListener("keydown", (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || box.name !== "cell") return;
      let day = Number(box.dataset.day);
      let hour = Number(box.dataset.hour);
      const moves = {
        ArrowLeft: [0, -1],
        ArrowRight: [0, 1],
        ArrowUp: [-1, 0],
        ArrowDown: [1, 0],
        Home: [0, -hour],
        End: [0, 23 - hour],
      };
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      day = Math.min(6, Math.max(0, day + move[0]));
      hour = Math.min(23, Math.max(0, hour + move[1]));
      const next = at.get(day + ":" + hour);
      if (next) {
        focusable(next);
        next.focus();
      }
    });
    grid.addEventListener("focusin", (event) => {
      if (event.target instanceof HTMLInputElement && event.target.name === "cell") focusable(event.target);
    });
    grid.addEventListener("change", count);

    // Painting: press on a cell and drag across others to give them the first cell's new state.
    let painting = null;
    grid.addEventListener("pointerdown", (event) => {
      const box = event.target.closest('input[name="cell"]') || (event.target.querySelector && event.target.querySelector('input[name="cell"]'));
      if (!box || event.button !== 0) return;
      event.preventDefault();
      painting = !box.checked;
      box.checked = painting;
      box.focus();
      count();
    });
    grid.addEventListener("pointerover", (event) => {
      if (painting === null) return;
      const cell = event.target.closest("td");
      const box = cell && cell.querySelector('input[name="cell"]');
      if (box && box.checked !== painting) {
        box.checked = painting;
        count();
      }
    });
    document.addEventListener("pointerup", () => {
      painting = null;
    });
    // A click that followed a paint must not toggle the box back.
    grid.addEventListener("click", (event) => {
      if (event.target instanceof HTMLInputElement && event.target.name === "cell" && event.detail > 0) {
        event.preventDefault();
      }
    });

    grid.addEventListener("click", (event) => {
      const button = event.target.closest("[data-grid-preset]");
      if (!button) return;
      const preset = button.dataset.gridPreset;
      for (const box of boxes) {
        const day = Number(box.dataset.day);
        const hour = Number(box.dataset.hour);
        if (preset === "business") box.checked = day < 5 && hour >= 9 && hour < 18;
        else if (preset === "waking") box.checked = hour >= 8 && hour < 22;
        else box.checked = false;
      }
      count();
      if (window.Mirage) window.Mirage.announce(summary ? summary.textContent : "");
    });
    count();
  }

  document.querySelectorAll(".week-grid").forEach(setup);
})();
