"use strict";
// The dashboard's only script: draws figures from JSON data blocks, sends actions with the
// session's CSRF token, refreshes the overview. No inline scripts (the CSP forbids them).

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function say(text, isError) {
  const box = document.getElementById("status");
  if (!box) return;
  box.textContent = text;
  box.className = isError ? "error" : "ok";
}

function drawFigures() {
  for (const block of document.querySelectorAll("script.figure-data")) {
    const fig = JSON.parse(block.textContent);
    Plotly.newPlot(block.dataset.target, fig.data, fig.layout || {}, {displaylogo: false, responsive: true});
  }
  const graph = document.getElementById("fig-graph");
  if (graph && graph.on) {
    graph.on("plotly_click", (ev) => {
      const point = ev.points && ev.points[0];
      if (point && typeof point.customdata === "string") {
        window.location = "/dashboard/accounts/" + encodeURIComponent(point.customdata);
      }
    });
  }
}

async function post(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const body = JSON.parse(button.dataset.body || "{}");
  const box = button.closest(".actbox");
  const reason = box ? box.querySelector("input.reason") : null;
  if (reason && reason.value.trim()) body.reason = reason.value.trim();
  button.disabled = true;
  try {
    const res = await fetch(button.dataset.post, {
      method: "POST",
      credentials: "same-origin",
      headers: {"content-type": "application/json", "x-csrf-token": csrfToken()},
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      say((data.error && data.error.message) || ("Failed: HTTP " + res.status), true);
      return;
    }
    say("Done: " + (button.textContent || "").trim(), false);
    if (button.dataset.then) window.location = button.dataset.then;
    else window.setTimeout(() => window.location.reload(), 400);
  } catch (err) {
    say("Failed: " + err, true);
  } finally {
    button.disabled = false;
  }
}

function wireButtons() {
  for (const button of document.querySelectorAll("button[data-post]")) {
    button.addEventListener("click", () => post(button));
  }
}

function live() {
  const el = document.getElementById("live");
  if (!el) return;
  const refresh = async () => {
    try {
      const res = await fetch(el.dataset.url, {credentials: "same-origin"});
      if (!res.ok) return;
      const data = await res.json();
      Plotly.react("fig-traffic", data.traffic.data, data.traffic.layout || {});
      for (const [label, value] of Object.entries(data.counters)) {
        const cell = document.querySelector('[data-counter="' + label + '"]');
        if (cell) cell.textContent = value;
      }
    } catch (err) { /* the next tick tries again */ }
  };
  window.setInterval(refresh, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawFigures();
  wireButtons();
  live();
});
