// A drawing on the canvas -> the 28x28 image the model takes (white ink on black, 0..255), made the way MNIST's
// digits were made: crop to the ink, scale the longest side to 20 px (area averaging), then place the result in
// a 28x28 frame so that its centre of mass is the frame's centre. Fashion-MNIST models ("fashion"): the longest
// side to 28 px, centred by its bounding box, as Fashion-MNIST was made.
//
// This is the drawing path only, kept short: a clean stroke on a white canvas needs none of the paper, lighting
// and stroke-width corrections that cnnlab's Python preprocessing applies to photos.
"use strict";

const cnnlabPreprocess = (() => {
  const FRAME = 28;
  const DIGIT_BOX = 20;  // MNIST: the digit's longest side in its 28x28 frame
  const INK = 0.05;  // a pixel with less ink than this (anti-aliasing fringes) does not count for the crop

  // RGBA bytes (as from getImageData) -> ink in [0, 1]: 1 - luminance; a transparent pixel is paper.
  function inkFromRgba(rgba, width, height) {
    const ink = new Float32Array(width * height);
    for (let i = 0; i < ink.length; i++) {
      const luminance = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
      ink[i] = (1 - luminance) * (rgba[4 * i + 3] / 255);
    }
    return ink;
  }

  // The smallest box holding every pixel with at least INK ink, or null for a blank drawing.
  function inkBounds(ink, width, height) {
    let top = height, bottom = -1, left = width, right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] >= INK) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    return bottom < 0 ? null : { top, left, height: bottom - top + 1, width: right - left + 1 };
  }

  // For each of `outSize` output pixels, the source pixels it covers and by how much (a box filter).
  function coverage(inSize, outSize) {
    const step = inSize / outSize;
    const weights = [];
    for (let o = 0; o < outSize; o++) {
      const start = o * step, end = (o + 1) * step, taps = [];
      for (let i = Math.floor(start); i < Math.min(Math.ceil(end), inSize); i++) {
        const overlap = Math.min(end, i + 1) - Math.max(start, i);
        if (overlap > 0) taps.push([i, overlap / step]);
      }
      weights.push(taps);
    }
    return weights;
  }

  // Area-average resize of a width x height crop starting at (left, top) in a rowWidth-wide image.
  function resize(ink, rowWidth, box, outWidth, outHeight) {
    const across = coverage(box.width, outWidth), down = coverage(box.height, outHeight);
    const rows = new Float32Array(box.height * outWidth);  // first across, then down
    for (let y = 0; y < box.height; y++) {
      const base = (box.top + y) * rowWidth + box.left;
      across.forEach((taps, x) => {
        let sum = 0;
        for (const [i, w] of taps) sum += w * ink[base + i];
        rows[y * outWidth + x] = sum;
      });
    }
    const out = new Float32Array(outWidth * outHeight);
    down.forEach((taps, y) => {
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (const [i, w] of taps) sum += w * rows[i * outWidth + x];
        out[y * outWidth + x] = sum;
      }
    });
    return out;
  }

  // ink (width x height, values 0..1) -> 784 integers 0..255 (row by row), or null when there is no ink.
  function toModelInput(ink, width, height, style = "digits") {
    const box = inkBounds(ink, width, height);
    if (!box) return null;
    const side = style === "fashion" ? FRAME : DIGIT_BOX;
    const scale = side / Math.max(box.width, box.height);
    const w = Math.max(1, Math.round(box.width * scale)), h = Math.max(1, Math.round(box.height * scale));
    const small = resize(ink, width, box, w, h);
    let top = Math.floor((FRAME - h) / 2), left = Math.floor((FRAME - w) / 2);
    if (style !== "fashion") {
      let mass = 0, my = 0, mx = 0;  // centre of mass, in pixel indices (as scipy.ndimage.center_of_mass)
      small.forEach((v, i) => { mass += v; my += v * Math.floor(i / w); mx += v * (i % w); });
      if (mass > 0) {
        top = clamp(Math.round(FRAME / 2 - my / mass), 0, FRAME - h);
        left = clamp(Math.round(FRAME / 2 - mx / mass), 0, FRAME - w);
      }
    }
    const pixels = new Uint8Array(FRAME * FRAME);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        pixels[(top + y) * FRAME + left + x] = clamp(Math.round(255 * small[y * w + x]), 0, 255);
      }
    }
    return pixels;
  }

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

  return { inkFromRgba, inkBounds, toModelInput, FRAME };
})();
