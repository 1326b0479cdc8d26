/* The deal and account pages (templates/deals/detail.html, account_detail.html).
 * Escape cancels an inline edit (by clicking its Cancel link, which htmx turns into a GET
 * of the field's value) and closes the activity form; Cancel closes the activity form
 * without a round trip. Every control also works without this file.
 */
(() => {
  "use strict";

  function clearSlot(slot) {
    slot.replaceChildren();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !(event.target instanceof Element)) {
      return;
    }
    const inlineEdit = event.target.closest("[data-inline-edit]");
    if (inlineEdit) {
      const cancel = inlineEdit.querySelector("[data-cancel]");
      if (cancel) {
        event.preventDefault();
        cancel.click();
      }
      return;
    }
    const slot = event.target.closest("#activity-form-slot");
    if (slot) {
      event.preventDefault();
      clearSlot(slot);
    }
  });

  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) {
      return;
    }
    const dismiss = event.target.closest("[data-dismiss-slot]");
    const slot = dismiss && dismiss.closest("#activity-form-slot");
    if (slot) {
      event.preventDefault();
      clearSlot(slot);
    }
  });
})();
