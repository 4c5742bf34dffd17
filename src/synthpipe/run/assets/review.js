// The review page: one record at a time from the server's queue; labels are POSTed to
// /api/label (one fsync'd line each) and the record's labels by every reviewer are shown.
// Rendering uses textContent only: a record's text can never become markup.
(() => {
  "use strict";
  const cfg = window.REVIEW;
  const $ = (id) => document.getElementById(id);
  const state = { items: [], labels: {}, pos: 0 };
  let chain = Promise.resolve(); // labels are sent one after another, in key order
  window.reviewIdle = () => chain;
  window.reviewState = () => ({ pos: state.pos, id: current() && current().id, labels: state.labels });

  const reviewerBox = $("reviewer");
  reviewerBox.value = localStorage.getItem("synthpipe-reviewer") || cfg.reviewer;
  reviewerBox.addEventListener("change", () => localStorage.setItem("synthpipe-reviewer", reviewerBox.value.trim()));

  function api(path, body) {
    const init = { headers: { "X-Review-Token": cfg.token } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then((r) => r.json().then((data) => {
      if (!r.ok) throw new Error(data.error || r.statusText);
      return data;
    }));
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function show(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function current() { return state.items[state.pos]; }

  function render() {
    const box = $("record");
    box.replaceChildren();
    $("queue").textContent = `queue: ${cfg.queue}`;
    const item = current();
    if (!item) {
      $("position").textContent = "0 / 0";
      box.append(el("p", "This queue is empty.", "muted"));
      renderLabels();
      return;
    }
    $("position").textContent = `${state.pos + 1} / ${state.items.length}`;
    const head = el("h2");
    head.append(el("span", item.status, `badge ${item.status}`), " ", el("span", `id ${item.id}`));
    box.append(head);
    const rec = item.record;
    if (rec._drop) {
      const d = el("div", null, "drop");
      d.append(el("div", `dropped by ${rec._drop.step}: ${rec._drop.reason}`));
      if (rec._drop.detail !== null && rec._drop.detail !== undefined) d.append(el("pre", show(rec._drop.detail)));
      box.append(d);
    }
    const table = el("table");
    for (const [k, v] of Object.entries(rec)) {
      if (k === "id" || k === "_drop" || k === "_lineage") continue;
      const tr = el("tr");
      tr.append(el("th", k), el("td", show(v)));
      table.append(tr);
    }
    box.append(table);
    if (rec._lineage) {
      box.append(el("h2", "Lineage"), el("pre", show(rec._lineage)));
    }
    renderLabels();
  }

  function renderLabels() {
    const list = $("labels");
    list.replaceChildren();
    const item = current();
    const labels = (item && state.labels[item.id]) || [];
    if (!labels.length) list.append(el("li", "none yet", "muted"));
    for (const l of labels) {
      let text = `${l.reviewer}: ${l.verdict} (${l.time.slice(0, 19).replace("T", " ")})`;
      if (l.edit) text += ` edit ${JSON.stringify(l.edit)}`;
      if (l.note) text += ` note: ${l.note}`;
      list.append(el("li", text, l.verdict));
    }
  }

  function move(step) {
    state.pos = Math.max(0, Math.min(state.items.length - 1, state.pos + step));
    closeEdit();
    render();
  }

  function label(verdict, edit) {
    const item = current();
    if (!item) return;
    const body = { record_id: item.id, verdict, edit: edit || null, note: $("note").value.trim() || null,
                   reviewer: reviewerBox.value.trim() || cfg.reviewer };
    $("note").value = "";
    chain = chain.then(() => api("/api/label", body)).then((data) => {
      state.labels[item.id] = data.labels;
      $("status").textContent = `saved: ${verdict} of ${item.id}`;
      renderLabels();
    }).catch((err) => { $("status").textContent = `not saved: ${err.message}`; console.error(err); });
  }

  function openEdit() {
    const item = current();
    if (!item) return;
    const select = $("edit-field");
    select.replaceChildren();
    for (const k of Object.keys(item.record)) {
      if (k !== "id" && !k.startsWith("_")) select.append(new Option(k, k));
    }
    const fill = () => { $("edit-value").value = show(item.record[select.value]); };
    select.onchange = fill;
    fill();
    $("edit").hidden = false;
    $("edit-value").focus();
  }

  function closeEdit() { $("edit").hidden = true; }

  function saveEdit() {
    const item = current();
    const field = $("edit-field").value;
    const old = item.record[field];
    let value = $("edit-value").value;
    if (typeof old !== "string") {
      try { value = JSON.parse(value); } catch (e) { /* kept as text */ }
    }
    closeEdit();
    label("accept", { [field]: value });
  }

  const actions = {
    a: () => label("accept"),
    r: () => label("reject"),
    s: () => { label("skip"); move(1); },
    j: () => move(1),
    k: () => move(-1),
    e: openEdit,
    n: () => $("note").focus(),
  };

  document.addEventListener("keydown", (ev) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement && document.activeElement.tagName);
    if (ev.key === "Escape") { document.activeElement.blur(); closeEdit(); return; }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const act = actions[ev.key];
    if (act) { ev.preventDefault(); act(); }
  });
  for (const b of document.querySelectorAll("button[data-key]")) b.addEventListener("click", () => actions[b.dataset.key]());
  $("edit-save").addEventListener("click", saveEdit);
  $("edit-cancel").addEventListener("click", closeEdit);

  window.reviewReady = api("/api/queue").then((data) => {
    state.items = data.items;
    state.labels = data.labels;
    const me = reviewerBox.value.trim();
    const first = state.items.findIndex((it) => !(state.labels[it.id] || []).some((l) => l.reviewer === me));
    state.pos = first < 0 ? 0 : first;
    render();
    return state.items.length;
  }).catch((err) => { $("record").textContent = `could not load the queue: ${err.message}`; console.error(err); });
})();
