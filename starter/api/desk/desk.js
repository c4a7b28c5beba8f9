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
    reportLink: byTestId("report-link"),
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
    asks: new Map(), // package_id -> the question open on its card { text, yes, run }
    links: new Map(), // package_id -> renewal link made for it (RenewalLinkOut)
    topUpOpen: new Set(),
    sales: new Map(), // package_id -> purchase id of a sale not yet answered
    client: null, // { name, phone } of the client on screen: every toast names them
    me: null,
    view: 0, // bumped whenever the panel is cleared: an answer for an older view is dropped
    viewClient: null, // the client the current view was opened for (null: none chosen yet)
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
    // The next person to sign in at this desk must not find the last client on screen.
    clearClient();
    el.results.replaceChildren();
    el.searchInput.value = "";
    state.me = null;
    el.reportLink.hidden = true;
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
    state.me = me;
    el.whoamiName.textContent = `${me.name} · ${me.role.replace("_", " ")}`;
    el.reportLink.hidden = me.role !== "manager";
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

  // --- the manager's report -------------------------------------------------------

  // Last week's reconciliation, the page the Monday email carries, in a tab of its own.
  // A tab cannot send the token in a header: it is posted in a form (never put in the
  // address, where history would keep it), and the server answers with the page.
  function openReport() {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/reports/reconciliation";
    form.target = "_blank";
    form.hidden = true;
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "token";
    token.value = sessionStorage.getItem(TOKEN_KEY) || "";
    form.append(token);
    document.body.append(form);
    form.submit();
    form.remove();
    say("info", "Last week's reconciliation report opens in a new tab.");
  }

  el.reportLink.addEventListener("click", () => openReport());

  // --- search ---------------------------------------------------------------------

  // Nothing of the previous client may stay on screen under a new search: a card left
  // over would let staff complete the wrong person's visit.
  function clearClient() {
    state.view += 1;
    state.viewClient = null;
    state.clientId = null;
    state.packages.clear();
    state.sameDay.clear();
    state.historyOpen.clear();
    state.asks.clear();
    state.links.clear();
    state.topUpOpen.clear();
    state.client = null;
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
      contact.textContent = [phoneText(client.phone), client.email].filter(Boolean).join(" · ");
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
    // Another client (a second result clicked before the first answered): a new view, so
    // the first one's late answer is dropped instead of replacing the one chosen last.
    if (state.viewClient !== clientId) {
      clearClient();
      state.viewClient = clientId;
      markChosen(clientId);
    }
    const view = state.view;
    let detail;
    try {
      detail = await api("GET", `/api/clients/${enc(clientId)}`);
    } catch (err) {
      if (view === state.view) fail("Could not open the client", err);
      return;
    }
    if (view !== state.view) return; // a new search or another client meanwhile
    state.clientId = clientId;
    const client = detail.client;
    state.client = { name: client.name, phone: client.phone };
    el.clientView.hidden = false;
    el.clientView.dataset.clientId = clientId;
    el.clientName.textContent = client.name;
    const contact = [phoneText(client.phone), client.email].filter(Boolean);
    if (client.sms_opt_out) contact.push("no texts (opted out)");
    el.clientContact.textContent = contact.join(" · ");
    const owner = [client.name, phoneText(client.phone)].filter(Boolean).join(" · ");

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

  function markChosen(clientId) {
    for (const li of el.results.querySelectorAll('[data-testid="result"]')) {
      li.classList.toggle("chosen", li.dataset.clientId === clientId);
    }
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
      applyButtons(packageId);
    });
    byTestId("ask-yes", card).addEventListener("click", () => answerAsk(packageId));
    byTestId("ask-no", card).addEventListener("click", () => {
      closeAsk(packageId);
      say("idle", "Nothing recorded.");
    });
    byTestId("renewal-link", card).addEventListener("click", () => renewalLink(packageId));
    byTestId("copy-link", card).addEventListener("click", () => copyLink(packageId));
    byTestId("sell", card).addEventListener("click", () => askSell(packageId));
    byTestId("top-up", card).addEventListener("click", () => openTopUp(packageId));
    byTestId("top-up-cancel", card).addEventListener("click", () => {
      state.topUpOpen.delete(packageId);
      byTestId("top-up-form", card).hidden = true;
    });
    byTestId("top-up-form", card).addEventListener("submit", (event) => {
      event.preventDefault();
      topUp(packageId);
    });
    return card;
  }

  function money(cents) {
    const sign = cents < 0 ? "-" : "";
    const abs = Math.abs(cents) / 100;
    return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }

  // "+15555550100" reads "+1 555-555-0100" (North American numbers); others as stored.
  function phoneText(phone) {
    if (!phone) return "";
    const us = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(phone);
    return us ? `+1 ${us[1]}-${us[2]}-${us[3]}` : phone;
  }

  // Whose package: "Ana Ruiz (+1 555-555-0100)", on every question before an action.
  function whoFull() {
    if (!state.client) return "this client";
    const phone = phoneText(state.client.phone);
    return phone ? `${state.client.name} (${phone})` : state.client.name;
  }

  function whoName() {
    return state.client ? state.client.name : "The client";
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

  // "Mon, Nov 2" (with the year when it is not this year): a date-only ISO string, read
  // as that calendar day whatever the browser's zone.
  function shortDate(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString("en-US", {
      timeZone: "UTC",
      weekday: "short",
      month: "short",
      day: "numeric",
      year: y === new Date().getFullYear() ? undefined : "numeric",
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
    const shared = byTestId("shared-with", card);
    const others = (pkg.shared_with || []).map((holder) => holder.name);
    shared.hidden = others.length === 0;
    shared.textContent = others.length ? `Shared with ${others.join(" and ")}` : "";

    showCollect(card, pkg, zero);
    byTestId("amount-row", card).hidden = pkg.kind !== "dollars" || zero;
    byTestId("same-day", card).hidden = !state.sameDay.has(pkg.package_id) || zero;
    if (zero) state.asks.delete(pkg.package_id); // nothing left to complete or forfeit
    showAsk(pkg.package_id);
    applyButtons(pkg.package_id);
  }

  function lastSession(pkg) {
    return pkg.status === "active" && pkg.kind === "sessions" && pkg.remaining === 1;
  }

  // Zero balance (or the last session): the ways to collect, per role. Front desk sends a
  // renewal link or sells the same package again; a manager also tops up a dollar package.
  function showCollect(card, pkg, zero) {
    const box = byTestId("collect-actions", card);
    const offer = pkg.status === "active" && (zero || lastSession(pkg));
    box.hidden = !offer;
    if (!offer) return;
    byTestId("collect-title", card).textContent = zero
      ? `Collect payment for ${pkg.name}: send a renewal link, or sell it again`
      : "Last session: offer a renewal";
    const manager = state.me && state.me.role === "manager";
    const dollars = pkg.kind === "dollars";
    byTestId("top-up", card).hidden = !(dollars && manager);
    const hint = byTestId("collect-hint", card);
    hint.hidden = !(dollars && !manager);
    hint.textContent = dollars && !manager ? "A manager can top up this credit." : "";
    const link = state.links.get(pkg.package_id);
    const linkBox = byTestId("renewal-link-box", card);
    linkBox.hidden = !link;
    if (link) {
      byTestId("renewal-link-for", card).textContent =
        `Renewal of ${link.name} for ${whoName()}: ${money(link.price_cents)}` +
        (link.status === "created" ? " (Stripe checkout)" : " (the spa's renewal page)");
      byTestId("renewal-link-url", card).textContent = link.url;
      byTestId("open-link", card).href = link.url;
    }
    byTestId("top-up-form", card).hidden = !(dollars && manager && state.topUpOpen.has(pkg.package_id));
  }

  // --- questions before an action ---------------------------------------------------

  function ask(packageId, text, yes, run) {
    state.asks.set(packageId, { text, yes, run });
    showAsk(packageId);
    applyButtons(packageId);
    say("info", text);
  }

  function closeAsk(packageId) {
    state.asks.delete(packageId);
    showAsk(packageId);
    applyButtons(packageId);
  }

  function showAsk(packageId) {
    const card = cardFor(packageId);
    if (!card) return;
    const open = state.asks.get(packageId);
    byTestId("ask", card).hidden = !open;
    byTestId("ask-text", card).textContent = open ? open.text : "";
    if (open && !state.busy.has(packageId)) byTestId("ask-yes", card).textContent = open.yes;
  }

  async function answerAsk(packageId) {
    const open = state.asks.get(packageId);
    if (!open || state.busy.has(packageId)) return;
    // The question stays on screen (its buttons disabled) until the answer is in, so a
    // second click lands on a disabled button, not on whatever would move under it.
    try {
      await open.run(byTestId("ask-yes", cardFor(packageId)));
    } finally {
      if (state.asks.get(packageId) === open) closeAsk(packageId);
    }
  }

  function applyButtons(packageId) {
    const card = cardFor(packageId);
    const pkg = state.packages.get(packageId);
    if (!card || !pkg) return;
    const busy = state.busy.has(packageId);
    const active = pkg.status === "active";
    const complete = byTestId("complete", card);
    const noShow = byTestId("no-show", card);
    // While the same-day question is open, only its own buttons answer it.
    const sameDayOpen = state.sameDay.has(packageId);
    complete.disabled = busy || !active || isZero(pkg) || sameDayOpen;
    noShow.disabled = busy || !active || sameDayOpen;
    complete.hidden = noShow.hidden = pkg.status !== "active" && pkg.status !== "in_review";
    complete.title = isZero(pkg)
      ? "Zero balance: collect payment first"
      : sameDayOpen
        ? "Answer the second-visit question first"
        : active
        ? ""
        : `This package is ${pkg.status.replace("_", " ")}`;
    if (!busy) {
      complete.textContent = state.pending.has(`complete:${packageId}`) ? "Retry complete" : "Complete";
      noShow.textContent = state.pending.has(`no-show:${packageId}`) ? "Retry no-show" : "No-show";
    }
    card.setAttribute("aria-busy", busy ? "true" : "false");
    byTestId("same-day-confirm", card).disabled = busy || !active || isZero(pkg);
    byTestId("same-day-cancel", card).disabled = busy;
    byTestId("ask-yes", card).disabled = busy;
    byTestId("ask-no", card).disabled = busy;
    for (const id of ["renewal-link", "sell", "top-up", "top-up-confirm", "top-up-cancel"]) {
      byTestId(id, card).disabled = busy;
    }
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

  async function readPackage(packageId, answer) {
    // Until the package row catches up with the answer, a read may show the old count.
    let pkg = null;
    for (let i = 0; i < REFRESH_TRIES; i += 1) {
      pkg = await api("GET", `/api/packages/${enc(packageId)}`);
      if (!answer || (pkg.remaining === answer.remaining && pkg.status === answer.status)) break;
      await sleep(REFRESH_PAUSE_MS);
    }
    return pkg;
  }

  async function refreshPackage(packageId, answer) {
    const pkg = await readPackage(packageId, answer);
    // Only a card on screen is redrawn: a package of a client no longer shown stays off it.
    if (!cardFor(packageId)) return pkg;
    showPackage(pkg);
    if (state.historyOpen.has(packageId)) await loadHistory(packageId, answer ? answer.entry_seq : null);
    return pkg;
  }

  // One action on one package: one request id per click (kept only while the answer is
  // unknown, so a retry after a lost connection cannot count twice), every button of the
  // card disabled until the answer is in and the card shows it.
  // `done(answer, pkg, before, who)` says what happened in staff words, naming the client
  // the action was for (`who`, taken when it was asked: another client may be on screen by
  // the time the answer comes), from the package as read afterwards (the answer's own
  // message is written for the client's text).
  async function act(packageId, action, body, { button, busyLabel, failed, pendingKey, done }) {
    if (state.busy.has(packageId)) return { answer: null, error: null };
    const who = whoName();
    const before = state.packages.get(packageId);
    const label = button ? button.textContent : "";
    setBusy(packageId, true, button, busyLabel);
    try {
      let answer;
      try {
        answer = await api("POST", `/api/packages/${enc(packageId)}/${action}`, body);
      } catch (err) {
        const unanswered = err instanceof ApiError && err.status === 0;
        if (pendingKey && !unanswered) state.pending.delete(pendingKey);
        fail(`${failed} for ${who}`, err);
        if (err instanceof ApiError && err.status >= 400 && err.status !== 401) {
          // Refused: the card may be stale (another desk took the last session).
          try {
            await refreshPackage(packageId, null);
          } catch (ignored) {
            // the refusal already shows; the card keeps what it had
          }
        }
        return { answer: null, error: err, who };
      }
      if (pendingKey) state.pending.delete(pendingKey);
      state.sameDay.delete(packageId);
      say("ok", `${who}: recorded — updating…`);
      try {
        const pkg = await refreshPackage(packageId, answer);
        say("ok", done(answer, pkg, before, who));
      } catch (err) {
        fail(`${who}: recorded — but the package could not be read again, press Refresh`, err);
      }
      return { answer, error: null, who };
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
    const what = pkg.kind === "dollars" ? `${pkg.name}, ${money(body.amount_cents)}` : pkg.name;
    ask(packageId, `Complete a visit for ${whoFull()} on ${what}?`, "Yes, complete", (button) =>
      confirmComplete(packageId, body, button),
    );
  }

  function completedText(answer, pkg, before, who) {
    const taken = before ? before.remaining - pkg.remaining : 0;
    const what = pkg.kind === "dollars" ? `${money(taken)} recorded on ${pkg.name}` : `session recorded on ${pkg.name}`;
    return `${who}: ${what}, ${pkg.remaining_label}`;
  }

  async function confirmComplete(packageId, body, button) {
    const pkg = state.packages.get(packageId);
    const card = cardFor(packageId);
    if (!pkg || !card) return;
    const pendingKey = `complete:${packageId}`;
    state.pending.set(pendingKey, body.request_id);
    const { answer, error, who } = await act(packageId, "complete", body, {
      button,
      busyLabel: "Completing…",
      failed: "Not completed",
      pendingKey,
      done: completedText,
    });
    if (answer && pkg.kind === "dollars") byTestId("amount-input", card).value = "";
    if (error instanceof ApiError && error.status === 409 && error.message.includes("(SameDayRedemption)")) {
      const current = cardFor(packageId);
      if (!current) {
        // Another client is on screen now: the question belongs on this client's card.
        say("error", `Not completed: ${who}'s ${pkg.name} already had a visit completed today. Find ${who} again to record a second visit.`);
        return;
      }
      // Same request id on confirm: however often "yes" is pressed, it counts once.
      state.sameDay.set(packageId, body);
      byTestId("same-day", current).hidden = false;
      applyButtons(packageId);
      say("error", `Not completed: ${who}'s ${pkg.name} already had a visit completed today. If this is a second visit today, press “Yes, second visit today”.`);
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
      done: completedText,
    });
  }

  function noShow(packageId) {
    const pkg = state.packages.get(packageId);
    if (!pkg || state.busy.has(packageId)) return;
    ask(
      packageId,
      `Record a no-show for ${whoFull()} on ${pkg.name}? No session is taken unless the package's policy forfeits one.`,
      "Yes, record no-show",
      (button) => confirmNoShow(packageId, button),
    );
  }

  async function confirmNoShow(packageId, button) {
    const pendingKey = `no-show:${packageId}`;
    const body = { request_id: state.pending.get(pendingKey) || newRequestId(), outcome: "no_show" };
    state.pending.set(pendingKey, body.request_id);
    await act(packageId, "no-show", body, {
      button,
      busyLabel: "Recording…",
      failed: "No-show not recorded",
      pendingKey,
      done: (answer, pkg, before, who) => {
        const forfeited = before && pkg.remaining < before.remaining;
        return `${who}: no-show recorded on ${pkg.name}, ${
          forfeited ? "a session forfeited by the package's policy" : "no session taken"
        } — ${pkg.remaining_label}`;
      },
    });
  }

  // --- collecting at zero: renewal link, sell again, top up -------------------------

  async function renewalLink(packageId) {
    const card = cardFor(packageId);
    const pkg = state.packages.get(packageId);
    if (!card || !pkg || state.busy.has(packageId)) return;
    const view = state.view;
    const button = byTestId("renewal-link", card);
    setBusy(packageId, true, button, "Making link…");
    try {
      const link = await api("POST", `/api/packages/${enc(packageId)}/renewal-link`);
      if (view !== state.view) return;
      state.links.set(packageId, link);
      showPackage(state.packages.get(packageId));
      say("ok", `Renewal link for ${whoName()}'s ${link.name} (${money(link.price_cents)}): open it on their phone, or copy it.`);
    } catch (err) {
      if (view === state.view) fail("No renewal link", err);
    } finally {
      button.textContent = "Renewal link";
      setBusy(packageId, false);
    }
  }

  async function copyLink(packageId) {
    const link = state.links.get(packageId);
    const card = cardFor(packageId);
    if (!link || !card) return;
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
      await navigator.clipboard.writeText(link.url);
    } catch (err) {
      // Plain http on the LAN has no clipboard API: select the text and copy that.
      const range = document.createRange();
      range.selectNodeContents(byTestId("renewal-link-url", card));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (!document.execCommand("copy")) {
        say("error", "Could not copy: the link is selected, copy it with Ctrl+C (⌘C).");
        return;
      }
    }
    say("ok", `Renewal link for ${whoName()} copied.`);
  }

  function sharing(pkg) {
    const others = (pkg.shared_with || []).map((holder) => holder.name);
    return others.length ? `, shared with ${others.join(" and ")}` : "";
  }

  function askSell(packageId) {
    const pkg = state.packages.get(packageId);
    if (!pkg || state.busy.has(packageId)) return;
    // A shared purchase is sold again to everyone who shares it, each with their share.
    ask(
      packageId,
      `Sell a new ${pkg.name} to ${whoFull()}${sharing(pkg)}? Take the payment first.`,
      "Yes, sell",
      (button) => sell(packageId, button),
    );
  }

  async function sell(packageId, button) {
    const pkg = state.packages.get(packageId);
    const clientId = state.clientId;
    if (!pkg || !clientId || state.busy.has(packageId)) return;
    const view = state.view;
    const who = whoName();
    // One purchase id per sale asked for: a retry after a lost answer sells once.
    const purchaseId = state.sales.get(packageId) || `desk-${newRequestId()}`;
    state.sales.set(packageId, purchaseId);
    setBusy(packageId, true, button, "Selling…");
    let sold;
    try {
      sold = await api("POST", "/api/sales", {
        client_id: clientId,
        type_code: pkg.type_code,
        shared_with: (pkg.shared_with || []).map((holder) => holder.client_id),
        purchase_id: purchaseId,
        // Sold again where the card's package was sold (none: the default location).
        ...(pkg.location_id ? { location_id: pkg.location_id } : {}),
      });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 0)) state.sales.delete(packageId);
      fail(`Not sold to ${who}`, err);
      return;
    } finally {
      setBusy(packageId, false);
    }
    state.sales.delete(packageId);
    if (view !== state.view) {
      // Another client is on screen: say it, naming whose sale it was, and leave the panel.
      say("ok", `${who}: new ${pkg.name} sold.`);
      return;
    }
    // The new package's row is written once its workflow starts: wait to show it.
    // The first package is this client's (a shared sale's others are the partners').
    const mine = sold.package_ids[0];
    for (let i = 0; i < REFRESH_TRIES && !cardFor(mine); i += 1) {
      await openClient(clientId);
      if (view !== state.view) return;
      if (!cardFor(mine)) await sleep(REFRESH_PAUSE_MS);
    }
    const fresh = state.packages.get(mine);
    say("ok", `${who}: new ${pkg.name} sold${sharing(pkg)}${fresh ? `, ${fresh.remaining_label}` : ""}.`);
  }

  function openTopUp(packageId) {
    const card = cardFor(packageId);
    if (!card) return;
    state.topUpOpen.add(packageId);
    byTestId("top-up-form", card).hidden = false;
    byTestId("top-up-amount", card).focus();
  }

  async function topUp(packageId) {
    const card = cardFor(packageId);
    const pkg = state.packages.get(packageId);
    if (!card || !pkg) return;
    const added = Number.parseFloat(byTestId("top-up-amount", card).value);
    const paidText = byTestId("top-up-paid", card).value;
    const paid = paidText === "" ? added : Number.parseFloat(paidText);
    if (!Number.isFinite(added) || added <= 0 || !Number.isFinite(paid) || paid < 0) {
      say("error", `Enter the credit to add to ${pkg.name} and what ${whoName()} paid, in dollars.`);
      byTestId("top-up-amount", card).focus();
      return;
    }
    const pendingKey = `top-up:${packageId}`;
    const body = {
      units: Math.round(added * 100),
      paid_cents: Math.round(paid * 100),
      reason: "top-up at the desk",
      request_id: state.pending.get(pendingKey) || newRequestId(),
    };
    state.pending.set(pendingKey, body.request_id);
    const { answer } = await act(packageId, "add-units", body, {
      button: byTestId("top-up-confirm", card),
      busyLabel: "Adding…",
      failed: "Not topped up",
      pendingKey,
      done: (ans, fresh, before, who) => `${who}: ${money(body.units)} added to ${fresh.name}, ${fresh.remaining_label}`,
    });
    if (answer) {
      state.topUpOpen.delete(packageId);
      byTestId("top-up-amount", card).value = "";
      byTestId("top-up-paid", card).value = "";
      showPackage(state.packages.get(packageId));
    }
  }

  // --- history and reversals ------------------------------------------------------

  const KIND_LABELS = {
    sale: "Sale",
    opening_balance: "Brought in (opening balance)",
    redemption: "Visit completed",
    reversal: "Reversed",
    no_show: "No-show",
    late_cancel: "Late cancel",
    booking: "Booking",
    top_up: "Top-up",
    extension: "Extended",
    expiry_correction: "Expiry corrected",
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
    const titles = ["Date", "What", "Change", "Left", "By", "Note", ""];
    for (const title of titles) {
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
      const change = line.units_delta === 0 ? "" : `${line.units_delta > 0 ? "+" : "−"}${amount(kind, Math.abs(line.units_delta))}`;
      const visitOf = line.kind === "reversal" && line.service_date ? `visit of ${shortDate(line.service_date)}` : "";
      const note = [visitOf, line.reason, line.outcome].filter(Boolean).join(" — ");
      // The day of the visit (the appointment's date of service, in the spa's zone) first;
      // when it was recorded beside it, smaller, in the spa's zone with its abbreviation.
      const whenCell = row.insertCell();
      whenCell.dataset.label = titles[0];
      const day = document.createElement("span");
      day.className = "day";
      day.dataset.testid = "history-day";
      day.textContent = shortDate(line.day);
      day.title = line.day_is_service_date ? "date of service" : "day recorded";
      const recorded = document.createElement("small");
      recorded.className = "recorded";
      recorded.dataset.testid = "history-recorded";
      recorded.textContent = `recorded ${line.recorded_label}`;
      const when = document.createElement("div");
      when.className = "when";
      when.append(day, recorded);
      whenCell.append(when);
      const cells = [KIND_LABELS[line.kind] || line.kind, change, amount(kind, line.balance_after), line.actor, note];
      cells.forEach((text, i) => {
        const cell = row.insertCell();
        cell.dataset.label = titles[i + 1];
        cell.textContent = text;
        if (!text) cell.classList.add("blank");
      });
      const actionCell = row.insertCell();
      actionCell.className = "act";
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
        {
          button: confirm,
          busyLabel: "Reversing…",
          failed: "Not reversed",
          done: (answer, pkg, before, who) =>
            `${pkg.kind === "dollars" ? "Amount" : "Session"} returned to ${who}'s ${pkg.name}, ${pkg.remaining_label}`,
        },
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
