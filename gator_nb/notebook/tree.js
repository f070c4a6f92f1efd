// gator-nb's run tree, drawn in the browser from the rows the kernel sends (anywidget ESM).
//
// The kernel sends every row once (the `snapshot` trait) and then only the rows that
// changed (custom "delta" messages, at most a few a second). Expanding, collapsing,
// sorting, paging and opening a failed job's panel happen here, without the kernel, so
// they work while it is busy. Only "more log" of a job asks the kernel (it answers when
// idle). Job text is only ever set with textContent: nothing sent is parsed as HTML.

const stores = new WeakMap(); // model -> {rows, kids, roots, ...}, shared by its views

function storeOf(model) {
  let store = stores.get(model);
  if (store) return store;
  store = { views: new Set(), details: new Map(), asked: new Set() };
  load(store, model.get("snapshot"));
  model.on("change:snapshot", () => {
    load(store, model.get("snapshot"));
    redraw(store);
  });
  model.on("msg:custom", (msg) => {
    if (msg.type === "delta") applyDelta(store, msg);
    else if (msg.type === "detail") {
      store.details.set(msg.job, { ...(store.details.get(msg.job) || {}), ...msg.detail });
      store.asked.delete(msg.job);
    }
    redraw(store);
  });
  stores.set(model, store);
  return store;
}

function load(store, snap) {
  if (!snap || !snap.fields) return;
  if (store.seq !== undefined && snap.seq < store.seq) return; // deltas already went further
  store.fields = snap.fields;
  store.index = Object.fromEntries(snap.fields.map((name, i) => [name, i]));
  store.rows = new Map(Object.entries(snap.rows));
  store.kids = snap.kids;
  store.roots = snap.roots;
  store.head = snap.head;
  store.colours = snap.colours;
  store.maxRows = snap.max_rows;
  store.seq = snap.seq;
  store.skew = snap.now - Date.now() / 1000;
  for (const [job, detail] of Object.entries(snap.details || {})) store.details.set(job, detail);
}

function applyDelta(store, msg) {
  if (!store.rows || msg.seq <= store.seq) return;
  store.seq = msg.seq;
  store.head = msg.head;
  store.skew = msg.now - Date.now() / 1000;
  for (const [key, values] of Object.entries(msg.rows)) store.rows.set(key, values);
  for (const [job, detail] of Object.entries(msg.details || {})) store.details.set(job, detail);
}

function redraw(store) {
  for (const view of store.views) view.schedule();
}

function field(store, values, name) {
  return values[store.index[name]];
}

function row(store, key) {
  const values = store.rows.get(key);
  if (!values) return null;
  const get = (name) => field(store, values, name);
  return { key, get };
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
  return node;
}

function duration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

const COUNTED = ["failed", "running", "passed", "skipped", "cancelled"];
const STACKED = ["passed", "failed", "running", "skipped", "cancelled"];

function elapsedOf(store, r) {
  const start = r.get("start");
  if (start === null || start === undefined) return r.get("elapsed");
  const end = r.get("end");
  const now = Date.now() / 1000 + store.skew;
  return duration(Math.max((end === null || end === undefined ? now : end) - start, 0));
}

function statusWord(store, status) {
  const span = el("span", `gator-status gator-${status}`, status);
  span.style.color = store.colours[status];
  return span;
}

function stackedBar(store, r) {
  const total = r.get("total") || 1;
  const bar = el("span", "gator-bar");
  bar.title = COUNTED.filter((s) => r.get(s)).map((s) => `${r.get(s)} ${s}`).join(", ");
  for (const status of STACKED) {
    const count = r.get(status);
    if (!count) continue;
    const part = el("span", `gator-seg gator-seg-${status}`);
    part.style.width = `${(100 * count) / total}%`;
    part.style.background = store.colours[status];
    bar.append(part);
  }
  return bar;
}

function facts(store, r) {
  const parts = [];
  if (r.get("tests")) {
    const failed = r.get("tests_failed");
    parts.push(`${r.get("tests")} tests` + (failed ? `, ${failed} failed` : ""));
  }
  for (const [name, value] of r.get("metrics") || []) parts.push(`${name} ${value}`);
  const elapsed = elapsedOf(store, r);
  if (elapsed) parts.push(elapsed);
  if (r.get("live")) parts.push(r.get("live"));
  if (r.get("peak")) parts.push(`peak ${r.get("peak")}`);
  if (r.get("warnings") || r.get("errors")) parts.push(`${r.get("warnings")}W ${r.get("errors")}E`);
  return parts.join(" · ");
}

const RANK = { failed: 0, running: 1 };

function ordered(store, keys, sort) {
  const rows = keys.map((key) => row(store, key)).filter(Boolean);
  if (sort === "plan") return rows;
  const rank = (r) => RANK[r.get("status")] ?? 2;
  if (sort === "longest") {
    const took = (r) => {
      const start = r.get("start");
      if (start === null || start === undefined) return -1;
      const end = r.get("end") ?? Date.now() / 1000 + store.skew;
      return end - start;
    };
    return rows.map((r, i) => [r, i]).sort((a, b) => took(b[0]) - took(a[0]) || a[1] - b[1]).map((p) => p[0]);
  }
  return rows.map((r, i) => [r, i]).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map((p) => p[0]);
}

class View {
  constructor(model, el_) {
    this.model = model;
    this.store = storeOf(model);
    this.root = el_;
    this.expanded = new Set(this.store.roots || []);
    this.opened = new Set();
    this.limits = new Map();
    this.panels = new Map(); // job -> its panel element, kept so its scroll stays put
    this.sort = "failed";
    this.pending = false;
    this.view = el("div", "gator-view");
    this.header = el("div", "gator-header");
    this.body = el("div", "gator-body");
    this.view.append(this.header, this.body);
    el_.append(this.view);
    this.store.views.add(this);
    this.timer = setInterval(() => {
      if (this.store.head && this.store.head.status === "running") this.schedule();
    }, 1000);
    this.draw();
  }

  destroy() {
    clearInterval(this.timer);
    this.store.views.delete(this);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    if (!this.store.rows) return;
    this.drawHeader();
    const out = [];
    this.visit(this.store.roots, 0, "", out);
    this.body.replaceChildren(...out);
  }

  drawHeader() {
    const head = this.store.head;
    const text = el("span", "gator-summary");
    text.append(el("b", null, "gator"), ` ${this.model.get("run_id")} · `);
    text.append(statusWord(this.store, head.status), ` · ${head.done}/${head.total} done`);
    for (const status of COUNTED) {
      if (!head[status]) continue;
      const count = el("span", `gator-count gator-${status}`, `${head[status]} ${status}`);
      count.style.color = this.store.colours[status];
      text.append(" · ", count);
    }
    if (head.start) {
      const end = head.end ?? Date.now() / 1000 + this.store.skew;
      text.append(` · ${duration(Math.max(end - head.start, 0))}`);
    } else if (head.elapsed) text.append(` · ${head.elapsed}`);
    if (head.left) text.append(` · ${head.left}`);
    const sort = el("select", "gator-sort");
    sort.title = "order of rows under each group";
    for (const [value, label] of [["failed", "failed first"], ["plan", "spec order"], ["longest", "longest first"]]) {
      const option = el("option", null, label);
      option.value = value;
      option.selected = value === this.sort;
      sort.append(option);
    }
    sort.onchange = () => {
      this.sort = sort.value;
      this.draw();
    };
    const parts = [text, sort];
    if (head.status === "running") {
      const stop = el("button", "gator-stop", "Stop");
      stop.title = "cancel the run: stops every running job";
      stop.disabled = this.stopping === true;
      if (this.stopping) stop.textContent = "Stopping…";
      stop.onclick = () => {
        this.stopping = true;
        this.model.send({ type: "stop" });
        this.draw();
      };
      parts.push(stop);
    }
    this.header.replaceChildren(...parts);
  }

  visit(keys, depth, parent, out) {
    const limit = this.limits.get(parent) ?? this.store.maxRows;
    const rows = ordered(this.store, keys, this.sort);
    for (const r of rows.slice(0, limit)) {
      const kind = r.get("kind");
      const open = kind === "job" ? this.opened.has(r.key) : this.expanded.has(r.key);
      out.push(this.line(r, depth, open));
      if (open && kind === "job") out.push(this.panel(r, depth + 1));
      else if (open) this.visit(this.store.kids[r.key] || [], depth + 1, r.key, out);
    }
    if (rows.length > limit) {
      const hidden = rows.slice(limit);
      const failed = hidden.filter((r) => r.get("status") === "failed").length;
      const more = el("div", "gator-row gator-more");
      more.style.paddingLeft = `${1.4 * depth}em`;
      const button = el("button", "gator-toggle", `… ${hidden.length} more` + (failed ? ` (${failed} failed)` : ""));
      button.onclick = () => {
        this.limits.set(parent, limit + this.store.maxRows);
        this.draw();
      };
      more.append(button);
      out.push(more);
    }
  }

  line(r, depth, open) {
    const kind = r.get("kind");
    const status = r.get("status");
    const line = el("div", `gator-row gator-${kind} gator-row-${status}`);
    line.dataset.key = r.key;
    line.style.paddingLeft = `${1.4 * depth}em`;
    const toggle = el("button", "gator-toggle", open ? "▾" : "▸");
    toggle.title = (open ? "hide " : "show ") + (kind === "job" ? "log" : "jobs");
    toggle.onclick = () => this.toggle(r.key, kind);
    const name = el("span", "gator-name", r.get("name"));
    name.title = r.key;
    line.append(toggle, name);
    if (kind === "job") line.append(statusWord(this.store, status));
    else {
      line.append(stackedBar(this.store, r), el("span", "gator-done", `${r.get("done")}/${r.get("total")}`));
    }
    line.append(el("span", "gator-facts", facts(this.store, r)));
    if (r.get("note")) {
      const note = el("span", "gator-note", r.get("note"));
      note.style.color = this.store.colours.failed;
      line.append(note);
    }
    return line;
  }

  toggle(key, kind) {
    const set = kind === "job" ? this.opened : this.expanded;
    if (set.has(key)) set.delete(key);
    else {
      set.add(key);
      if (kind === "job" && !this.store.details.has(key)) this.ask(key);
    }
    this.draw();
  }

  ask(job) {
    this.store.asked.add(job);
    this.model.send({ type: "detail", job });
  }

  panel(r, depth) {
    let panel = this.panels.get(r.key);
    const detail = this.store.details.get(r.key);
    const shown = panel && panel.gatorDetail === detail && panel.gatorAsked === this.store.asked.has(r.key);
    if (!shown) {
      const fresh = this.buildPanel(r, detail);
      fresh.gatorDetail = detail;
      fresh.gatorAsked = this.store.asked.has(r.key);
      if (panel) panel.replaceWith(fresh);
      panel = fresh;
      this.panels.set(r.key, panel);
      requestAnimationFrame(() => {
        const log = panel.querySelector(".gator-log");
        if (log) log.scrollTop = log.scrollHeight; // the end of a log says why it failed
      });
    }
    panel.style.marginLeft = `${1.4 * depth}em`;
    return panel;
  }

  buildPanel(r, detail) {
    const panel = el("div", "gator-detail");
    const title = el("div", "gator-title");
    title.append(el("b", null, r.key));
    const more = el("button", "gator-more-log", this.store.asked.has(r.key) ? "asking the kernel…" : "more log");
    more.title = "read the log again (the kernel answers when it is not busy)";
    more.onclick = () => {
      this.ask(r.key);
      this.draw();
    };
    title.append(" ", more);
    panel.append(title);
    if (!detail) {
      panel.append(el("i", "gator-muted", "the kernel sends this job's log when it is not busy"));
      return panel;
    }
    if (detail.command) {
      panel.append(el("div", "gator-muted", "to reproduce:"), el("pre", "gator-command", detail.command));
    }
    if (detail.first_error) {
      const first = el("div", "gator-first-error", detail.first_error);
      first.style.color = this.store.colours.failed;
      panel.append(first);
    }
    for (const [status, test, message] of (detail.tests || []).slice(0, 30)) {
      const line = el("div", "gator-test");
      line.append(statusWord(this.store, status), ` ${test}` + (message && status !== "passed" ? ` — ${message}` : ""));
      panel.append(line);
    }
    if ((detail.metrics || []).length) {
      panel.append(el("div", "gator-metrics", "metrics " + detail.metrics.map(([n, v]) => `${n} = ${v}`).join(", ")));
    }
    const log = el("pre", "gator-log");
    if (detail.omitted) log.append(el("span", "gator-muted", `… ${detail.omitted} earlier lines\n`));
    for (const [severity, text] of detail.lines || []) {
      const line = el("span", `gator-line gator-${severity}`, text + "\n");
      if (this.store.colours[severity]) line.style.color = this.store.colours[severity];
      log.append(line);
    }
    if (!(detail.lines || []).length) log.append(el("span", "gator-muted", "(no lines)"));
    panel.append(log);
    if (detail.samples && detail.samples.length) panel.append(sparkline(detail.samples, this.store.colours));
    else if (detail.samples) panel.append(el("i", "gator-muted", "no resource samples"));
    return panel;
  }
}

function sparkline(samples, colours) {
  // samples: [[seconds, cpu %, rss bytes], ...] drawn as two lines, RSS and CPU.
  const ns = "http://www.w3.org/2000/svg";
  const width = 420, height = 80;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "gator-spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height + 16);
  const t1 = Math.max(...samples.map((s) => s[0]), 1e-3);
  const maxRss = Math.max(...samples.map((s) => s[2]), 1);
  const maxCpu = Math.max(...samples.map((s) => s[1]), 100);
  const line = (index, max, colour) => {
    const path = document.createElementNS(ns, "polyline");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", colour);
    path.setAttribute("stroke-width", "1.5");
    path.setAttribute("points", samples.map((s) => `${(s[0] / t1) * width},${height - (s[index] / max) * height}`).join(" "));
    svg.append(path);
  };
  line(2, maxRss, colours.running);
  line(1, maxCpu, colours.WARNING);
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 2);
  label.setAttribute("y", height + 12);
  label.setAttribute("font-size", "10");
  label.setAttribute("fill", colours.muted);
  label.textContent = `RSS up to ${(maxRss / 1048576).toFixed(1)} MiB (blue), CPU % (amber), over ${t1.toFixed(1)} s`;
  svg.append(label);
  return svg;
}

function render({ model, el: node }) {
  const view = new View(model, node);
  return () => view.destroy();
}

export default { render };
