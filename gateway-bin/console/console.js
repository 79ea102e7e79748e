// The gateway console: polls the admin listener's JSON and renders it. Every value from the
// gateway (request targets above all) is written as text, never as HTML.
"use strict";

const requests = [];          // the most recent first, at most KEEP
const KEEP = 1000;
const SHOWN = 100;
const BUCKET_MS = 5000;
let lastSeq = null;
const plots = new Map();      // route -> uPlot

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

// A collapsed block of text: `summary`, then `text` when opened.
function details(summary, text) {
  const box = document.createElement("details");
  const title = document.createElement("summary");
  title.textContent = summary;
  const body = document.createElement("pre");
  body.textContent = text;
  box.append(title, body);
  return box;
}

function fill(tbody, items, render) {
  if (!items.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, "none", "empty");
    td.colSpan = tbody.parentElement.querySelectorAll("th").length;
    tbody.replaceChildren(tr);
    return;
  }
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    render(tr, item);
    return tr;
  });
  tbody.replaceChildren(...rows);
}

function renderState(state) {
  const name = state.gateway.displayName || "gateway";
  document.getElementById("title").textContent = name;
  document.getElementById("gateway-id").textContent = state.gateway.id;
  document.title = name + " console";

  fill(document.querySelector("#routes tbody"), state.routes, (tr, r) => {
    cell(tr, r.deployment);
    cell(tr, r.methods.join(", "), "mono");
    cell(tr, r.publicPath, "mono");
    cell(tr, r.backend, "mono");
    const policies = r.policies.join(", ");
    cell(tr, policies);
  });

  renderFunctions(state.functions);

  const reload = document.querySelector("#reload pre");
  if (state.lastReload) {
    const r = state.lastReload;
    reload.className = r.applied ? "s2" : "s5";
    reload.textContent = new Date(r.timeMs).toLocaleTimeString() + " " +
      (r.applied ? "applied: " : "refused: ") + r.summary;
  }
  const problems = document.querySelector("#problems pre");
  problems.textContent = state.problems || "none";
  problems.className = state.problems ? "" : "empty";
}

// The functions, with their last calls from the traffic seen so far.
function renderFunctions(functions) {
  fill(document.querySelector("#functions tbody"), functions, (tr, f) => {
    cell(tr, f.name);
    cell(tr, f.id, "mono");
    const iam = cell(tr, f.allowed ? "allowed" : "denied: " + f.denied, f.allowed ? "s2" : "s5");
    if (f.explanation) iam.appendChild(details("why", f.explanation));
    const p = f.processes;
    if (f.failure) cell(tr, "cannot run: " + f.failure, "s5");
    else cell(tr, p ? p.idle + " / " + p.busy + " / " + p.starting : "remote");
    cell(tr, f.queued);
    cell(tr, f.coldStarts === null ? "" : f.coldStarts + " (" + (f.coldStartSeconds || 0).toFixed(2) + " s)");
    const calls = requests.filter((r) => functionRoutes.get(r.route) === f.id).slice(0, 5);
    cell(tr, calls.map((r) => r.status + " " + r.durationMs.toFixed(1) + " ms").join(", "), "mono");
    const logs = cell(tr, f.logs.length ? "" : "none", "mono");
    if (f.logs.length) logs.appendChild(details(f.logs.length + " lines", f.logs.join("\n")));
  });
}

// Routes whose backend is a function, by public path, for the functions' last calls.
const functionRoutes = new Map();

function rememberFunctionRoutes(state) {
  functionRoutes.clear();
  for (const r of state.routes) {
    if (r.function_id) functionRoutes.set(r.publicPath, r.function_id);
  }
}

function statusClass(status) {
  return "s" + String(status)[0];
}

function renderTraffic() {
  fill(document.querySelector("#traffic tbody"), requests.slice(0, SHOWN), (tr, r) => {
    cell(tr, new Date(r.timeMs).toLocaleTimeString(), "mono");
    cell(tr, r.method, "mono");
    cell(tr, r.target, "mono");
    cell(tr, r.route || "(no route)", "mono");
    cell(tr, r.status, statusClass(r.status));
    cell(tr, r.durationMs.toFixed(1));
    cell(tr, r.backendMs.toFixed(1));
    cell(tr, r.requestId, "mono");
  });
  renderLatency();
  if (lastState) renderFunctions(lastState.functions);
}

function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.floor(q * sorted.length));
  return sorted[i];
}

function renderLatency() {
  const byRoute = new Map();
  for (const r of requests) {
    if (!r.route) continue;
    const bucket = Math.floor(r.timeMs / BUCKET_MS) * BUCKET_MS;
    if (!byRoute.has(r.route)) byRoute.set(r.route, new Map());
    const buckets = byRoute.get(r.route);
    if (!buckets.has(bucket)) buckets.set(bucket, []);
    buckets.get(bucket).push(r.durationMs);
  }
  const container = document.querySelector("#latency .plots");
  for (const [route, buckets] of byRoute) {
    const times = [...buckets.keys()].sort((a, b) => a - b);
    const p50 = [], p99 = [];
    for (const t of times) {
      const sorted = buckets.get(t).sort((a, b) => a - b);
      p50.push(quantile(sorted, 0.5));
      p99.push(quantile(sorted, 0.99));
    }
    const data = [times.map((t) => t / 1000), p50, p99];
    let plot = plots.get(route);
    if (!plot) {
      const box = document.createElement("div");
      box.className = "plot";
      const title = document.createElement("h3");
      title.textContent = route;
      box.appendChild(title);
      container.appendChild(box);
      plot = new uPlot({
        width: 360, height: 160,
        // The last five minutes, however few points there are yet.
        scales: { x: { time: true, range: () => [Date.now() / 1000 - 300, Date.now() / 1000 + 5] } },
        series: [{}, { label: "p50", stroke: "#1f5fa8" }, { label: "p99", stroke: "#b3261e" }],
        axes: [{}, { label: "ms" }],
      }, data, box);
      plots.set(route, plot);
    } else {
      plot.setData(data);
    }
  }
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

let lastState = null;

async function pollState() {
  try {
    const state = await getJson("/console/api/state");
    lastState = state;
    rememberFunctionRoutes(state);
    renderState(state);
  } catch (e) {
    console.warn(e);
  }
}

async function pollTraffic() {
  try {
    const url = "/console/api/traffic" + (lastSeq === null ? "" : "?after=" + lastSeq);
    const { requests: fresh } = await getJson(url);
    for (const r of fresh) {
      requests.unshift(r);
      lastSeq = r.seq;
    }
    requests.length = Math.min(requests.length, KEEP);
    // Recording has started: requests from now on are shown.
    document.body.dataset.watching = "true";
    if (fresh.length) renderTraffic();
  } catch (e) {
    console.warn(e);
  }
}

pollState();
pollTraffic();
setInterval(pollState, 5000);
setInterval(pollTraffic, 1000);
