// The page: draw on the canvas (Pointer Events: mouse, pen, touch); each drawing becomes a 28x28 image
// (preprocess.js) that the model runs on here, in the browser (model.js). For tests and curious users the last
// input, probabilities and label are kept in window.cnnlabLastInput / cnnlabLastProbabilities / cnnlabLastLabel,
// and window.cnnlabPredict(pixels) runs the model on any 28x28 images.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true });
const preview = document.getElementById("preview").getContext("2d");
const bars = document.getElementById("bars");
const prediction = document.getElementById("prediction");
const confidence = document.getElementById("confidence");
const message = document.getElementById("message");
let model = null, drawing = false, dirty = false, last = null;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  showResult(null, null);
  message.textContent = "";
}

function buildBars(classNames) {
  bars.innerHTML = "";
  classNames.forEach((name, i) => {
    const li = document.createElement("li");
    li.dataset.class = i;
    li.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct">0%</span>`;
    li.querySelector(".name").textContent = name;
    bars.appendChild(li);
  });
}

function showResult(pixels, probabilities) {
  const label = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  bars.querySelectorAll("li").forEach((li, i) => {
    const p = probabilities ? probabilities[i] : 0;
    li.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
    li.classList.toggle("best", i === label);
  });
  prediction.textContent = probabilities ? model.description.class_names[label] : "–";
  prediction.dataset.label = probabilities ? String(label) : "";
  confidence.textContent = probabilities ? `confidence ${(100 * probabilities[label]).toFixed(1)}%` : "";
  const image = preview.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = pixels ? pixels[i] : 0;
    image.data.set([v, v, v, 255], 4 * i);
  }
  preview.putImageData(image, 0, 0);
  window.cnnlabLastInput = pixels ? Array.from(pixels) : null;
  window.cnnlabLastProbabilities = probabilities;
  window.cnnlabLastLabel = probabilities ? label : null;
}

// The canvas -> 28x28 -> the model; synchronous, a few milliseconds for these small networks.
function predictCanvas() {
  if (!model || !dirty) return;
  const { data } = ctx.getImageData(0, 0, pad.width, pad.height);
  const ink = cnnlabPreprocess.inkFromRgba(data, pad.width, pad.height);
  const pixels = cnnlabPreprocess.toModelInput(ink, pad.width, pad.height, model.description.preprocessing);
  if (!pixels) { showResult(null, null); message.textContent = "nothing drawn yet"; return; }
  message.textContent = "";
  showResult(pixels, cnnlabModel.predict(model, pixels)[0]);
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
const endStroke = () => { if (drawing) { drawing = false; predictCanvas(); } };
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
setInterval(() => { if (drawing) predictCanvas(); }, 250);  // live updates while a stroke goes on
document.getElementById("clear").addEventListener("click", clearPad);

async function start() {
  try {
    await tf.setBackend("cpu");
    tf.enableProdMode();
    model = await cnnlabModel.load();
    const d = model.description;
    const accuracy = d.test_accuracy != null ? `, test accuracy ${(100 * d.test_accuracy).toFixed(2)}%` : "";
    document.getElementById("model-info").textContent = `${d.model} on ${d.dataset} (run ${d.run})${accuracy}`;
    buildBars(d.class_names);
    window.cnnlabPredict = (pixels) => cnnlabModel.predict(model, pixels);
    document.body.dataset.ready = "1";
  } catch (err) {
    const hint = location.protocol === "file:" ? " Browsers do not load files from file:// pages: serve this folder " +
      "over HTTP, e.g. 'python -m http.server' inside it, and open http://localhost:8000/." : "";
    document.getElementById("model-info").textContent = "the model could not be loaded";
    message.textContent = `${err.message || err}.${hint}`;
    document.body.dataset.ready = "error";
  }
}

ctx.lineWidth = 20;
ctx.lineCap = "round";
ctx.lineJoin = "round";
ctx.strokeStyle = "#000";
clearPad();
start();
