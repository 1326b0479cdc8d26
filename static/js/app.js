/* What every page does (templates/base.html).
 *
 * A plain form posts once: a second click while its answer is on the way (an impatient
 * double click, a slow network) would save twice, two deals or two contacts. Forms that
 * scripts send (htmx drops a request while one of the same form is in flight) cancel the
 * browser's own submission, so they are left alone.
 */
(() => {
  "use strict";

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method !== "post" || event.defaultPrevented) {
      return;
    }
    if (form.dataset.posting !== undefined) {
      event.preventDefault();
      return;
    }
    form.dataset.posting = "";
  });

  // Back on the page from the browser's history, its forms may post again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      for (const form of document.querySelectorAll("form[data-posting]")) {
        delete form.dataset.posting;
      }
    }
  });
})();
