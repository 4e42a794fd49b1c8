// The DiagramEditor's canvas (anywidget ESM, no build step). Python owns the state (tensors with
// their modes, edges, labels, output) and this file only draws it and sends what the mouse did:
// model.send({action, ...}). Geometry is the canvas's own business: hyperedge dots at the
// holders' centroid, open legs in the widest free angle around their tensor, pointing outward.
const W = 560, H = 360, R = 18, LEG = 52;
const MODES = [
  ["draw", "draw", "click: add a tensor; drag from a tensor onto a tensor, an edge or empty space"],
  ["move", "move", "drag a tensor"],
  ["conv", "∗ conv", "click an edge: convolution on/off"],
  ["output", "output", "click an index: in/out of the output"],
  ["role", "role", "click a tensor: input (blue) / parameter (orange)"],
  ["grad", "∂ grad", "click a tensor: its gradient diagram beside the picture (again: hide it)"],
  ["delete", "delete", "click a tensor or an index"],
];
const COLORS = { input: "#9ecae1", parameter: "#fdd49e", tensor: "#e5e5e5", edge: "#333333", conv: "#d62728" };
const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const k in attrs) node.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(node);
  return node;
}

// The widest free direction around (x, y), given the directions (radians) already taken.
function freeAngle(taken, fallback) {
  if (!taken.length) return fallback;
  const a = taken.map(t => ((t % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)).sort((p, q) => p - q);
  let best = 0, bestGap = -1;
  for (let k = 0; k < a.length; k++) {
    const next = k + 1 < a.length ? a[k + 1] : a[0] + 2 * Math.PI;
    if (next - a[k] > bestGap) { bestGap = next - a[k]; best = a[k] + (next - a[k]) / 2; }
  }
  return best;
}

function render({ model, el: host }) {
  let mode = "draw";
  let drag = null; // {kind: "move"|"connect", name, line, moved}
  let pendingAdd = null; // a click on empty space, until it is clear it was not a double-click
  const root = document.createElement("div");
  root.className = "tn-editor";
  const bar = document.createElement("div");
  bar.className = "tn-toolbar";
  bar.style.cssText = "display:flex;flex-wrap:wrap;row-gap:4px";  // a narrow area wraps the buttons
  const buttons = {};
  for (const [m, label, help] of MODES) {
    const b = document.createElement("button");
    b.textContent = label;
    b.title = help;
    b.className = "tn-mode tn-mode-" + m;
    b.style.marginRight = "4px";
    b.onclick = () => { mode = m; paintButtons(); };
    buttons[m] = b;
    bar.appendChild(b);
  }
  const undo = document.createElement("button");
  undo.textContent = "↶ undo"; undo.className = "tn-undo"; undo.title = "Ctrl+Z";
  undo.onclick = () => model.send({ action: "undo" });
  const redo = document.createElement("button");
  redo.textContent = "↷ redo"; redo.className = "tn-redo"; redo.title = "Ctrl+Y";
  redo.onclick = () => model.send({ action: "redo" });
  bar.appendChild(undo); bar.appendChild(redo);
  const status = document.createElement("div");
  status.className = "tn-editor-message";
  status.style.cssText = "color:#b00;min-height:1.2em;font-size:12px";
  const wrap = document.createElement("div");
  wrap.style.position = "relative";
  // scaled down in a narrow output area (viewBox), so that every point stays in canvas units
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "tn-canvas", tabindex: 0 });
  svg.style.maxWidth = "100%";
  svg.style.height = "auto";
  svg.style.boxSizing = "border-box";  // the border inside the 100 %
  svg.style.border = "1px solid #bbb";
  svg.style.background = "#fff";
  svg.style.outline = "none";
  wrap.appendChild(svg);
  root.appendChild(bar);
  root.appendChild(wrap);
  root.appendChild(status);
  host.appendChild(root);

  function paintButtons() {
    for (const m in buttons) buttons[m].style.fontWeight = m === mode ? "bold" : "normal";
    undo.disabled = !model.get("can_undo");
    redo.disabled = !model.get("can_redo");
    svg.style.cursor = mode === "draw" ? "crosshair" : mode === "move" ? "move" : "pointer";
  }
  const tensors = () => model.get("tensors") || [];
  const edges = () => model.get("edges") || [];
  const send = msg => model.send(msg);
  function point(evt) {
    const r = svg.getBoundingClientRect();
    return [((evt.clientX - r.left) * W) / (r.width || W), ((evt.clientY - r.top) * H) / (r.height || H)];
  }
  function tensorAt(x, y) {
    return tensors().find(t => (t.x - x) ** 2 + (t.y - y) ** 2 <= R * R * 1.4);
  }
  // what lies under the pointer: a tensor or an index (an edge, its label, its dot)
  function targetAt(evt) {
    const [x, y] = point(evt);
    const t = tensorAt(x, y);
    if (t) return { tensor: t.name };
    const hit = document.elementsFromPoint(evt.clientX, evt.clientY).find(n => n.dataset && n.dataset.index);
    return hit ? { index: hit.dataset.index } : {};
  }

  // Positions of everything but the tensors: hubs (dots), leg ends, loops, labels.
  function geometry(ts, es) {
    const pos = Object.fromEntries(ts.map(t => [t.name, t]));
    const cx = ts.reduce((s, t) => s + t.x, 0) / Math.max(ts.length, 1);
    const cy = ts.reduce((s, t) => s + t.y, 0) / Math.max(ts.length, 1);
    const taken = Object.fromEntries(ts.map(t => [t.name, []]));
    const shapes = [];
    const later = [];
    for (const e of es) {
      const names = [...new Set(e.ends.filter(n => pos[n]))];
      const repeats = e.ends.length - names.length;
      if (names.length >= 2) {
        // the holders' centroid, moved across the line where several indices join the same
        // tensors (Python's hub_offsets, which the picture under the canvas uses too)
        const [ox, oy] = e.offset || [0, 0];
        let hub = [names.reduce((s, n) => s + pos[n].x, 0) / names.length + ox, names.reduce((s, n) => s + pos[n].y, 0) / names.length + oy];
        if (names.length > 2 || e.out) {  // a hub on top of a tensor would hide it: nudge it off
          for (const t of ts) if ((t.x - hub[0]) ** 2 + (t.y - hub[1]) ** 2 < (R + 8) ** 2) hub = [hub[0] + R + 14, hub[1] - R - 14];
        }
        for (const n of names) taken[n].push(Math.atan2(hub[1] - pos[n].y, hub[0] - pos[n].x));
        shapes.push({ e, kind: "hub", hub, names });
        // a holder that holds it twice or more (a diagonal joined by others) also gets a loop
        for (const n of names) if (e.ends.filter(m => m === n).length > 1) later.push({ e, kind: "loop", name: n, extra: true });
      } else if (names.length === 1 && repeats >= 1) {
        later.push({ e, kind: "loop", name: names[0] });
      } else if (names.length === 1) {
        later.push({ e, kind: "leg", name: names[0] });
      }
    }
    for (const s of later) {  // legs and loops go into the widest free angle, away from the centre
      const t = pos[s.name];
      const outward = Math.atan2(t.y - cy, t.x - cx);
      const angle = freeAngle(taken[s.name], ts.length > 1 && (t.x !== cx || t.y !== cy) ? outward : -Math.PI / 2);
      taken[s.name].push(angle);
      s.angle = angle;
      shapes.push(s);
    }
    return { pos, shapes, cx, cy };
  }

  function label(x, y, text, index, anchor) {
    // kept inside the canvas: a leg at the edge keeps its label readable (about 7 px a character)
    const half = 3.6 * String(text).length + 2;
    x = Math.min(Math.max(x, half), W - half);
    y = Math.min(Math.max(y, 12), H - 4);
    const node = el("text", { x, y, "font-size": 12, "text-anchor": anchor || "middle", class: "tn-edge-label", fill: "#222" }, svg);
    node.textContent = text;
    node.dataset.index = index;
    node.style.paintOrder = "stroke";
    node.setAttribute("stroke", "#fff");
    node.setAttribute("stroke-width", 3);
    return node;
  }
  function segment(x1, y1, x2, y2, e) {
    el("line", { x1, y1, x2, y2, stroke: e.conv ? COLORS.conv : COLORS.edge, "stroke-width": 2, class: "tn-edge", "data-index": e.index }, svg);
    const hit = el("line", { x1, y1, x2, y2, stroke: "transparent", "stroke-width": 14, class: "tn-edge-hit" }, svg);
    hit.dataset.index = e.index;
  }
  function convMarker(x, y, index) {
    const c = el("circle", { cx: x, cy: y, r: 8, fill: "#fff", stroke: COLORS.conv, "stroke-width": 1.5, class: "tn-conv-marker" }, svg);
    c.dataset.index = index;
    const t = el("text", { x, y: y + 5, "text-anchor": "middle", "font-size": 15, fill: COLORS.conv, "pointer-events": "none" }, svg);
    t.textContent = "∗";
  }

  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const ts = tensors(), es = edges(), labels = model.get("labels") || {};
    const { pos, shapes, cx, cy } = geometry(ts, es);
    for (const s of shapes) {
      const e = s.e, text = labels[e.index] || e.index;
      if (s.kind === "hub") {
        const [hx, hy] = s.hub;
        for (const n of s.names) segment(pos[n].x, pos[n].y, hx, hy, e);
        const dot = s.names.length >= 3 || e.out;
        if (e.out) {  // a partial outer product: an open leg from the dot, pointing away from the centre
          let ax = hx - cx, ay = hy - cy;
          const norm = Math.hypot(ax, ay);
          if (norm < 1) { ax = 0; ay = -1; } else { ax /= norm; ay /= norm; }
          segment(hx, hy, hx + LEG * ax, hy + LEG * ay, e);
          label(hx + (LEG + 12) * ax, hy + (LEG + 12) * ay + 4, text, e.index);
        }
        if (dot) {
          const d = el("circle", { cx: hx, cy: hy, r: 5, fill: "#000", class: "tn-hub" }, svg);
          d.dataset.index = e.index;
        }
        if (e.conv) convMarker(hx, hy, e.index);
        if (!e.out && !dot) {  // a plain edge: the label beside its middle, off the line
          const [a] = s.names.map(n => pos[n]);
          const dx = hx - a.x, dy = hy - a.y, len = Math.hypot(dx, dy) || 1;
          const off = e.conv ? 16 : 11;
          label(hx - (dy / len) * off, hy + (dx / len) * off + 4, text, e.index);
        } else if (!e.out) {  // a hub: the label in the widest gap between its spokes
          const a = freeAngle(s.names.map(n => Math.atan2(pos[n].y - hy, pos[n].x - hx)), -Math.PI / 2);
          label(hx + 20 * Math.cos(a), hy + 20 * Math.sin(a) + 4, text, e.index);
        }
      } else if (s.kind === "leg") {
        const t = pos[s.name], ux = Math.cos(s.angle), uy = Math.sin(s.angle);
        const x2 = t.x + (R + LEG) * ux, y2 = t.y + (R + LEG) * uy;
        segment(t.x + R * ux, t.y + R * uy, x2, y2, e);
        if (!e.out) el("line", { x1: x2 - 6 * uy, y1: y2 + 6 * ux, x2: x2 + 6 * uy, y2: y2 - 6 * ux, stroke: COLORS.edge, "stroke-width": 2, class: "tn-stub" }, svg);
        if (e.conv) convMarker(t.x + (R + LEG / 2) * ux, t.y + (R + LEG / 2) * uy, e.index);
        label(x2 + 14 * ux, y2 + 14 * uy + 4, text, e.index);
      } else if (s.kind === "loop") {
        const t = pos[s.name], ux = Math.cos(s.angle), uy = Math.sin(s.angle);
        const lx = t.x + (R + 14) * ux, ly = t.y + (R + 14) * uy;
        const loop = el("circle", { cx: lx, cy: ly, r: 15, fill: "none", stroke: e.conv ? COLORS.conv : COLORS.edge, "stroke-width": 2, class: "tn-edge tn-loop" }, svg);
        loop.dataset.index = e.index;
        if (s.extra) continue;  // the hub carries its label and its open leg
        if (e.out) el("line", { x1: lx + 15 * ux, y1: ly + 15 * uy, x2: lx + (15 + LEG / 2) * ux, y2: ly + (15 + LEG / 2) * uy, stroke: COLORS.edge, "stroke-width": 2 }, svg);
        label(lx + (e.out ? 15 + LEG / 2 + 12 : 28) * ux, ly + (e.out ? 15 + LEG / 2 + 12 : 28) * uy + 4, text, e.index);
      }
    }
    // with no input marked every tensor is a plain one, grey, as the picture below draws it
    const anyInput = ts.some(t => t.role === "input");
    for (const t of ts) {
      const fill = anyInput ? COLORS[t.role] || COLORS.parameter : COLORS.tensor;
      const c = el("circle", { cx: t.x, cy: t.y, r: R, fill, stroke: "#333", "stroke-width": 1.5, class: "tn-tensor tn-role-" + t.role }, svg);
      c.dataset.name = t.name;
      const name = el("text", { x: t.x, y: t.y + 5, "text-anchor": "middle", "font-size": 14, "pointer-events": "none", class: "tn-tensor-name" }, svg);
      name.textContent = t.name;
    }
    if (!ts.length) {  // the empty canvas says how to start
      const hint = el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "font-size": 14, fill: "#888", "pointer-events": "none", class: "tn-canvas-hint" }, svg);
      hint.textContent = "click to add a tensor · drag from it to connect";
    }
    status.textContent = model.get("message") || "";
    paintButtons();
  }

  // An in-place text box over the canvas (rename, sizes, groups); Enter applies, Escape cancels.
  function editBox(x, y, value, apply) {
    const box = document.createElement("input");
    box.className = "tn-edit-box";
    box.value = value;
    const k = svg.getBoundingClientRect().width / W || 1;  // canvas units to pixels, if scaled down
    box.style.cssText = `position:absolute;left:${Math.max(0, Math.min(x * k, W * k - 200))}px;top:${Math.max(0, y * k - 12)}px;width:190px;font:13px monospace;z-index:10`;
    wrap.appendChild(box);
    box.focus();
    box.select();
    let done = false;
    const finish = ok => {
      if (done) return;
      done = true;
      if (ok && box.value !== value) apply(box.value);
      box.remove();
      svg.focus();
    };
    box.addEventListener("keydown", evt => {
      evt.stopPropagation();
      if (evt.key === "Enter") finish(true);
      if (evt.key === "Escape") finish(false);
    });
    box.addEventListener("blur", () => finish(false));
  }
  function modesText(modes) {
    return modes.map(m => (m.length === 1 ? m[0] : "(" + m.join(" ") + ")")).join(" ");
  }

  svg.addEventListener("dblclick", evt => {
    evt.preventDefault();
    if (pendingAdd) { clearTimeout(pendingAdd); pendingAdd = null; }
    const [x, y] = point(evt);
    const target = targetAt(evt);
    if (target.tensor) {
      const t = tensors().find(u => u.name === target.tensor);
      editBox(x, y, `${t.name}: ${modesText(t.modes)}`, text => send({ action: "edit_tensor", tensor: t.name, text }));
    } else if (target.index) {
      const text = (model.get("labels") || {})[target.index] || target.index;
      editBox(x, y, text, value => send({ action: "edit_index", index: target.index, text: value }));
    } else {
      editBox(x, y, "-> " + modesText(model.get("output") || []), text => send({ action: "edit_output", text }));
    }
  });

  svg.addEventListener("mousedown", evt => {
    if (evt.button !== 0 || evt.detail > 1) return;
    const [x, y] = point(evt);
    const hit = tensorAt(x, y);
    if (!hit) return;
    if (mode === "move") drag = { kind: "move", name: hit.name, moved: false, x0: x, y0: y };
    if (mode === "draw") {
      const line = el("line", { x1: hit.x, y1: hit.y, x2: x, y2: y, stroke: "#888", "stroke-dasharray": "4 3", "stroke-width": 2, "pointer-events": "none", class: "tn-preview" }, svg);
      drag = { kind: "connect", name: hit.name, line, moved: false, x0: x, y0: y };
    }
  });
  svg.addEventListener("mousemove", evt => {
    if (!drag) return;
    const [x, y] = point(evt);
    if (Math.hypot(x - drag.x0, y - drag.y0) > 4) drag.moved = true;
    if (drag.kind === "connect") { drag.line.setAttribute("x2", x); drag.line.setAttribute("y2", y); }
    if (drag.kind === "move") {  // redrawn here while dragging; Python hears of it on release
      model.set("tensors", tensors().map(t => (t.name === drag.name ? { ...t, x, y } : t)));
      draw();
    }
  });
  const releasedOutside = evt => {  // a release outside the canvas ends a drag too
    if (drag && !svg.contains(evt.target)) {
      if (drag.kind === "move" && drag.moved) {
        const t = tensors().find(u => u.name === drag.name);
        if (t) send({ action: "move", tensor: t.name, x: t.x, y: t.y });
      }
      drag = null;
      draw();
    }
  };
  window.addEventListener("mouseup", releasedOutside);
  svg.addEventListener("mouseup", evt => {
    if (evt.button !== 0) return;
    const [x, y] = point(evt);
    const target = targetAt(evt);
    if (drag && drag.kind === "connect") {
      const from = drag.name, moved = drag.moved;
      drag.line.remove();
      drag = null;
      if (!moved) return;  // a click on a tensor in draw mode does nothing (double-click edits it)
      if (target.tensor) send({ action: "connect", a: from, b: target.tensor });
      else if (target.index) send({ action: "join", tensor: from, index: target.index });
      else send({ action: "add_leg", tensor: from });
      return;
    }
    if (drag && drag.kind === "move") {
      const { name, moved } = drag;
      drag = null;
      if (moved) send({ action: "move", tensor: name, x, y });
      return;
    }
    drag = null;
    if (evt.detail > 1) return;  // the second click of a double-click
    if (mode === "draw" && !target.tensor && !target.index) {
      // wait a moment: the first click of a double-click (edit the output) adds nothing
      pendingAdd = setTimeout(() => { pendingAdd = null; send({ action: "add_tensor", x, y }); }, 280);
    }
    else if (mode === "conv" && target.index) send({ action: "conv", index: target.index });
    else if (mode === "output" && target.index) send({ action: "output", index: target.index });
    else if (mode === "role" && target.tensor) send({ action: "role", tensor: target.tensor });
    else if (mode === "grad" && target.tensor) send({ action: "gradient", tensor: target.tensor });
    else if (mode === "delete" && target.tensor) send({ action: "delete_tensor", tensor: target.tensor });
    else if (mode === "delete" && target.index) send({ action: "delete_index", index: target.index });
  });
  svg.addEventListener("keydown", evt => {
    const key = evt.key.toLowerCase();
    if ((evt.ctrlKey || evt.metaKey) && key === "z") { evt.preventDefault(); send({ action: evt.shiftKey ? "redo" : "undo" }); }
    if ((evt.ctrlKey || evt.metaKey) && key === "y") { evt.preventDefault(); send({ action: "redo" }); }
  });
  const traits = ["tensors", "edges", "labels", "output", "message", "can_undo", "can_redo"];
  for (const name of traits) model.on("change:" + name, draw);
  draw();
  return () => {  // the view is gone: leave nothing listening
    window.removeEventListener("mouseup", releasedOutside);
    if (pendingAdd) clearTimeout(pendingAdd);
    for (const name of traits) model.off("change:" + name, draw);
  };
}

export default { render };
