// The operator dashboard's script (pitchrec.api.dashboard). It reads JSON endpoints only,
// with the session cookie, every 5 s (the bucket of /v1/stats), and draws with uPlot.
//
// Every figure sits in an element naming where it comes from (data-source: stats, policies,
// experiments, readyz; data-path: the dotted path in that JSON) and holding the value it
// received as JSON (data-value), beside its formatted text: what the page shows can be
// compared with the endpoints exactly (tests/browser). window.pitchrecDashboard exposes the
// last payloads and the charts' data for the same purpose.
"use strict";

(function () {
  const REFRESH_MS = 5000;
  const SOURCES = {
    stats: "/v1/stats",
    policies: "/v1/policies",
    experiments: "/v1/experiments",
    readyz: "/readyz",
  };
  // Buckets are drawn as dots too: a bucket between two empty ones is no line.
  const DOTS = { show: true, size: 4 };
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f"];
  const root = document.getElementById("dashboard");
  const state = {
    data: {}, status: {}, generation: 0, paused: false, timer: null, charts: {}, inFlight: null,
  };

  // -- formatting ---------------------------------------------------------------------------

  function formatBytes(v) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let value = v;
    let unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(1)) + " " + units[unit];
  }

  function formatSeconds(v) {
    if (v < 120) return v.toFixed(1) + " s";
    if (v < 7200) return (v / 60).toFixed(1) + " min";
    return (v / 3600).toFixed(1) + " h";
  }

  function formatTime(v) {
    return new Date(v * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  const FORMATS = {
    int: (v) => Math.round(v).toLocaleString("en-US"),
    id: (v) => String(v),
    text: (v) => String(v),
    days: (v) => String(v),
    plain: (v) => String(v),
    rate: (v) => v.toFixed(2) + " /s",
    ms: (v) => v.toFixed(2) + " ms",
    ratio: (v) => v.toFixed(3),
    rate4: (v) => v.toFixed(4),
    signed4: (v) => (v >= 0 ? "+" : "") + v.toFixed(4),
    weight: (v) => v.toFixed(3),
    pct: (v) => (100 * v).toFixed(1) + " %",
    seconds: formatSeconds,
    bytes: formatBytes,
    time: formatTime,
  };

  function at(object, path) {
    return path.split(".").reduce((o, key) => (o === null || o === undefined ? undefined : o[key]), object);
  }

  function show(element, value) {
    const missing = value === null || value === undefined;
    element.dataset.value = JSON.stringify(missing ? null : value);
    const format = FORMATS[element.dataset.format] || FORMATS.text;
    element.textContent = missing ? "—" : format(value);
    element.classList.toggle("null", missing);
  }

  function cell(tag, source, path, format, value) {
    const element = document.createElement(tag);
    const span = document.createElement("span");
    span.className = "num";
    span.dataset.source = source;
    span.dataset.path = path;
    span.dataset.format = format;
    show(span, value);
    element.appendChild(span);
    return element;
  }

  function textCell(tag, text) {
    const element = document.createElement(tag);
    element.textContent = text;
    return element;
  }

  // -- loading ------------------------------------------------------------------------------

  async function load(name) {
    const response = await fetch(SOURCES[name], {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (name === "experiments" && response.status === 404) return { state: "absent", data: null };
    if (response.status === 401 || response.status === 403) {
      return { state: "unauthorised", data: null, status: response.status };
    }
    if (!response.ok) return { state: "error", data: null, status: response.status };
    return { state: "ready", data: await response.json() };
  }

  function refresh() {
    if (state.inFlight) return state.inFlight;
    state.inFlight = (async () => {
      const names = Object.keys(SOURCES);
      const results = await Promise.all(
        names.map((name) => load(name).catch((error) => ({ state: "error", data: null, error: String(error) }))),
      );
      names.forEach((name, i) => {
        state.status[name] = results[i].state;
        state.data[name] = results[i].data;
      });
      render(results, names);
      state.generation += 1;
      root.dataset.generation = String(state.generation);
    })().finally(() => {
      state.inFlight = null;
    });
    return state.inFlight;
  }

  function schedule() {
    clearTimeout(state.timer);
    if (!state.paused) state.timer = setTimeout(() => refresh().finally(schedule), REFRESH_MS);
  }

  // -- rendering ----------------------------------------------------------------------------

  function render(results, names) {
    for (const name of names) {
      document.querySelectorAll(`[data-source="${name}"]`).forEach((element) => {
        show(element, at(state.data[name], element.dataset.path));
      });
    }
    const exposure = state.data.stats && state.data.stats.exposure;
    document.getElementById("fresh-days-clause").hidden = !(exposure && exposure.fresh_max_days > 0);
    renderPolicies();
    renderExperiments();
    renderTrafficCharts();
    const statsState = state.status.stats;
    for (const panel of ["traffic", "exposure", "tracking"]) setPanel(panel, statsState);
    setPanel("snapshot", statsState === "ready" && state.status.readyz === "ready" ? "ready" : "error");
    setPanel("policies", state.status.policies);
    setPanel("experiments", state.status.experiments);
    const unauthorised = names.some((name) => state.status[name] === "unauthorised");
    const failed = names.filter((name) => state.status[name] === "error");
    const banner = document.getElementById("banner");
    if (unauthorised) {
      banner.textContent = "Your session has ended or was refused: open /dashboard?token=… again.";
      state.paused = true;
    } else if (failed.length) {
      banner.textContent = "Could not read: " + failed.map((name) => SOURCES[name]).join(", ");
    }
    banner.hidden = !(unauthorised || failed.length);
    root.dataset.state = unauthorised ? "unauthorised" : failed.length ? "degraded" : "ready";
    document.getElementById("status").textContent =
      (state.paused ? "paused" : "refreshing every 5 s") + (failed.length ? " · some reads failed" : "");
  }

  function setPanel(name, value) {
    const panel = document.querySelector(`[data-panel="${name}"]`);
    if (panel) panel.dataset.state = value || "error";
  }

  function renderPolicies() {
    const policies = state.data.policies;
    const table = document.getElementById("policies-table");
    const head = table.tHead;
    const body = table.tBodies[0];
    head.replaceChildren();
    body.replaceChildren();
    if (!policies || !policies.pools) return;
    const pools = Object.keys(policies.pools);
    const features = (state.data.stats && state.data.stats.learning && state.data.stats.learning.features) || [];
    const header = document.createElement("tr");
    header.appendChild(textCell("th", "feature (theta)"));
    pools.forEach((pool) => header.appendChild(textCell("th", pool)));
    head.appendChild(header);
    const kinds = document.createElement("tr");
    kinds.appendChild(textCell("td", "policy"));
    pools.forEach((pool) => kinds.appendChild(cell("td", "policies", `pools.${pool}.kind`, "text", policies.pools[pool].kind)));
    body.appendChild(kinds);
    const updates = document.createElement("tr");
    updates.appendChild(textCell("td", "updates"));
    pools.forEach((pool) => updates.appendChild(cell("td", "policies", `pools.${pool}.n_updates`, "int", policies.pools[pool].n_updates)));
    body.appendChild(updates);
    const width = Math.max(0, ...pools.map((pool) => (policies.pools[pool].theta || []).length));
    let largest = 0;
    pools.forEach((pool) => (policies.pools[pool].theta || []).forEach((v) => (largest = Math.max(largest, Math.abs(v)))));
    for (let i = 0; i < width; i += 1) {
      const row = document.createElement("tr");
      row.appendChild(textCell("td", features[i] ? `${i} ${features[i]}` : `column ${i}`));
      pools.forEach((pool) => {
        const value = (policies.pools[pool].theta || [])[i];
        const td = cell("td", "policies", `pools.${pool}.theta.${i}`, "weight", value);
        if (typeof value === "number" && largest > 0) {
          td.className = value >= 0 ? "pos" : "neg";
          td.style.setProperty("--alpha", (0.45 * Math.abs(value) / largest).toFixed(3));
        }
        row.appendChild(td);
      });
      body.appendChild(row);
    }
  }

  function renderExperiments() {
    const experiments = state.data.experiments;
    const present = state.status.experiments === "ready" && experiments && Array.isArray(experiments.variants)
      && experiments.variants.length > 0;
    document.getElementById("experiments-empty").hidden = present;
    document.getElementById("experiments-empty").textContent =
      state.status.experiments === "error" ? "experiments could not be read" : "no experiments configured";
    document.getElementById("experiments-body").hidden = !present;
    const body = document.querySelector("#experiments-table tbody");
    body.replaceChildren();
    if (!present) return;
    experiments.variants.forEach((variant, i) => {
      const row = document.createElement("tr");
      const path = `variants.${i}`;
      row.appendChild(cell("td", "experiments", `${path}.name`, "text", variant.name));
      row.appendChild(cell("td", "experiments", `${path}.weight`, "plain", variant.weight));
      row.appendChild(cell("td", "experiments", `${path}.status`, "text", variant.status));
      row.appendChild(cell("td", "experiments", `${path}.impressions`, "int", variant.impressions));
      row.appendChild(cell("td", "experiments", `${path}.likes`, "int", variant.likes));
      row.appendChild(cell("td", "experiments", `${path}.like_rate`, "rate4", variant.like_rate));
      const d = variant.difference;
      if (d) {
        const difference = document.createElement("td");
        ["estimate", "low", "high"].forEach((key, k) => {
          if (k === 1) difference.appendChild(document.createTextNode(" ["));
          if (k === 2) difference.appendChild(document.createTextNode(", "));
          difference.appendChild(cell("span", "experiments", `${path}.difference.${key}`, "signed4", d[key]));
          if (k === 2) difference.appendChild(document.createTextNode("]"));
        });
        row.appendChild(difference);
      } else {
        row.appendChild(cell("td", "experiments", `${path}.difference`, "signed4", null));
      }
      body.appendChild(row);
    });
    drawExperimentsChart(experiments);
  }

  function experimentsData(experiments) {
    const names = experiments.variants.map((variant) => variant.name);
    const series = experiments.series || {};
    const times = new Set();
    names.forEach((name) => (series[name] || []).forEach((point) => times.add(point.t)));
    const t = Array.from(times).sort((a, b) => a - b);
    const data = [t];
    names.forEach((name) => {
      const byTime = new Map((series[name] || []).map((point) => [point.t, point]));
      for (const key of ["rate", "low", "high"]) {
        data.push(t.map((time) => (byTime.has(time) ? byTime.get(time)[key] : null)));
      }
    });
    return { names, data };
  }

  function drawExperimentsChart(experiments) {
    const { names, data } = experimentsData(experiments);
    const t = data[0];
    state.experimentsRange = t.length ? [t[0] - 3600, t[t.length - 1] + 3600] : null;
    const key = names.join("\u0000");
    if (state.charts.experiments && state.charts.experimentsKey !== key) {
      state.charts.experiments.destroy();
      state.charts.experiments = null;
    }
    if (!state.charts.experiments) {
      const series = [{}];
      const bands = [];
      names.forEach((name, i) => {
        const colour = PALETTE[i % PALETTE.length];
        series.push({ label: name, stroke: colour, width: 2, points: DOTS });
        series.push({ label: name + " low", stroke: colour, width: 1, dash: [4, 4], points: DOTS });
        series.push({ label: name + " high", stroke: colour, width: 1, dash: [4, 4], points: DOTS });
        bands.push({ series: [3 * i + 3, 3 * i + 2], fill: colour + "22" });
      });
      // Hourly buckets, padded by an hour either side (a lone hour is not stretched).
      const hours = { x: { time: true, range: (u, min, max) => state.experimentsRange || [min, max] } };
      state.charts.experiments = makeChart("chart-experiments", series, data, { bands, scales: hours });
      state.charts.experimentsKey = key;
    } else {
      state.charts.experiments.setData(data);
    }
  }

  function trafficData(stats) {
    const s = (stats && stats.traffic && stats.traffic.series) || {};
    return {
      traffic: [s.t || [], s.requests_per_second || [], s.feeds_per_second || [], s.errors_per_second || []],
      latency: [s.t || [], s.p50_ms || [], s.p95_ms || []],
    };
  }

  function renderTrafficCharts() {
    const stats = state.data.stats;
    if (stats && stats.windows) state.historyRange = [stats.as_of - stats.windows.history_seconds, stats.as_of];
    const data = trafficData(stats);
    // A fixed 10-minute axis ending at as_of (each chart its own options: uPlot keeps them).
    const history = () => ({ scales: { x: { time: true, range: (u, min, max) => state.historyRange || [min, max] } } });
    if (!state.charts.traffic) {
      state.charts.traffic = makeChart("chart-traffic", [
        {},
        { label: "requests/s", stroke: PALETTE[0], width: 2, points: DOTS },
        { label: "feeds/s", stroke: PALETTE[2], width: 1, points: DOTS },
        { label: "errors/s", stroke: PALETTE[1], width: 1, points: DOTS },
      ], data.traffic, history());
      state.charts.latency = makeChart("chart-latency", [
        {},
        { label: "p50 ms", stroke: PALETTE[0], width: 2, points: DOTS },
        { label: "p95 ms", stroke: PALETTE[4], width: 2, points: DOTS },
      ], data.latency, history());
    } else {
      state.charts.traffic.setData(data.traffic);
      state.charts.latency.setData(data.latency);
    }
  }

  function chartWidth(element) {
    return Math.max((element.parentElement && element.parentElement.clientWidth) || 0, 320);
  }

  function makeChart(id, series, data, extra) {
    const element = document.getElementById(id);
    const options = Object.assign({
      width: chartWidth(element),
      height: 200,
      series,
      scales: { x: { time: true } },
      axes: [{}, { size: 60 }],
    }, extra || {});
    return new uPlot(options, data, element);
  }

  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const name of ["traffic", "latency", "experiments"]) {
        const chart = state.charts[name];
        if (chart) chart.setSize({ width: chartWidth(document.getElementById("chart-" + name)), height: 200 });
      }
    }, 100);
  });

  // -- controls -----------------------------------------------------------------------------

  const pause = document.getElementById("pause");
  pause.addEventListener("click", () => {
    state.paused = !state.paused;
    pause.setAttribute("aria-pressed", String(state.paused));
    pause.textContent = state.paused ? "Resume" : "Pause";
    document.getElementById("status").textContent = state.paused ? "paused" : "refreshing every 5 s";
    schedule();
  });
  document.getElementById("refresh").addEventListener("click", () => {
    refresh();
  });

  window.pitchrecDashboard = {
    refresh,
    get data() {
      return state.data;
    },
    get status() {
      return state.status;
    },
    chartData(name) {
      const chart = state.charts[name];
      return chart ? chart.data.map((column) => Array.from(column)) : null;
    },
  };

  refresh().finally(schedule);
})();
