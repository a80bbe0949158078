"""The browser page of `edgecv serve`: plain HTML, CSS and vanilla JS in one string.

No build step and no package-data files: `GET /` returns PAGE. The live view is an <img> on the
MJPEG /stream; a click on it is converted from displayed pixels to the frame's natural pixels
(naturalWidth/naturalHeight) before POST /collect/point. A token given in the page URL
(?token=T) is sent with every request, and the server's CSRF token (written into the page's
<meta name="edgecv-csrf"> when it is served; see guard.py) goes in the X-Edgecv-CSRF header.

    edgecv serve --source /dev/video0 --out data/new --task classify --classes a,b   # open http://127.0.0.1:8080
"""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="edgecv-csrf" content="__EDGECV_CSRF__"><title>edgecv serve</title>
<style>
:root{--bg:#f3f4f6;--card:#fff;--ink:#1f2937;--mute:#6b7280;--line:#e5e7eb;--acc:#2563eb;--ok:#16a34a;--bad:#dc2626}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:center;gap:16px;padding:10px 18px;background:#111827;color:#f9fafb}
header h1{font-size:17px;margin:0;font-weight:600}header .src{color:#9ca3af;font-size:13px}
#stat{margin-left:auto;font:13px ui-monospace,SFMono-Regular,Menlo,monospace;color:#d1d5db}
main{display:grid;grid-template-columns:minmax(0,1fr) 360px;gap:16px;padding:16px;max-width:1400px;margin:auto}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;margin-bottom:14px}
.card h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:var(--mute);margin:0 0 10px}
#view{background:#111827;border-radius:10px;line-height:0;min-height:240px}
#wrap{position:relative;margin:0 auto}
#live{display:block;width:100%;height:auto}
#live.point{cursor:crosshair}
#marker{position:absolute;width:18px;height:18px;margin:-9px 0 0 -9px;border:3px solid #facc15;border-radius:50%;display:none;pointer-events:none}
#pred{margin-top:8px;font-size:15px;min-height:22px}#pred b{font-size:17px}
.btns{display:flex;flex-wrap:wrap;gap:8px}
button{font:inherit;border:1px solid var(--line);background:#f9fafb;border-radius:8px;padding:7px 12px;cursor:pointer}
button:hover{background:#eef2ff;border-color:#c7d2fe}button:disabled{opacity:.5;cursor:default}
button.cls{padding:6px 10px;background:var(--acc);color:#fff;border-color:var(--acc);font-weight:600}
button.cls .n{display:inline-block;min-width:22px;margin-left:6px;padding:0 6px;border-radius:10px;background:rgba(255,255,255,.25);font-weight:500}
button.cls kbd{font:11px ui-monospace,monospace;opacity:.8;margin-right:6px}
button.primary{background:var(--ok);color:#fff;border-color:var(--ok)}
#msg,#tmsg{color:var(--mute);font-size:13px;margin-top:8px;min-height:18px;word-break:break-all}
.err{color:var(--bad)!important}
label{display:inline-flex;flex-direction:column;font-size:12px;color:var(--mute);margin-right:8px}
input,select{font:inherit;padding:5px 6px;border:1px solid var(--line);border-radius:6px;width:86px}
select{width:auto}#models{max-width:100%}
.row{display:flex;align-items:flex-end;gap:6px;flex-wrap:wrap;margin-bottom:8px}
#bar{height:6px;background:var(--line);border-radius:3px;overflow:hidden;margin:8px 0}#bar div{height:100%;width:0;background:var(--ok);transition:width .3s}
svg text{font:10px system-ui,sans-serif;fill:var(--mute)}.legend span{margin-right:10px;font-size:12px}
.mono{font:12px ui-monospace,monospace;color:var(--mute);word-break:break-all}
@media (max-width:900px){main{grid-template-columns:1fr}}
</style></head><body>
<header><h1>edgecv serve</h1><span class="src" id="src"></span><span id="stat">connecting&hellip;</span></header>
<main><section>
  <div id="view"><div id="wrap"><img id="live" alt="live view"><div id="marker"></div></div></div>
  <div id="pred"></div>
</section><aside>
  <div class="card" id="collect"><h2>Collect</h2><div id="hint" class="mono"></div>
    <div class="btns" id="classes" style="margin-top:8px"></div>
    <div class="row" style="margin-top:10px"><button id="undo" title="u">Undo last</button><span id="total" class="mono"></span></div>
    <div id="msg"></div></div>
  <div class="card"><h2>Model</h2><div id="model" class="mono">none</div>
    <div class="row" style="margin-top:8px"><select id="models"></select><button id="switch">Switch</button></div></div>
  <div class="card" id="train"><h2>Train</h2>
    <div class="row"><label>epochs<input id="epochs" type="number" value="5" min="1"></label>
      <label>imgsz<input id="imgsz" type="number" value="224" min="16" step="16"></label>
      <label>start from<select id="pretrained"><option>imagenet</option><option>none</option><option value="current">current model</option></select></label></div>
    <div class="row"><button class="primary" id="start">Start fine-tune</button><button id="stop">Stop</button></div>
    <div id="bar"><div></div></div><div id="tstate" class="mono">idle</div>
    <svg id="curve" viewBox="0 0 310 130" width="100%" height="130"></svg>
    <div class="legend" id="legend"></div><div id="tmsg"></div></div>
</aside></main>
<script>
"use strict";
const $ = id => document.getElementById(id);
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const CSRF = document.querySelector('meta[name="edgecv-csrf"]').content;
const tok = u => TOKEN ? u + (u.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : u;
let mode = null, classes = [], trainWatch = true, lastModel;
async function api(method, path, body) {
  const opt = {method, headers: {"X-Edgecv-CSRF": CSRF}};
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(tok(path), opt), j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.detail || r.statusText);
  return j;
}
function say(id, text, bad) { const e = $(id); e.textContent = text; e.classList.toggle("err", !!bad); }
function setup(c) {
  mode = c ? c.task : null; classes = c ? c.classes : [];
  if (!c) { $("hint").textContent = "collection is off: start serve with --out DIR --task classify|regress"; $("undo").disabled = true; return; }
  $("hint").textContent = (mode === "regress" ? "click the point on the live image" : "press a button or its key") + " \u2192 " + c.out;
  $("live").classList.toggle("point", mode === "regress");
  $("classes").innerHTML = "";
  classes.forEach((name, i) => {
    const b = document.createElement("button"); b.className = "cls"; b.dataset.cls = name;
    b.innerHTML = (i < 9 ? "<kbd>" + (i + 1) + "</kbd>" : "") + "<span></span><span class='n'>0</span>";
    b.children[i < 9 ? 1 : 0].textContent = name; b.onclick = () => saveClass(name); $("classes").appendChild(b);
  });
}
function showCounts(counts) {
  if (!counts) return;
  document.querySelectorAll("button.cls").forEach(b => b.querySelector(".n").textContent = counts[b.dataset.cls] || 0);
  $("total").textContent = Object.entries(counts).map(([k, v]) => k + " " + v).join(" \u00b7 ");
}
function saved(j) { showCounts(j.counts); say("msg", (j.saved ? "saved " : "removed ") + (j.saved || j.removed || "nothing")); }
function saveClass(name) { api("POST", "/collect/class", {"class": name}).then(saved, e => say("msg", e.message, true)); }
$("undo").onclick = () => api("POST", "/collect/undo").then(saved, e => say("msg", e.message, true));
$("live").addEventListener("click", ev => {
  const img = $("live");
  if (mode !== "regress" || !img.naturalWidth) return;
  const r = img.getBoundingClientRect(), dx = ev.clientX - r.left, dy = ev.clientY - r.top;
  const x = dx * img.naturalWidth / r.width, y = dy * img.naturalHeight / r.height;
  const m = $("marker"); m.style.left = dx + "px"; m.style.top = dy + "px"; m.style.display = "block";
  setTimeout(() => m.style.display = "none", 700);
  api("POST", "/collect/point", {x, y}).then(saved, e => say("msg", e.message, true));
});
document.addEventListener("keydown", ev => {
  if (/INPUT|SELECT|TEXTAREA/.test(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const n = parseInt(ev.key, 10);
  if (n >= 1 && n <= classes.length && mode === "classify") saveClass(classes[n - 1]);
  else if (ev.key === "u") $("undo").click();
});
const short = p => p.split("/").slice(-2).join("/");
const ms = v => v === null || v === undefined ? "-" : v.toFixed(1);
function showStatus(s) {
  $("src").textContent = s.source;
  $("stat").textContent = s.fps.toFixed(1) + " fps \u00b7 " + (s.model.path ? "infer " + ms(s.infer_ms) + " ms" : "no model") +
    " \u00b7 age " + ms(s.frame_age_ms) + " ms \u00b7 " + (s.size ? s.size.join("\u00d7") : "no frame") + (s.error ? " \u00b7 " + s.error : "");
  const r = s.result || {};
  if (r.label !== undefined) $("pred").innerHTML = "<b></b> " + (r.score * 100).toFixed(1) + "%";
  else if (r.points && r.points.length) $("pred").innerHTML = "<b>point</b> " + r.points.map(p => "(" + p[0].toFixed(0) + ", " + p[1].toFixed(0) + ")").join(" ");
  else $("pred").textContent = s.model.path ? "" : "no model: live view only";
  if (r.label !== undefined) $("pred").firstChild.textContent = r.label;
  $("model").textContent = s.model.path ? short(s.model.path) + " \u00b7 " + s.model.task + " \u00b7 " + s.model.backend : "none";
  $("model").title = s.model.path || "";
  if (s.collect) showCounts(s.collect.counts);
  if (s.model.path !== lastModel) { lastModel = s.model.path; loadModels(); }
  if (s.train && s.train.state === "running") trainWatch = true;
}
function fit() {   /* as large as the column allows, but the whole frame stays on screen */
  const i = $("live");
  if (i.naturalWidth) $("wrap").style.maxWidth = Math.max(320, (innerHeight - 130) * i.naturalWidth / i.naturalHeight) + "px";
}
window.addEventListener("resize", fit);
async function poll() {
  fit();
  try { showStatus(await api("GET", "/status")); } catch (e) { $("stat").textContent = "disconnected: " + e.message; }
  setTimeout(poll, 1000);
}
async function loadModels() {
  try {
    const j = await api("GET", "/models"), sel = $("models"); sel.innerHTML = "";
    j.models.forEach(p => { const o = document.createElement("option"); o.value = p; o.textContent = short(p); o.selected = p === j.current; sel.appendChild(o); });
    $("switch").disabled = !j.models.length; sel.style.display = $("switch").style.display = j.models.length ? "" : "none";
  } catch (e) {}
}
$("switch").onclick = () => api("POST", "/model", {path: $("models").value}).then(j => say("tmsg", "live view: " + j.path), e => say("tmsg", e.message, true));
$("start").onclick = () => {
  const body = {epochs: +$("epochs").value, imgsz: +$("imgsz").value, pretrained: $("pretrained").value};
  api("POST", "/train", body).then(j => { trainWatch = true; showTrain(j); say("tmsg", "training into " + j.run); }, e => say("tmsg", e.message, true));
};
$("stop").onclick = () => api("POST", "/train/stop").then(showTrain, e => say("tmsg", e.message, true));
const SERIES = [["train_loss", "#2563eb", 0, "train loss"], ["val_loss", "#f59e0b", 0, "val loss"],
                ["val_accuracy", "#16a34a", 1, "val acc"]];
function drawCurve(h) {
  const W = 310, H = 130, L = 34, R = 30, T = 8, B = 22, svg = $("curve");
  const n = Math.max(h.length, 2), X = e => L + (e - 1) * (W - L - R) / (n - 1);
  const losses = h.flatMap(r => [r.train_loss, r.val_loss]).filter(v => v !== undefined && isFinite(v));
  const top = Math.max(1e-6, ...losses) * 1.1 || 1, Y = (v, unit) => T + (H - T - B) * (1 - (unit ? v : v / top));
  if (!h.length) { svg.innerHTML = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">per-epoch loss and accuracy appear here</text>`; $("legend").innerHTML = ""; return; }
  let g = `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#d1d5db"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#d1d5db"/>`;
  g += `<text x="${L - 4}" y="${T + 8}" text-anchor="end">${top.toFixed(2)}</text><text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>`;
  g += `<text x="${W - R + 4}" y="${T + 8}">1.0</text><text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">epoch (${h.length})</text>`;
  let legend = "";
  for (const [key, color, unit, name] of SERIES) {
    const pts = h.filter(r => r[key] !== undefined && isFinite(r[key])).map(r => [X(r.epoch), Y(r[key], unit)]);
    if (!pts.length) continue;
    g += `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(p => p.join(",")).join(" ")}"/>`;
    g += pts.map(p => `<circle cx="${p[0]}" cy="${p[1]}" r="3" fill="${color}"/>`).join("");
    legend += `<span style="color:${color}">\u25cf ${name} ${(h[h.length - 1][key] ?? NaN).toFixed(3)}</span>`;
  }
  svg.innerHTML = g; $("legend").innerHTML = legend;
}
function showTrain(t) {
  const frac = t.epochs ? (t.epoch + (t.steps ? Math.min(t.step, t.steps) / t.steps : 0) * (t.state === "running")) / t.epochs : 0;
  $("bar").firstChild.style.width = (t.state === "done" ? 100 : Math.min(100, frac * 100)) + "%";
  $("tstate").textContent = t.state + (t.epochs ? " \u00b7 epoch " + t.epoch + "/" + t.epochs : "") + (t.run ? " \u00b7 " + short(t.run) : "") +
    (t.state !== "idle" ? " \u00b7 " + t.elapsed_s + " s" : "");
  $("start").disabled = t.state === "running"; $("stop").disabled = t.state !== "running";
  if (t.error) say("tmsg", t.error, true); else if (t.state === "done" && t.model) say("tmsg", "done: the live view runs " + short(t.model));
  drawCurve(t.history || []);
}
async function pollTrain() {
  if (trainWatch) {
    try { const t = await api("GET", "/train/status"); showTrain(t); trainWatch = t.state === "running"; } catch (e) {}
  }
  setTimeout(pollTrain, 1000);
}
$("live").onerror = () => setTimeout(() => { $("live").src = tok("/stream?retry=" + Date.now()); }, 1000);
window.addEventListener("load", async () => {
  $("live").src = tok("/stream");
  try {
    const s = await api("GET", "/status"); setup(s.collect); showStatus(s);
    if (!s.train) { $("train").style.display = "none"; trainWatch = false; }
  }
  catch (e) { $("stat").textContent = "error: " + e.message; }
  poll(); pollTrain();
});
</script></body></html>
"""
