/* Task rows (templates/tasks/partials/task_row.html) on /tasks/ and the deal and account
 * pages. Every action is a plain form that works without this file; this adds:
 * - a 409 answer (the task was closed meanwhile) is swapped in like a success, since the
 *   server sends the row with the reason;
 * - "No next step" closes the "What's next?" prompt without a round trip;
 * - one Snooze/Reassign menu open at a time, closed by a click elsewhere or Escape;
 * - Escape cancels an inline edit; the person switch of the list applies on change.
 */
(() => {
  "use strict";

  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (event.detail.xhr.status === 409 && target instanceof Element && target.matches("[data-task-row]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function closeMenus(except) {
    for (const menu of document.querySelectorAll("details.task-menu[open]")) {
      if (menu !== except) {
        menu.removeAttribute("open");
      }
    }
  }

  document.addEventListener("toggle", (event) => {
    const menu = event.target;
    if (menu instanceof HTMLDetailsElement && menu.matches(".task-menu") && menu.open) {
      closeMenus(menu);
    }
  }, true);

  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) {
      return;
    }
    const dismiss = event.target.closest("[data-dismiss-prompt]");
    if (dismiss) {
      event.preventDefault();
      dismiss.closest("[data-task-row]").remove();
      return;
    }
    if (!event.target.closest("details.task-menu")) {
      closeMenus(null);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !(event.target instanceof Element)) {
      return;
    }
    const edit = event.target.closest("[data-task-edit]");
    const cancel = edit && edit.querySelector("[data-cancel]");
    if (cancel) {
      event.preventDefault();
      cancel.click();
      return;
    }
    closeMenus(null);
  });

  document.addEventListener("change", (event) => {
    const select = event.target;
    if (select instanceof HTMLSelectElement && select.matches("[data-autosubmit]")) {
      select.form.requestSubmit();
    }
  });
})();
