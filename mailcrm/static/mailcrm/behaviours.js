// Small behaviours that used to be inline event handlers (onclick="…", onsubmit="…"): the
// content security policy allows no inline script, so they are wired here, by data attribute.
//   data-select-on-click   a read-only field selects its whole value when clicked (secrets, links)
//   data-confirm="…"       a form asks before it submits
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const field = event.target.closest("[data-select-on-click]");
    if (field && typeof field.select === "function") field.select();
  });
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
})();
