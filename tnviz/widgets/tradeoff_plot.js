// TradeoffExplorer's plot (anywidget ESM; no build step): accuracy against compression rate,
// drawn as SVG. State lives in the model: points [{index, format, rate, x, y, label}] (x, y in
// %), formats [names, in colour order], selected (a point's index, -1 for none). Clicking a
// point sets `selected`; Python shows that point's diagrams and report. Redrawn on every change,
// so points appear while the sweep runs.
const W = 600, H = 340, M = { left: 56, right: 110, top: 16, bottom: 44 };
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const k in attrs || {}) node.setAttribute(k, attrs[k]);
  if (text !== undefined) node.textContent = text;
  return node;
}

// a few round tick values covering [lo, hi]
function ticks(lo, hi, n) {
  const span = hi - lo || 1;
  const raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(s => s * mag).find(s => span / s <= n) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function render({ model, el: host }) {
  const root = document.createElement("div");
  root.className = "tn-tradeoff";
  const svg = el("svg", { width: W, height: H, class: "tn-tradeoff-plot", viewBox: `0 0 ${W} ${H}` });
  svg.style.background = "#fff";
  svg.style.maxWidth = "100%";
  root.appendChild(svg);
  host.appendChild(root);
  const HIT = 10, STACK = 4;  // viewBox units (px at full size): how near a click must be; points one stack
  let placed = [];  // each drawn point's index and position, for the click

  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    placed = [];
    const points = model.get("points") || [];
    const formats = model.get("formats") || [];
    const selected = model.get("selected");
    const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    let x0 = 0, x1 = 10, y0 = 0, y1 = 100;
    if (points.length) {
      const xs = points.map(p => p.x), ys = points.map(p => p.y);
      const xpad = Math.max(0.5, 0.08 * (Math.max(...xs) - Math.min(...xs)));
      const ypad = Math.max(1, 0.1 * (Math.max(...ys) - Math.min(...ys)));
      x0 = Math.max(0, Math.min(...xs) - xpad); x1 = Math.max(...xs) + xpad;
      y0 = Math.max(0, Math.min(...ys) - ypad); y1 = Math.min(100, Math.max(...ys) + ypad);
      if (y1 <= y0) y1 = y0 + 1;
    }
    const sx = v => M.left + (v - x0) / (x1 - x0) * pw;
    const sy = v => M.top + ph - (v - y0) / (y1 - y0) * ph;
    // grid, ticks, axes
    const grid = el("g", { class: "tn-tradeoff-axes", "font-size": 11, fill: "#444" });
    for (const t of ticks(x0, x1, 6)) {
      grid.appendChild(el("line", { x1: sx(t), x2: sx(t), y1: M.top, y2: M.top + ph, stroke: "#eee" }));
      grid.appendChild(el("text", { x: sx(t), y: M.top + ph + 16, "text-anchor": "middle" }, String(t)));
    }
    for (const t of ticks(y0, y1, 5)) {
      grid.appendChild(el("line", { x1: M.left, x2: M.left + pw, y1: sy(t), y2: sy(t), stroke: "#eee" }));
      grid.appendChild(el("text", { x: M.left - 6, y: sy(t) + 4, "text-anchor": "end" }, String(t)));
    }
    grid.appendChild(el("rect", { x: M.left, y: M.top, width: pw, height: ph, fill: "none", stroke: "#999" }));
    grid.appendChild(el("text", { x: M.left + pw / 2, y: H - 8, "text-anchor": "middle" }, "compression rate (%)"));
    grid.appendChild(el("text", { x: 14, y: M.top + ph / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${M.top + ph / 2})` }, "test accuracy (%)"));
    svg.appendChild(grid);
    if (!points.length) {
      svg.appendChild(el("text", { x: M.left + pw / 2, y: M.top + ph / 2, "text-anchor": "middle", fill: "#888",
        class: "tn-tradeoff-empty" }, model.get("empty_text") || "no points yet"));
      return;
    }
    // one line and colour per format, then the points on top
    formats.forEach((fmt, k) => {
      const color = COLORS[k % COLORS.length];
      const mine = points.filter(p => p.format === fmt).sort((a, b) => a.x - b.x);
      if (mine.length > 1) {
        svg.appendChild(el("polyline", { class: "tn-tradeoff-line", "data-format": fmt, fill: "none", stroke: color,
          "stroke-width": 1.5, points: mine.map(p => `${sx(p.x)},${sy(p.y)}`).join(" ") }));
      }
      const ly = M.top + 10 + 16 * k;
      svg.appendChild(el("circle", { cx: M.left + pw + 16, cy: ly - 4, r: 4, fill: color }));
      svg.appendChild(el("text", { x: M.left + pw + 26, y: ly, "font-size": 11, class: "tn-tradeoff-legend" }, fmt));
    });
    // the chosen point last, so that it is drawn over any point it overlaps
    const order = points.filter(p => p.index !== selected).concat(points.filter(p => p.index === selected));
    for (const p of order) {
      const k = Math.max(0, formats.indexOf(p.format));
      const on = p.index === selected;
      const c = el("circle", {
        class: "tn-tradeoff-point" + (on ? " tn-tradeoff-selected" : ""),
        "data-index": p.index, "data-format": p.format, "data-rate": p.rate,
        cx: sx(p.x), cy: sy(p.y), r: on ? 8 : 5.5, fill: COLORS[k % COLORS.length],
        stroke: on ? "#000" : "#fff", "stroke-width": on ? 2.5 : 1.5,
      });
      c.style.cursor = "pointer";
      c.appendChild(el("title", {}, p.label));
      svg.appendChild(c);
    }
    placed = points.map(p => ({ index: p.index, x: sx(p.x), y: sy(p.y) }));
  }

  // A click picks the point nearest to it, not the topmost circle under it; a click on a stack of
  // points (within STACK px of each other, e.g. two formats with one accuracy) whose nearest is
  // the chosen one picks the next of the stack, so every point of it can be reached.
  svg.addEventListener("click", event => {
    const matrix = svg.getScreenCTM();
    if (!matrix) return;
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
    const near = placed.map(p => ({ ...p, d: Math.hypot(p.x - at.x, p.y - at.y) }))
      .filter(p => p.d <= HIT).sort((a, b) => a.d - b.d || a.index - b.index);
    if (!near.length) return;
    const stack = near.filter(p => Math.hypot(p.x - near[0].x, p.y - near[0].y) <= STACK);
    const current = stack.findIndex(p => p.index === model.get("selected"));
    const chosen = current >= 0 ? stack[(current + 1) % stack.length] : near[0];
    model.set("selected", chosen.index);
    model.save_changes();
  });
  draw();
  for (const name of ["points", "formats", "selected", "empty_text"]) model.on("change:" + name, draw);
}

export default { render };
