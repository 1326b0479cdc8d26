/* The deal board (templates/deals/board.html): drag cards between columns, reorder them,
 * close them on the won/lost drop zones. Every drop is a POST to the same view as the
 * "Move to…" form; the server answers with the re-rendered card and the headers of the two
 * columns it touched, which this script adds up into the board's summary, or with JSON
 * explaining a refusal, and the card goes back where the server says it is.
 * Needs Sortable (vendor/sortablejs), bootstrap, htmx and js/app.js (its toast), all loaded
 * before this file.
 */
(() => {
  "use strict";

  const board = document.getElementById("board");
  if (!board || typeof Sortable === "undefined") {
    return;
  }

  const GROUP = "board";
  const FALLBACK_ERROR = "The deal could not be moved. Check your connection and try again.";
  const lostDialog = document.getElementById("lost-dialog");

  // --- Helpers -------------------------------------------------------------------------

  function csrfToken() {
    try {
      const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      const key = Object.keys(headers).find((name) => name.toLowerCase() === "x-csrftoken");
      return key ? headers[key] : "";
    } catch {
      return "";
    }
  }

  function moveUrl(dealId) {
    return board.dataset.moveUrl.replace("/0/", `/${dealId}/`) + window.location.search;
  }

  function cardsOf(list) {
    return Array.from(list.children).filter((child) => child.matches(".deal-card"));
  }

  /** Put `card` at index `index` among the cards of `list` (before "Load more"). */
  function placeAt(list, card, index) {
    const others = cardsOf(list).filter((other) => other !== card);
    const before = others[index] || list.querySelector(":scope > .load-more");
    list.insertBefore(card, before || null);
  }

  function columnList(stageId) {
    return board.querySelector(`.column-cards[data-stage-id="${CSS.escape(String(stageId))}"]`);
  }

  function setBusy(card, busy) {
    card.classList.toggle("is-busy", busy);
    if (busy) {
      card.setAttribute("aria-busy", "true");
    } else {
      card.removeAttribute("aria-busy");
    }
  }

  /** The page's toast (#board-toast, above the columns; static/js/app.js shows it). */
  function showToast(text) {
    window.PipelineCRM?.showToast(text || FALLBACK_ERROR);
  }

  /** Let htmx wire up attributes (hx-get…) in content inserted by this script. */
  function activate(element) {
    if (window.htmx) {
      htmx.process(element);
    }
  }

  function cardTitle(card) {
    const title = card.querySelector(".deal-title");
    return title ? title.textContent.trim() : "this deal";
  }

  // --- Applying the server's answer ----------------------------------------------------

  const wholeDollars = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  /** The summary is the sum of the column headers, as the server renders it on load. */
  function refreshSummary() {
    const sums = { count: 0, total: 0, weighted: 0 };
    for (const header of board.querySelectorAll(".column-header[data-count]")) {
      for (const name of Object.keys(sums)) {
        sums[name] += Number(header.dataset[name]) || 0;
      }
    }
    const show = (name, text) => {
      const element = document.querySelector(`#board-summary [data-summary="${name}"]`);
      if (element) {
        element.textContent = text;
      }
    };
    show("count", String(sums.count));
    show("noun", sums.count === 1 ? "open deal" : "open deals");
    show("total", `$${wholeDollars.format(sums.total)}`);
    show("weighted", `$${wholeDollars.format(sums.weighted)}`);
  }

  /** Swap in the re-rendered headers, then the card (or drop it), then the summary. */
  function applyMoveResult(card, html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const fragment = template.content;

    for (const element of Array.from(fragment.querySelectorAll("[hx-swap-oob]"))) {
      element.removeAttribute("hx-swap-oob");
      const current = element.id && document.getElementById(element.id);
      if (current) {
        current.replaceWith(element);
        activate(element);
      }
    }

    const fresh = fragment.querySelector(".deal-card");
    if (fresh && card.closest(".column-cards")) {
      card.replaceWith(fresh);
      activate(fresh);
    } else {
      // Won, lost, or no longer matching the board's filters: it leaves the board.
      card.remove();
    }
    refreshSummary();
  }

  async function refusalReason(response) {
    const type = response.headers.get("Content-Type") || "";
    if (type.startsWith("text/plain")) {
      // A reason not about the move (the session ended, or changed since the page opened).
      const text = (await response.text()).trim();
      return text.length <= 300 ? { error: text } : {};
    }
    if (!type.includes("application/json")) {
      return {};
    }
    try {
      const data = await response.json();
      return data && typeof data === "object" ? data : {};
    } catch {
      return {};
    }
  }

  /** Put a refused card back: where the server says it is (409), else where it was. */
  function restore(card, origin, refusal) {
    const stageId = refusal.stage_id;
    if (refusal.conflict && stageId != null && String(stageId) !== origin.stageId) {
      const list = refusal.status === "open" ? columnList(stageId) : null;
      if (list) {
        placeAt(list, card, cardsOf(list).length);
        card.dataset.stageId = String(stageId);
      } else {
        card.remove();
      }
      return;
    }
    placeAt(origin.list, card, origin.index);
  }

  // --- Moving ----------------------------------------------------------------------------

  async function postMove(card, origin, fields) {
    // Form-encoded rather than multipart: the server reads it without a multipart parser.
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(fields)) {
      if (value !== null && value !== undefined) {
        body.append(name, value);
      }
    }
    body.append("from_stage", origin.stageId);
    setBusy(card, true);
    let response = null;
    try {
      response = await fetch(moveUrl(card.dataset.dealId), {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      });
      if (response.ok) {
        const html = await response.text();
        setBusy(card, false);
        applyMoveResult(card, html);
        window.PipelineCRM?.noticeFrom(response);
        return;
      }
    } catch {
      // A network failure: the card goes back with the generic text.
    }
    const refusal = response && !response.ok ? await refusalReason(response) : {};
    refusal.conflict = response !== null && response.status === 409;
    setBusy(card, false);
    restore(card, origin, refusal);
    showToast(refusal.error);
  }

  /** Ask why a deal was lost; resolves to the reason's id, or null when cancelled. */
  function askLostReason(card) {
    return new Promise((resolve) => {
      if (!lostDialog) {
        resolve(null);
        return;
      }
      const select = lostDialog.querySelector("#lost-reason");
      lostDialog.querySelector("[data-lost-deal]").textContent = cardTitle(card);
      select.value = "";
      // Escape closes without touching returnValue, so clear the previous answer.
      lostDialog.returnValue = "";
      lostDialog.addEventListener(
        "close",
        () => {
          const confirmed = lostDialog.returnValue === "confirm" && select.value;
          resolve(confirmed ? select.value : null);
        },
        { once: true },
      );
      lostDialog.showModal();
      select.focus();
    });
  }

  async function dropOnZone(card, zone, origin) {
    if (zone.dataset.stageKind === "lost") {
      setBusy(card, true);
      const reason = await askLostReason(card);
      setBusy(card, false);
      if (reason === null) {
        placeAt(origin.list, card, origin.index);
        return;
      }
      await postMove(card, origin, { stage: zone.dataset.stageId, lost_reason: reason });
      return;
    }
    await postMove(card, origin, { stage: zone.dataset.stageId });
  }

  // --- Sortable ------------------------------------------------------------------------

  let origin = null;

  function onStart(event) {
    document.body.classList.add("board-dragging");
    origin = {
      list: event.from,
      index: cardsOf(event.from).indexOf(event.item),
      stageId: event.item.dataset.stageId,
    };
  }

  function onEnd(event) {
    document.body.classList.remove("board-dragging");
    const card = event.item;
    const from = origin;
    origin = null;
    if (!from) {
      return;
    }
    const target = event.to;
    if (target.matches(".drop-zone")) {
      dropOnZone(card, target, from);
      return;
    }
    const index = cardsOf(target).indexOf(card);
    if (target === from.list && index === from.index) {
      return;
    }
    postMove(card, from, { stage: target.dataset.stageId, position: index });
  }

  const shared = {
    animation: 150,
    draggable: ".deal-card",
    // Links and buttons keep their clicks; a card waiting for the server stays put.
    filter: "a, button, input, select, .is-busy",
    preventOnFilter: false,
    // Mouse and touch alike drag a real element, styled by board.css, not a native image.
    forceFallback: true,
    fallbackOnBody: true,
    fallbackTolerance: 4,
    // On touch screens, a short press starts a drag so that a swipe still scrolls.
    delay: 200,
    delayOnTouchOnly: true,
    ghostClass: "is-placeholder",
    chosenClass: "is-chosen",
    dragClass: "is-dragged",
    scrollSensitivity: 90,
    bubbleScroll: true,
  };

  for (const list of board.querySelectorAll(".column-cards[data-stage-id]")) {
    Sortable.create(list, { ...shared, group: GROUP, onStart, onEnd });
  }
  for (const zone of document.querySelectorAll(".drop-zone[data-stage-id]")) {
    Sortable.create(zone, { ...shared, group: { name: GROUP, pull: false, put: true }, sort: false });
  }
})();
