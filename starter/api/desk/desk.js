// Punchcard front desk: find a client, see their packages, record visits.
// Plain browser JavaScript, no build step and no third-party code. Talks only to the
// JSON API on the same origin, with the staff token kept in sessionStorage.
"use strict";

(() => {
  const TOKEN_KEY = "punchcard.desk.token";
  // The package row in Postgres is written just after the workflow answers; wait this
  // long at most for a refresh to show what the answer said.
  const REFRESH_TRIES = 25;
  const REFRESH_PAUSE_MS = 150;

  const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);
  const enc = encodeURIComponent;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const el = {
    status: byTestId("status"),
    signin: byTestId("signin"),
    signinForm: byTestId("signin-form"),
    tokenInput: byTestId("token-input"),
    whoami: byTestId("whoami"),
    whoamiName: byTestId("whoami-name"),
    signout: byTestId("signout"),
    desk: byTestId("desk"),
    searchForm: byTestId("search-form"),
    searchInput: byTestId("search-input"),
    results: byTestId("results"),
    clientView: byTestId("client-view"),
    clientName: byTestId("client-name"),
    clientContact: byTestId("client-contact"),
    clientRefresh: byTestId("client-refresh"),
    noPackages: byTestId("no-packages"),
    cards: byTestId("packages"),
    closed: byTestId("closed-packages"),
    closedCards: byTestId("closed-cards"),
    cardTemplate: document.getElementById("card-template"),
  };

  const state = {
    clientId: null,
    packages: new Map(), // package_id -> DeskPackage as last read
    busy: new Set(), // package ids with an action in flight
    pending: new Map(), // "complete:<package_id>" -> request_id not yet answered
    sameDay: new Map(), // package_id -> complete body refused as a second visit today
    historyOpen: new Set(),
    view: 0, // bumped by every search: an answer for an older view is dropped
  };

  // --- talking to the API -----------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status; // 0: the request never got an answer
    }
  }

  function detailText(body, status) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) {
      return body.detail
        .map((item) => {
          const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
          return where ? `${where}: ${item.msg}` : String(item.msg);
        })
        .join("; ");
    }
    return `the server answered ${status} without an explanation`;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    let text;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
      text = await response.text();
    } catch (err) {
      throw new ApiError(0, "could not reach Punchcard — check the connection and try again");
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        data = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, detailText(data, response.status));
    return data;
  }

  function newRequestId() {
    // crypto.randomUUID exists only on https or localhost; a desk on plain http over the
    // LAN still gets a random v4 UUID from getRandomValues.
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- status line ----------------------------------------------------------------

  function say(kind, text) {
    el.status.dataset.kind = kind; // idle | info | ok | error
    el.status.textContent = text;
  }

  function fail(what, err) {
    if (err instanceof ApiError && err.status === 401) {
      signedOut(`Signed out: ${err.message}. Sign in again with your staff token.`);
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    say("error", `${what}: ${message}`);
  }

  // --- sign-in --------------------------------------------------------------------

  function showSignIn() {
    el.desk.hidden = true;
    el.whoami.hidden = true;
    el.signin.hidden = false;
    el.tokenInput.focus();
  }

  function signedOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.clientId = null;
    state.packages.clear();
    showSignIn();
    say(message ? "error" : "idle", message || "Signed out.");
  }

  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    say("info", "Signing in…");
    let me;
    try {
      me = await api("GET", "/api/me");
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn();
      say("error", `Sign-in failed: ${err.message}`);
      return;
    }
    el.signin.hidden = true;
    el.desk.hidden = false;
    el.whoami.hidden = false;
    el.whoamiName.textContent = `${me.name} · ${me.role.replace("_", " ")}`;
    el.tokenInput.value = "";
    say("idle", `Signed in as ${me.name}. Find a client by name or phone.`);
    el.searchInput.focus();
  }

  el.signinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = el.tokenInput.value.trim();
    if (!token) {
      say("error", "Enter your staff token to sign in.");
      return;
    }
    signIn(token);
  });

  el.signout.addEventListener("click", () => signedOut(""));

  // --- search ---------------------------------------------------------------------

  // Nothing of the previous client may stay on screen under a new search: a card left
  // over would let staff complete the wrong person's visit.
  function clearClient() {
    state.view += 1;
    state.clientId = null;
    state.packages.clear();
    state.sameDay.clear();
    state.historyOpen.clear();
    el.cards.replaceChildren();
    el.closedCards.replaceChildren();
    el.clientView.hidden = true;
    delete el.clientView.dataset.clientId;
    el.clientName.textContent = "";
    el.clientContact.textContent = "";
  }

  async function search(query) {
    el.results.replaceChildren();
    clearClient();
    const view = state.view;
    say("info", `Searching for “${query}”…`);
    let clients;
    try {
      clients = await api("GET", `/api/clients?q=${enc(query)}`);
    } catch (err) {
      if (view === state.view) fail("Search failed", err);
      return;
    }
    if (view !== state.view) return; // another search started meanwhile
    if (clients.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.dataset.testid = "no-results";
      li.textContent = `No client matches “${query}”. Check the spelling or try the phone number.`;
      el.results.append(li);
      say("error", `No client matches “${query}”.`);
      return;
    }
    for (const client of clients) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.testid = "result";
      button.dataset.clientId = client.client_id;
      const name = document.createElement("strong");
      name.textContent = client.name;
      const contact = document.createElement("span");
      contact.textContent = [client.phone, client.email].filter(Boolean).join(" · ");
      button.append(name, contact);
      button.addEventListener("click", () => openClient(client.client_id));
      li.append(button);
      el.results.append(li);
    }
    const count = clients.length === 1 ? "1 client" : `${clients.length} clients`;
    say("idle", `${count} found for “${query}”.`);
    if (clients.length === 1) await openClient(clients[0].client_id);
  }

  el.searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = el.searchInput.value.trim();
    if (query.length < 2) {
      say("error", "Type at least two letters of the name, or the phone number.");
      return;
    }
    search(query);
  });

  // --- client view ----------------------------------------------------------------

  async function openClient(clientId) {
    const view = state.view;
    let detail;
    try {
      detail = await api("GET", `/api/clients/${enc(clientId)}`);
    } catch (err) {
      if (view === state.view) fail("Could not open the client", err);
      return;
    }
    if (view !== state.view) return; // a new search cleared the panel meanwhile
    const switching = state.clientId !== clientId;
    state.clientId = clientId;
    if (switching) {
      state.historyOpen.clear();
      el.cards.replaceChildren();
      el.closedCards.replaceChildren();
    }
    for (const li of el.results.querySelectorAll('[data-testid="result"]')) {
      li.classList.toggle("chosen", li.dataset.clientId === clientId);
    }
    const client = detail.client;
    el.clientView.hidden = false;
    el.clientView.dataset.clientId = clientId;
    el.clientName.textContent = client.name;
    const contact = [client.phone, client.email].filter(Boolean);
    if (client.sms_opt_out) contact.push("no texts (opted out)");
    el.clientContact.textContent = contact.join(" · ");
    const owner = [client.name, client.phone].filter(Boolean).join(" · ");

    const seen = new Set();
    let open = 0;
    let closed = 0;
    for (const pkg of detail.packages) {
      seen.add(pkg.package_id);
      const isOpen = pkg.status === "active" || pkg.status === "in_review";
      if (isOpen) open += 1;
      else closed += 1;
      const card = cardFor(pkg.package_id) || makeCard(pkg.package_id);
      card.dataset.clientId = clientId;
      byTestId("card-client", card).textContent = owner; // whose package, on every action
      (isOpen ? el.cards : el.closedCards).append(card); // keeps the API's order
      showPackage(pkg);
    }
    for (const card of document.querySelectorAll('[data-testid="package-card"]')) {
      if (!seen.has(card.dataset.packageId)) card.remove();
    }
    el.noPackages.hidden = open > 0;
    el.closed.hidden = closed === 0;
  }

  el.clientRefresh.addEventListener("click", () => {
    if (state.clientId) openClient(state.clientId);
  });

  // --- package cards --------------------------------------------------------------

  function cardFor(packageId) {
    for (const card of document.querySelectorAll('[data-testid="package-card"]')) {
      if (card.dataset.packageId === packageId) return card;
    }
    return null;
  }

  function makeCard(packageId) {
    const card = el.cardTemplate.content.firstElementChild.cloneNode(true);
    card.dataset.packageId = packageId;
    byTestId("complete", card).addEventListener("click", () => complete(packageId));
    byTestId("no-show", card).addEventListener("click", () => noShow(packageId));
    byTestId("history", card).addEventListener("click", () => toggleHistory(packageId));
    byTestId("same-day-confirm", card).addEventListener("click", () => completeSecondVisit(packageId));
    byTestId("same-day-cancel", card).addEventListener("click", () => {
      state.sameDay.delete(packageId);
      byTestId("same-day", card).hidden = true;
      say("idle", "Not completed: no second visit recorded.");
    });
    return card;
  }

  function money(cents) {
    const sign = cents < 0 ? "-" : "";
    const abs = Math.abs(cents) / 100;
    return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }

  function amount(kind, units) {
    if (kind === "dollars") return money(units);
    return `${units} session${units === 1 ? "" : "s"}`;
  }

  function longDate(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString("en-US", {
      timeZone: "UTC",
      weekday: "short",
      year: "numeric",
      month: "short",
      day: "numeric",
    });
  }

  function isZero(pkg) {
    return pkg.warnings.some((w) => w.code === "zero_balance") || (pkg.status === "active" && pkg.remaining <= 0);
  }

  function showPackage(pkg) {
    state.packages.set(pkg.package_id, pkg);
    const card = cardFor(pkg.package_id);
    if (!card) return;
    const zero = isZero(pkg);
    card.dataset.status = pkg.status;
    card.dataset.remaining = String(pkg.remaining);
    card.dataset.kind = pkg.kind;
    card.classList.toggle("zero", zero);
    card.classList.toggle("closed", pkg.status !== "active" && pkg.status !== "in_review");
    byTestId("package-name", card).textContent = pkg.name;
    byTestId("package-status", card).textContent = pkg.status.replace("_", " ");
    byTestId("remaining", card).textContent = pkg.remaining_label;
    byTestId("expiry", card).textContent = pkg.expires_on
      ? `${pkg.status === "active" || pkg.status === "in_review" ? "Good through" : "Was good through"} ${longDate(pkg.expires_on)}`
      : "No expiry date";

    const stop = byTestId("collect-payment", card);
    const zeroWarning = pkg.warnings.find((w) => w.code === "zero_balance");
    stop.hidden = !zero;
    byTestId("collect-payment-detail", card).textContent = zeroWarning
      ? zeroWarning.message
      : "Zero balance: collect payment before service";

    const badges = byTestId("warnings", card);
    badges.replaceChildren();
    for (const warning of pkg.warnings) {
      if (warning.code === "zero_balance") continue; // shown as the red stop instead
      const li = document.createElement("li");
      li.className = `badge ${warning.code}`;
      li.dataset.testid = "warning";
      li.dataset.code = warning.code;
      li.textContent = warning.message;
      badges.append(li);
    }
    byTestId("amount-row", card).hidden = pkg.kind !== "dollars" || zero;
    byTestId("same-day", card).hidden = !state.sameDay.has(pkg.package_id) || zero;
    applyButtons(pkg.package_id);
  }

  function applyButtons(packageId) {
    const card = cardFor(packageId);
    const pkg = state.packages.get(packageId);
    if (!card || !pkg) return;
    const busy = state.busy.has(packageId);
    const active = pkg.status === "active";
    const complete = byTestId("complete", card);
    const noShow = byTestId("no-show", card);
    complete.disabled = busy || !active || isZero(pkg);
    noShow.disabled = busy || !active;
    complete.hidden = noShow.hidden = pkg.status !== "active" && pkg.status !== "in_review";
    complete.title = isZero(pkg)
      ? "Zero balance: collect payment first"
      : active
        ? ""
        : `This package is ${pkg.status.replace("_", " ")}`;
    if (!busy) {
      complete.textContent = state.pending.has(`complete:${packageId}`) ? "Retry complete" : "Complete";
      noShow.textContent = state.pending.has(`no-show:${packageId}`) ? "Retry no-show" : "No-show";
    }
    card.setAttribute("aria-busy", busy ? "true" : "false");
    byTestId("same-day-confirm", card).disabled = busy || !active || isZero(pkg);
    for (const button of card.querySelectorAll('[data-testid="reverse"], [data-testid="reverse-confirm"]')) {
      button.disabled = busy;
    }
  }

  function setBusy(packageId, busy, button, label) {
    if (busy) state.busy.add(packageId);
    else state.busy.delete(packageId);
    applyButtons(packageId);
    if (busy && button && label) button.textContent = label;
  }

  async function refreshPackage(packageId, answer) {
    // Until the package row catches up with the answer, a read may show the old count.
    let pkg = null;
    for (let i = 0; i < REFRESH_TRIES; i += 1) {
      pkg = await api("GET", `/api/packages/${enc(packageId)}`);
      if (!answer || (pkg.remaining === answer.remaining && pkg.status === answer.status)) break;
      await sleep(REFRESH_PAUSE_MS);
    }
    showPackage(pkg);
    if (state.historyOpen.has(packageId)) await loadHistory(packageId, answer ? answer.entry_seq : null);
  }

  // One action on one package: one request id per click (kept only while the answer is
  // unknown, so a retry after a lost connection cannot count twice), every button of the
  // card disabled until the answer is in and the card shows it.
  async function act(packageId, action, body, { button, busyLabel, failed, pendingKey }) {
    if (state.busy.has(packageId)) return { answer: null, error: null };
    const label = button ? button.textContent : "";
    setBusy(packageId, true, button, busyLabel);
    try {
      let answer;
      try {
        answer = await api("POST", `/api/packages/${enc(packageId)}/${action}`, body);
      } catch (err) {
        const unanswered = err instanceof ApiError && err.status === 0;
        if (pendingKey && !unanswered) state.pending.delete(pendingKey);
        fail(failed, err);
        if (err instanceof ApiError && err.status >= 400 && err.status !== 401) {
          // Refused: the card may be stale (another desk took the last session).
          try {
            await refreshPackage(packageId, null);
          } catch (ignored) {
            // the refusal already shows; the card keeps what it had
          }
        }
        return { answer: null, error: err };
      }
      if (pendingKey) state.pending.delete(pendingKey);
      state.sameDay.delete(packageId);
      say("ok", answer.message);
      try {
        await refreshPackage(packageId, answer);
      } catch (err) {
        fail(`${answer.message} — but the card could not refresh, press Refresh`, err);
      }
      return { answer, error: null };
    } finally {
      if (button && button.textContent === busyLabel) button.textContent = label;
      setBusy(packageId, false);
    }
  }

  async function complete(packageId) {
    const pkg = state.packages.get(packageId);
    const card = cardFor(packageId);
    if (!pkg || !card || state.busy.has(packageId)) return;
    if (isZero(pkg)) {
      say("error", `Collect payment: ${pkg.name} has no balance left.`);
      return;
    }
    const pendingKey = `complete:${packageId}`;
    const body = { request_id: state.pending.get(pendingKey) || newRequestId() };
    if (pkg.kind === "dollars") {
      const input = byTestId("amount-input", card);
      const dollars = Number.parseFloat(input.value);
      if (!Number.isFinite(dollars) || dollars <= 0) {
        say("error", `Enter the amount to take from ${pkg.name}, in dollars (for example 120.00).`);
        input.focus();
        return;
      }
      body.amount_cents = Math.round(dollars * 100);
    }
    state.pending.set(pendingKey, body.request_id);
    const { answer, error } = await act(packageId, "complete", body, {
      button: byTestId("complete", card),
      busyLabel: "Completing…",
      failed: "Not completed",
      pendingKey,
    });
    if (answer && pkg.kind === "dollars") byTestId("amount-input", card).value = "";
    if (error instanceof ApiError && error.status === 409 && error.message.includes("(SameDayRedemption)")) {
      // Same request id on confirm: however often "yes" is pressed, it counts once.
      state.sameDay.set(packageId, body);
      const current = cardFor(packageId);
      if (current) byTestId("same-day", current).hidden = false;
      say("error", `Not completed: ${pkg.name} already had a visit completed today. If this is a second visit today, press “Yes, second visit today”.`);
    }
  }

  async function completeSecondVisit(packageId) {
    const first = state.sameDay.get(packageId);
    const card = cardFor(packageId);
    if (!first || !card || state.busy.has(packageId)) return;
    await act(packageId, "complete", { ...first, allow_same_day: true }, {
      button: byTestId("same-day-confirm", card),
      busyLabel: "Completing…",
      failed: "Second visit not completed",
      pendingKey: null,
    });
  }

  async function noShow(packageId) {
    const card = cardFor(packageId);
    if (!card || state.busy.has(packageId)) return;
    const pendingKey = `no-show:${packageId}`;
    const body = { request_id: state.pending.get(pendingKey) || newRequestId(), outcome: "no_show" };
    state.pending.set(pendingKey, body.request_id);
    await act(packageId, "no-show", body, {
      button: byTestId("no-show", card),
      busyLabel: "Recording…",
      failed: "No-show not recorded",
      pendingKey,
    });
  }

  // --- history and reversals ------------------------------------------------------

  const KIND_LABELS = {
    sale: "Sale",
    redemption: "Visit completed",
    reversal: "Reversed",
    no_show: "No-show",
    late_cancel: "Late cancel",
    booking: "Booking",
    top_up: "Top-up",
    extension: "Extended",
    cancellation: "Cancelled",
    reminder: "Reminder sent",
    expiry: "Expired",
    expiry_review: "Expiry review",
    pace_alert: "Pace alert",
  };
  const CONSUMING = new Set(["redemption", "no_show", "late_cancel"]);

  async function toggleHistory(packageId) {
    const card = cardFor(packageId);
    if (!card) return;
    const panel = byTestId("history-panel", card);
    const toggle = byTestId("history", card);
    if (state.historyOpen.has(packageId)) {
      state.historyOpen.delete(packageId);
      panel.hidden = true;
      panel.replaceChildren();
      toggle.setAttribute("aria-expanded", "false");
      toggle.textContent = "History";
      return;
    }
    state.historyOpen.add(packageId);
    panel.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    toggle.textContent = "Hide history";
    panel.textContent = "Loading history…";
    await loadHistory(packageId, null);
  }

  async function loadHistory(packageId, minSeq) {
    const card = cardFor(packageId);
    if (!card) return;
    const panel = byTestId("history-panel", card);
    let lines = [];
    try {
      for (let i = 0; i < REFRESH_TRIES; i += 1) {
        lines = await api("GET", `/api/packages/${enc(packageId)}/history`);
        if (minSeq == null || lines.some((line) => line.seq >= minSeq)) break;
        await sleep(REFRESH_PAUSE_MS);
      }
    } catch (err) {
      panel.textContent = `History could not load: ${err.message}`;
      fail("History could not load", err);
      return;
    }
    if (!state.historyOpen.has(packageId)) return;
    renderHistory(packageId, panel, lines);
  }

  function renderHistory(packageId, panel, lines) {
    const pkg = state.packages.get(packageId);
    const kind = pkg ? pkg.kind : "sessions";
    // The line that still holds each appointment's units: the one a reversal would undo.
    const reversible = new Map();
    for (const line of [...lines].sort((a, b) => a.seq - b.seq)) {
      if (!line.appointment_id) continue;
      if (CONSUMING.has(line.kind) && line.units_delta < 0) reversible.set(line.appointment_id, line.seq);
      else if (line.kind === "reversal") reversible.delete(line.appointment_id);
    }

    const table = document.createElement("table");
    table.dataset.testid = "history-table";
    const head = table.createTHead().insertRow();
    for (const title of ["When", "What", "Change", "Left", "By", "Note", ""]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.append(th);
    }
    const body = table.createTBody();
    for (const line of [...lines].sort((a, b) => b.seq - a.seq)) {
      const row = body.insertRow();
      row.dataset.testid = "history-line";
      row.dataset.seq = String(line.seq);
      row.dataset.kind = line.kind;
      if (line.appointment_id) row.dataset.appointmentId = line.appointment_id;
      const when = new Date(line.occurred_at);
      const thisYear = when.getFullYear() === new Date().getFullYear();
      const change = line.units_delta === 0 ? "" : `${line.units_delta > 0 ? "+" : "−"}${amount(kind, Math.abs(line.units_delta))}`;
      const note = [line.reason, line.outcome].filter(Boolean).join(" — ");
      const cells = [
        when.toLocaleString("en-US", {
          month: "short",
          day: "numeric",
          year: thisYear ? undefined : "numeric",
          hour: "numeric",
          minute: "2-digit",
        }),
        KIND_LABELS[line.kind] || line.kind,
        change,
        amount(kind, line.balance_after),
        line.actor,
        note,
      ];
      for (const text of cells) row.insertCell().textContent = text;
      const actionCell = row.insertCell();
      if (line.appointment_id && reversible.get(line.appointment_id) === line.seq) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.dataset.testid = "reverse";
        button.textContent = "Reverse";
        button.addEventListener("click", () => openReverseForm(packageId, row, line));
        actionCell.append(button);
      }
    }
    if (lines.length === 0) {
      const row = body.insertRow();
      const cell = row.insertCell();
      cell.colSpan = 7;
      cell.textContent = "No history yet.";
    }
    panel.replaceChildren(table);
    applyButtons(packageId);
  }

  function openReverseForm(packageId, row, line) {
    const table = row.closest("table");
    for (const open of table.querySelectorAll('[data-testid="reverse-row"]')) open.remove();
    const formRow = document.createElement("tr");
    formRow.dataset.testid = "reverse-row";
    const cell = formRow.insertCell();
    cell.colSpan = 7;
    const form = document.createElement("form");
    form.className = "reverse";
    form.dataset.testid = "reverse-form";
    form.autocomplete = "off";
    form.noValidate = true; // a missing reason is said in words on the status line
    const label = document.createElement("label");
    label.textContent = `Why reverse this ${KIND_LABELS[line.kind] ? KIND_LABELS[line.kind].toLowerCase() : line.kind}? `;
    const reason = document.createElement("input");
    reason.type = "text";
    reason.required = true;
    reason.maxLength = 500;
    reason.placeholder = "e.g. recorded on the wrong package";
    reason.dataset.testid = "reverse-reason";
    label.append(reason);
    const confirm = document.createElement("button");
    confirm.type = "submit";
    confirm.className = "danger";
    confirm.dataset.testid = "reverse-confirm";
    confirm.textContent = "Reverse it";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.dataset.testid = "reverse-cancel";
    cancel.textContent = "Keep it";
    cancel.addEventListener("click", () => formRow.remove());
    form.append(label, confirm, cancel);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const why = reason.value.trim();
      if (!why) {
        say("error", "Give a reason for the reversal: it goes in the package's audit trail.");
        reason.focus();
        return;
      }
      await act(
        packageId,
        "reverse",
        { appointment_id: line.appointment_id, reason: why },
        { button: confirm, busyLabel: "Reversing…", failed: "Not reversed" },
      );
    });
    cell.append(form);
    row.after(formRow);
    applyButtons(packageId);
    reason.focus();
  }

  // --- start ----------------------------------------------------------------------

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else showSignIn();
})();
