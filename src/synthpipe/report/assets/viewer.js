// The report's record viewer: inflates the embedded records and lets the reader search,
// filter and page through them. Every value from the data goes into the page through
// textContent (never innerHTML), so record text cannot become markup.
(() => {
  "use strict";
  const PAGE = 25;
  const ROW_CHARS = 240; // text shown in a collapsed row; the whole value when expanded
  const MISSING = "(missing)";
  const RESERVED = new Set(["_lineage", "_drop"]);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function asText(v) {
    if (v === undefined || v === null) return "";
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function pretty(v) {
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  }

  async function inflate(root) {
    const b64 = root.querySelector("script.spv-data").textContent.trim();
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  // Strings anywhere in a value (not its keys): what the search box looks through.
  function strings(v, out) {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
    else if (v && typeof v === "object") Object.values(v).forEach((x) => strings(x, out));
    return out;
  }

  function isNum(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  // Numeric fields: top level, one level into dicts, and a structured drop detail.
  function numbers(r) {
    const out = {};
    const take = (prefix, obj) => {
      for (const [k, v] of Object.entries(obj)) {
        if (isNum(v)) out[prefix + k] = v;
        else if (v !== null && v !== undefined) out[prefix + k] = null;
      }
    };
    for (const [k, v] of Object.entries(r)) {
      if (RESERVED.has(k)) continue;
      if (isNum(v)) out[k] = v;
      else if (v && typeof v === "object" && !Array.isArray(v)) take(k + ".", v);
      else if (v !== null && v !== undefined) out[k] = null; // present but not a number
    }
    const detail = r._drop && r._drop.detail;
    if (detail && typeof detail === "object" && !Array.isArray(detail)) take("_drop.detail.", detail);
    return out;
  }

  function rowsOf(data) {
    const rows = [];
    const add = (r, status) => {
      const drop = r._drop && typeof r._drop === "object" ? r._drop : null;
      const lab = r[data.label_field];
      const hay = [];
      for (const [k, v] of Object.entries(r)) if (!RESERVED.has(k)) strings(v, hay);
      rows.push({
        r, status,
        step: drop ? asText(drop.step) : "",
        reason: drop ? asText(drop.reason) : "",
        label: lab === undefined || lab === null ? MISSING : asText(lab),
        hay: hay.join("\n").toLowerCase(),
        nums: numbers(r),
      });
    };
    data.kept.forEach((r) => add(r, "kept"));
    data.dropped.forEach((r) => add(r, "dropped"));
    return rows;
  }

  // Fields whose present values are all numbers (at least one of them).
  function scoreFields(rows) {
    const seen = new Map();
    for (const row of rows) {
      for (const [k, v] of Object.entries(row.nums)) {
        const s = seen.get(k) || { ok: true, n: 0, min: Infinity, max: -Infinity };
        if (v === null) s.ok = false;
        else { s.n++; s.min = Math.min(s.min, v); s.max = Math.max(s.max, v); }
        seen.set(k, s);
      }
    }
    return [...seen].filter(([, s]) => s.ok && s.n > 0).sort(([a], [b]) => a.localeCompare(b));
  }

  function counted(rows, key) {
    const counts = new Map();
    for (const row of rows) if (row[key] !== "") counts.set(row[key], (counts.get(row[key]) || 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  }

  function select(name, label, options, all) {
    const wrap = el("label", "spv-field");
    wrap.append(el("span", null, label));
    const s = el("select");
    s.name = name;
    s.append(new Option(all, ""));
    for (const [value, n] of options) s.append(new Option(n === undefined ? value : `${value} (${n})`, value));
    wrap.append(s);
    return [wrap, s];
  }

  function numberInput(name, label) {
    const wrap = el("label", "spv-field spv-num");
    wrap.append(el("span", null, label));
    const input = el("input");
    input.type = "number";
    input.step = "any";
    input.name = name;
    wrap.append(input);
    return [wrap, input];
  }

  function build(root, data) {
    const rows = rowsOf(data);
    const scores = scoreFields(rows);
    const controls = el("div", "spv-controls");
    controls.setAttribute("role", "search");
    const searchWrap = el("label", "spv-field spv-search");
    searchWrap.append(el("span", null, "Search"));
    const search = el("input");
    search.type = "search";
    search.name = "q";
    search.placeholder = "words in any field (press / to focus)";
    searchWrap.append(search);
    controls.append(searchWrap);
    const [statusWrap, status] = select("status", "Status", [["kept"], ["dropped"]], "kept and dropped");
    const [stepWrap, step] = select("step", "Step", counted(rows, "step"), "any step");
    const [reasonWrap, reason] = select("reason", "Reason", counted(rows, "reason"), "any reason");
    controls.append(statusWrap, stepWrap, reasonWrap);
    const labels = counted(rows, "label");
    const labelName = data.label_field === "label" ? "Label" : `Label (${data.label_field})`;
    const [labelWrap, label] = select("label", labelName, labels, "any label");
    if (labels.some(([v]) => v !== MISSING)) controls.append(labelWrap);
    const score = {};
    if (scores.length) {
      const [fieldWrap, field] = select("score", "Score field", scores.map(([k]) => [k]), "none");
      const [minWrap, min] = numberInput("min", "min");
      const [maxWrap, max] = numberInput("max", "max");
      const [sortWrap, sort] = select("sort", "Order", [["high to low"], ["low to high"]], "as in the run");
      Object.assign(score, { field, min, max, sort });
      const range = new Map(scores);
      field.addEventListener("change", () => {
        const s = range.get(field.value);
        min.placeholder = s ? String(s.min) : "";
        max.placeholder = s ? String(s.max) : "";
      });
      controls.append(fieldWrap, minWrap, maxWrap, sortWrap);
    }
    const count = el("p", "spv-count");
    count.setAttribute("aria-live", "polite");
    const list = el("ol", "spv-list");
    const pager = el("div", "spv-pager");
    const prev = el("button", null, "‹ Previous");
    const next = el("button", null, "Next ›");
    prev.type = next.type = "button";
    const where = el("span", "spv-page");
    pager.append(prev, where, next);
    root.append(controls, count, list, pager);

    let matches = rows;
    let page = 0;

    function bound(input) {
      return input && input.value !== "" && isNum(Number(input.value)) ? Number(input.value) : null;
    }

    function apply() {
      const q = search.value.trim().toLowerCase();
      const f = score.field ? score.field.value : "";
      const lo = f ? bound(score.min) : null;
      const hi = f ? bound(score.max) : null;
      matches = rows.filter((row) =>
        (!q || row.hay.includes(q)) &&
        (!status.value || row.status === status.value) &&
        (!step.value || row.step === step.value) &&
        (!reason.value || row.reason === reason.value) &&
        (!label.value || row.label === label.value) &&
        (lo === null || (isNum(row.nums[f]) && row.nums[f] >= lo)) &&
        (hi === null || (isNum(row.nums[f]) && row.nums[f] <= hi)));
      const order = f && score.sort.value;
      if (order) {
        const sign = order === "high to low" ? -1 : 1;
        const key = (row) => (isNum(row.nums[f]) ? row.nums[f] : null);
        matches = matches.slice().sort((a, b) => {
          const x = key(a), y = key(b);
          if (x === null || y === null) return (x === null) - (y === null); // missing last
          return sign * (x - y);
        });
      }
      page = 0;
      render();
    }

    function render() {
      const pages = Math.max(1, Math.ceil(matches.length / PAGE));
      page = Math.min(page, pages - 1);
      list.replaceChildren(...matches.slice(page * PAGE, (page + 1) * PAGE).map((row) => rowItem(row, data)));
      list.start = page * PAGE + 1;
      count.textContent = `${matches.length.toLocaleString("en")} of ${rows.length.toLocaleString("en")} embedded records match`;
      where.textContent = `Page ${page + 1} of ${pages}`;
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }

    let timer = 0;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 120); });
    search.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && search.value) { search.value = ""; apply(); }
      if (e.key === "Enter") { clearTimeout(timer); apply(); }
    });
    for (const s of [status, step, reason, label, score.field, score.sort]) if (s) s.addEventListener("change", apply);
    for (const s of [score.min, score.max]) if (s) s.addEventListener("input", apply);
    const turn = (step) => {
      page += step;
      render();
      if (list.getBoundingClientRect().top < 0) count.scrollIntoView({ block: "start" }); // the new page's top
    };
    prev.addEventListener("click", () => turn(-1));
    next.addEventListener("click", () => turn(1));
    document.addEventListener("keydown", (e) => {
      const t = e.target;
      const typing = t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName));
      if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        search.focus();
      }
    });
    render();
  }

  function rowItem(row, data) {
    const li = el("li", "spv-row");
    const details = el("details");
    const summary = el("summary");
    summary.append(el("span", `spv-badge spv-${row.status}`, row.status));
    if (row.r.id !== undefined) summary.append(el("span", "spv-id", asText(row.r.id)));
    const text = asText(row.r[data.text_field]);
    summary.append(el("span", "spv-text", text.length > ROW_CHARS ? text.slice(0, ROW_CHARS) + "…" : text || "(empty)"));
    if (row.label !== MISSING) summary.append(el("span", "spv-tag", row.label));
    if (row.status === "dropped") summary.append(el("span", "spv-tag spv-reason", `${row.step}: ${row.reason}`));
    details.append(summary);
    // The body is built on first opening: a page of rows stays cheap to draw.
    details.addEventListener("toggle", () => {
      if (details.open && details.children.length === 1) details.append(body(row));
    });
    li.append(details);
    return li;
  }

  function body(row) {
    const box = el("div", "spv-body");
    const r = row.r;
    if (row.status === "dropped") {
      const drop = r._drop || {};
      box.append(el("h4", null, "Drop"));
      const dl = el("dl", "spv-drop");
      const pair = (k, v, cls) => { dl.append(el("dt", null, k), el("dd", cls, v)); };
      pair("step", asText(drop.step));
      pair("reason", asText(drop.reason));
      const detail = drop.detail;
      if (detail !== undefined && detail !== null && detail !== "") {
        pair("detail", pretty(detail), typeof detail === "string" ? "spv-val spv-detail" : "spv-pre spv-detail");
      }
      box.append(dl);
    }
    box.append(el("h4", null, "Fields"));
    const table = el("table", "spv-fields");
    const tbody = el("tbody");
    for (const [k, v] of Object.entries(r)) {
      if (RESERVED.has(k)) continue;
      const tr = el("tr");
      tr.append(el("th", null, k), el("td", typeof v === "string" ? "spv-val" : "spv-pre", pretty(v)));
      tbody.append(tr);
    }
    table.append(tbody);
    box.append(table);
    box.append(el("h4", null, "Lineage"));
    const lineage = r._lineage;
    const none = lineage === undefined || lineage === null;
    box.append(el("pre", "spv-pre spv-lineage", none ? "(none recorded)" : pretty(lineage)));
    return box;
  }

  async function start(root) {
    const t0 = performance.now();
    try {
      if (typeof DecompressionStream === "undefined") {
        throw new Error("this browser has no DecompressionStream (Chrome 80+, Firefox 113+, Safari 16.4+ have it)");
      }
      const data = await inflate(root);
      root.dataset.inflateMs = (performance.now() - t0).toFixed(1);
      build(root, data);
      root.dataset.state = "ready";
      root.dataset.renderMs = (performance.now() - t0).toFixed(1);
    } catch (err) {
      root.dataset.state = "failed";
      root.append(el("p", "spv-error", `The record viewer could not load: ${err.message}`));
    }
  }

  for (const root of document.querySelectorAll(".spv:not([data-started])")) {
    root.dataset.started = "1";
    start(root);
  }
})();
