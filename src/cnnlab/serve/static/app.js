// The drawing page: draw on a canvas (mouse, pen or touch through Pointer Events) or upload/drop a photo;
// each image goes to POST /api/predict and the label, ten probability bars and the 28x28 preview come back.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const bars = document.getElementById("bars");
const prediction = document.getElementById("prediction");
const confidence = document.getElementById("confidence");
const message = document.getElementById("message");
const preview = document.getElementById("preview");
const removed = document.getElementById("removed");
const dropZone = document.getElementById("drop-zone");
let classNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
let drawing = false, dirty = false, inFlight = false, queued = null, last = null;
let pending = 0;  // images being encoded or sent; the page is "busy" until the newest answer is shown

function setPending(delta) {
  pending += delta;
  document.body.dataset.busy = pending > 0 ? "1" : "0";
}

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  showResult(null);
  message.textContent = "";
}

function buildBars() {
  bars.innerHTML = "";
  classNames.forEach((name, i) => {
    const li = document.createElement("li");
    li.dataset.class = i;
    li.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct">0%</span>`;
    li.querySelector(".name").textContent = name;
    bars.appendChild(li);
  });
}

function showResult(result) {
  const items = bars.querySelectorAll("li");
  items.forEach((li, i) => {
    const p = result ? result.probabilities[i] : 0;
    li.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
    li.classList.toggle("best", !!result && i === result.label);
  });
  prediction.textContent = result ? result.class_name : "–";
  prediction.dataset.label = result ? String(result.label) : "";
  confidence.textContent = result ? `confidence ${(100 * result.confidence).toFixed(1)}%` : "";
  if (result) preview.src = result.preview; else preview.removeAttribute("src");
  if (result && result.removed) removed.src = result.removed; else removed.removeAttribute("src");
}

// Send one image; while a request is out, keep only the newest image to send next (live while drawing).
async function predict(blob) {
  setPending(1);
  if (inFlight) {
    if (queued) setPending(-1);  // the older queued image is dropped unsent
    queued = blob;
    return;
  }
  inFlight = true;
  try {
    const form = new FormData();
    form.append("image", blob, "image.png");
    const response = await fetch("/api/predict", { method: "POST", body: form });
    const body = await response.json();
    if (response.ok) { showResult(body); message.textContent = ""; }
    else { message.textContent = body.error || `error ${response.status}`; }
  } catch (err) {
    message.textContent = `cannot reach the server (${err})`;
  } finally {
    inFlight = false;
    setPending(-1);
    if (queued) { const next = queued; queued = null; setPending(-1); predict(next); }
  }
}

function sendCanvas() {
  if (!dirty) return;
  setPending(1);
  pad.toBlob((blob) => { if (blob) predict(blob); setPending(-1); }, "image/png");
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return { x: (event.clientX - box.left) * pad.width / box.width, y: (event.clientY - box.top) * pad.height / box.height };
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  ctx.beginPath(); ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fillStyle = "#000"; ctx.fill();
  dirty = true;
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const p = point(event);
  ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
  last = p;
});
const endStroke = () => { if (drawing) { drawing = false; sendCanvas(); } };
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
setInterval(() => { if (drawing) sendCanvas(); }, 250);  // live updates while a stroke goes on

document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) usePhoto(file);
  event.target.value = "";
});
dropZone.addEventListener("dragover", (event) => { event.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (file) usePhoto(file);
});

// A photo is shown on the pad (scaled to fit) and sent as it is: the server does the preprocessing.
function usePhoto(file) {
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    clearPad();
    const scale = Math.min(pad.width / img.width, pad.height / img.height);
    const w = img.width * scale, h = img.height * scale;
    ctx.drawImage(img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    URL.revokeObjectURL(url);
  };
  img.onerror = () => URL.revokeObjectURL(url);  // not displayable here; the server still judges it
  img.src = url;
  predict(file);
}

async function loadModelInfo() {
  try {
    const info = await (await fetch("/api/model")).json();
    classNames = info.class_names || classNames;
    const acc = info.test_accuracy != null ? `, test accuracy ${(100 * info.test_accuracy).toFixed(2)}%` : "";
    document.getElementById("model-info").textContent = `${info.model} on ${info.dataset}${acc}`;
  } catch (err) {
    document.getElementById("model-info").textContent = "model information unavailable";
  }
  buildBars();
}

ctx.lineWidth = 18;
ctx.lineCap = "round";
ctx.lineJoin = "round";
ctx.strokeStyle = "#000";
buildBars();
clearPad();
loadModelInfo();
