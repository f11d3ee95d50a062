/* The contacts list's bulk bar: tick every row of the page at once, and show only the input
   the chosen action needs. Without JavaScript every input shows and the server checks. */
(function () {
  "use strict";

  function fit(form) {
    const action = form.querySelector("[data-bulk-action]").value;
    form.querySelectorAll("[data-for]").forEach((input) => {
      input.hidden = !input.dataset.for.split(" ").includes(action);
    });
  }

  function wire(root) {
    const form = root.querySelector("#bulk-form");
    if (!form || form.dataset.wired) return;
    form.dataset.wired = "1";
    form.querySelector("[data-bulk-action]").addEventListener("change", () => fit(form));
    fit(form);
    const all = root.querySelector("[data-select-page]");
    if (all) {
      all.addEventListener("change", () => {
        document.querySelectorAll('input[name="ids"][form="bulk-form"]').forEach((box) => {
          box.checked = all.checked;
        });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => wire(document));
  // The results (and this bar) are swapped in again when the filters change.
  document.addEventListener("htmx:afterSettle", () => wire(document));
})();
