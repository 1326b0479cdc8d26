/* What every page does (templates/base.html).
 *
 * A plain form posts once: a second click while its answer is on the way (an impatient
 * double click, a slow network) would save twice, two deals or two contacts. Forms that
 * scripts send (htmx drops a request while one of the same form is in flight) cancel the
 * browser's own submission, so they are left alone.
 *
 * A change made in place (htmx) that the server refused or never got says so in the
 * error toast (templates/includes/error_toast.html), and a form marked
 * data-reset-on-error shows its saved state again: htmx alone would leave the page as if
 * the change had been saved. A change saved whose email or job will go out later (the job
 * queue was unreachable) says that in the same toast, as a notice: the server names it in
 * a "job-deferred" event (HX-Trigger; pipeline_crm/jobs.py). The board's script, which
 * posts with fetch, hands its answers to PipelineCRM.noticeFrom for the same.
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

  const NOT_ALLOWED = "You may not change this. Reload the page to see it as it is now.";
  const GONE =
    "This is no longer here for you: removed, or given to someone outside your team. Reload the page.";
  const FAILED =
    "The server failed on this, so it may not have been saved. Reload the page to check, then try again.";
  const OFFLINE =
    "The server could not be reached, so this was not saved. Check the connection and try again.";
  // Longer plain-text answers are not messages meant for a toast.
  const MESSAGE_MAX = 300;

  const JOB_DEFERRED_EVENT = "job-deferred";

  /** The page's toast, red with `text` for an error, amber for a notice. */
  function showToast(text, { notice = false } = {}) {
    const toast = document.querySelector("[data-error-toast]");
    if (!toast || typeof bootstrap === "undefined") {
      return;
    }
    toast.classList.toggle("text-bg-danger", !notice);
    toast.classList.toggle("text-bg-warning", notice);
    toast.querySelector(".btn-close")?.classList.toggle("btn-close-white", !notice);
    toast.setAttribute("role", notice ? "status" : "alert");
    toast.setAttribute("aria-live", notice ? "polite" : "assertive");
    toast.querySelector("[data-toast-text]").textContent = text;
    bootstrap.Toast.getOrCreateInstance(toast).show();
  }

  function showError(text) {
    showToast(text);
  }

  document.addEventListener(JOB_DEFERRED_EVENT, (event) => {
    showToast(event.detail.text, { notice: true });
  });

  window.PipelineCRM = {
    showToast,
    /** Show the notice a fetch answer carries in its HX-Trigger header, if any. */
    noticeFrom(response) {
      try {
        const events = JSON.parse(response.headers.get("HX-Trigger") || "{}");
        if (events[JOB_DEFERRED_EVENT]) {
          showToast(events[JOB_DEFERRED_EVENT].text, { notice: true });
        }
      } catch {
        // Not JSON: a plain event name, which carries no notice.
      }
    },
  };

  /** The server's own reason when it sent one as plain text, else one for the status. */
  function reason(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    const text = type.startsWith("text/plain") ? xhr.responseText.trim() : "";
    if (text && text.length <= MESSAGE_MAX) {
      return text;
    }
    if (xhr.status === 403) {
      return NOT_ALLOWED;
    }
    return xhr.status === 404 ? GONE : FAILED;
  }

  /** A form that saves on each change (BANT) shows again what is saved. */
  function undo(event) {
    const form = event.detail.elt;
    if (form instanceof HTMLFormElement && form.matches("[data-reset-on-error]")) {
      form.reset();
    }
  }

  document.addEventListener("htmx:responseError", (event) => {
    undo(event);
    showError(reason(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", (event) => {
    undo(event);
    showError(OFFLINE);
  });
})();
