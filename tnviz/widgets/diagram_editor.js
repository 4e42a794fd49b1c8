// The DiagramEditor's canvas (anywidget ESM; no build step). State lives in the model:
// tensors [{name, x, y}] and edges [{index, ends: [names], out, conv}]; Python derives the spec.
const W = 560, H = 340, R = 18;
const MODES = [["tensor", "+ tensor"], ["connect", "connect"], ["leg", "open leg"], ["conv", "∗ conv"], ["move", "move"], ["delete", "delete"]];
const NS = "http://www.w3.org/2000/svg";

function nextName(used, letters) {
  for (const c of letters) if (!used.has(c)) return c;
  let k = 1;
  while (used.has(letters[0] + k)) k++;
  return letters[0] + k;
}

function render({ model, el }) {
  let mode = "tensor";
  let drag = null; // {kind: "move"|"connect", name, line}
  const root = document.createElement("div");
  root.className = "tn-editor";
  const bar = document.createElement("div");
  bar.className = "tn-toolbar";
  const buttons = {};
  for (const [m, label] of MODES) {
    const b = document.createElement("button");
    b.textContent = label;
    b.className = "tn-mode tn-mode-" + m;
    b.style.marginRight = "4px";
    b.onclick = () => { mode = m; paintButtons(); };
    buttons[m] = b;
    bar.appendChild(b);
  }
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("class", "tn-canvas");
  svg.style.border = "1px solid #bbb";
  svg.style.background = "#fff";
  root.appendChild(bar);
  root.appendChild(svg);
  el.appendChild(root);

  function paintButtons() {
    for (const m in buttons) buttons[m].style.fontWeight = m === mode ? "bold" : "normal";
  }
  function tensors() { return model.get("tensors") || []; }
  function edges() { return model.get("edges") || []; }
  function save(ts, es) {
    model.set("tensors", ts);
    model.set("edges", es);
    model.save_changes();
  }
  function point(evt) {
    const r = svg.getBoundingClientRect();
    return [evt.clientX - r.left, evt.clientY - r.top];
  }
  function at(x, y) {
    return tensors().find(t => (t.x - x) ** 2 + (t.y - y) ** 2 <= R * R * 1.3);
  }
  function freshIndex() {
    return nextName(new Set(edges().map(e => e.index)), "ijklmnpqrsuvw");
  }

  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const pos = Object.fromEntries(tensors().map(t => [t.name, t]));
    edges().forEach((e, k) => {
      const ends = e.ends.filter(n => pos[n]);
      if (!ends.length) return;
      let hub;
      if (ends.length === 1) {
        const t = pos[ends[0]];
        const angle = (k * 2.4) % (2 * Math.PI);
        hub = [t.x + 55 * Math.cos(angle), t.y + 55 * Math.sin(angle)];
      } else {
        hub = [ends.reduce((s, n) => s + pos[n].x, 0) / ends.length, ends.reduce((s, n) => s + pos[n].y, 0) / ends.length];
      }
      for (const n of ends) {
        const line = document.createElementNS(NS, "line");
        line.setAttribute("x1", pos[n].x); line.setAttribute("y1", pos[n].y);
        line.setAttribute("x2", hub[0]); line.setAttribute("y2", hub[1]);
        line.setAttribute("stroke", e.conv ? "#c0392b" : "#333");
        line.setAttribute("stroke-width", 2);
        line.setAttribute("class", "tn-edge");
        line.dataset.index = e.index;
        line.onclick = evt => edgeClick(evt, e.index);
        svg.appendChild(line);
      }
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", hub[0] + 6); label.setAttribute("y", hub[1] - 6);
      label.setAttribute("font-size", 13);
      label.setAttribute("class", "tn-edge-label");
      label.textContent = e.index + (e.conv ? " ∗" : "");
      label.onclick = evt => edgeClick(evt, e.index);
      svg.appendChild(label);
      if (ends.length >= 3 || (ends.length === 2 && e.out)) {
        const dot = document.createElementNS(NS, "circle");
        dot.setAttribute("cx", hub[0]); dot.setAttribute("cy", hub[1]); dot.setAttribute("r", 4);
        svg.appendChild(dot);
      }
      if (ends.length === 1 && !e.out) {
        const bar = document.createElementNS(NS, "circle");
        bar.setAttribute("cx", hub[0]); bar.setAttribute("cy", hub[1]); bar.setAttribute("r", 3);
        bar.setAttribute("fill", "#fff"); bar.setAttribute("stroke", "#333");
        svg.appendChild(bar);
      }
    });
    for (const t of tensors()) {
      const c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", t.x); c.setAttribute("cy", t.y); c.setAttribute("r", R);
      c.setAttribute("fill", "#f5b041"); c.setAttribute("stroke", "#333"); c.setAttribute("stroke-width", 1.5);
      c.setAttribute("class", "tn-tensor");
      c.dataset.name = t.name;
      svg.appendChild(c);
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", t.x); label.setAttribute("y", t.y + 5);
      label.setAttribute("text-anchor", "middle"); label.setAttribute("font-size", 14);
      label.setAttribute("pointer-events", "none");
      label.textContent = t.name;
      svg.appendChild(label);
    }
  }

  function edgeClick(evt, index) {
    evt.stopPropagation();
    if (mode === "conv") {
      save(tensors(), edges().map(e => e.index === index ? { ...e, conv: !e.conv, out: e.conv ? e.out : true } : e));
    } else if (mode === "delete") {
      save(tensors(), edges().filter(e => e.index !== index));
    }
  }

  svg.addEventListener("mousedown", evt => {
    const [x, y] = point(evt);
    const hit = at(x, y);
    if (mode === "move" && hit) drag = { kind: "move", name: hit.name };
    if (mode === "connect" && hit) {
      const line = document.createElementNS(NS, "line");
      line.setAttribute("x1", hit.x); line.setAttribute("y1", hit.y);
      line.setAttribute("x2", x); line.setAttribute("y2", y);
      line.setAttribute("stroke", "#888"); line.setAttribute("stroke-dasharray", "4 3");
      svg.appendChild(line);
      drag = { kind: "connect", name: hit.name, line };
    }
  });
  svg.addEventListener("mousemove", evt => {
    if (!drag) return;
    const [x, y] = point(evt);
    if (drag.kind === "connect") { drag.line.setAttribute("x2", x); drag.line.setAttribute("y2", y); }
    if (drag.kind === "move") {
      // redraw locally while dragging; Python hears of it once, on release
      model.set("tensors", tensors().map(t => t.name === drag.name ? { ...t, x, y } : t));
      draw();
    }
  });
  // a release outside the canvas ends a drag too
  window.addEventListener("mouseup", evt => {
    if (drag && !svg.contains(evt.target)) {
      if (drag.kind === "move") save(tensors(), edges());
      else draw();
      drag = null;
    }
  });
  svg.addEventListener("mouseup", evt => {
    const [x, y] = point(evt);
    const hit = at(x, y);
    if (drag && drag.kind === "connect") {
      if (hit && hit.name !== drag.name) {
        save(tensors(), [...edges(), { index: freshIndex(), ends: [drag.name, hit.name], out: false, conv: false }]);
      } else if (!hit) {
        save(tensors(), [...edges(), { index: freshIndex(), ends: [drag.name], out: true, conv: false }]);
      } else {
        draw();
      }
      drag = null;
      return;
    }
    if (drag && drag.kind === "move") {
      save(tensors(), edges());
      drag = null;
      return;
    }
    drag = null;
    if (mode === "tensor" && !hit) {
      const name = nextName(new Set(tensors().map(t => t.name)), "ABCDEFGHKLMNPQRSTUVWXYZ");
      save([...tensors(), { name, x, y }], edges());
    } else if (mode === "leg" && hit) {
      save(tensors(), [...edges(), { index: freshIndex(), ends: [hit.name], out: true, conv: false }]);
    } else if (mode === "delete" && hit) {
      save(tensors().filter(t => t.name !== hit.name),
           edges().map(e => ({ ...e, ends: e.ends.filter(n => n !== hit.name) })).filter(e => e.ends.length));
    }
  });
  model.on("change:tensors", draw);
  model.on("change:edges", draw);
  paintButtons();
  draw();
}

export default { render };
