// npvae latent-space explorer: the scatter of latent means, the spectra, and the decoder in the page.
//
// The data come from the JSON element #npvae-data, written by npvae/explore/page.py; arrays are
// base64 strings of little-endian binary. The decoder's forward pass is written like
// npvae/nn/layers.py: y = x W + b with W (I, O), then the activation (ReLU, or leaky ReLU with
// slope a for x < 0); the output layer is linear and the mean spectrum is added back.
//
// Shapes: N spectra, S kept spectra, D pixels, Z latent dimensions, H hidden units.
"use strict";
(function () {
  const START_MS = performance.now();
  const DATA = JSON.parse(document.getElementById("npvae-data").textContent);
  const N = DATA.n, Z = DATA.nLatent, D = DATA.nPixels;
  const HOVER_PX = 6;          // a click or hover within this many pixels of a point picks it
  const DRAG_PX = 4;           // a mouse move shorter than this is a click, longer a drag
  const TRACK_STEPS = 7;       // decoded spectra along a dragged track
  const N_NEAREST = 3;         // real spectra listed next to a decoded point

  // ---- arrays from base64 ---------------------------------------------------------------------
  function bytesOf(b64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
    const text = atob(b64), out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  const TYPES = {"<f4": Float32Array, "<f8": Float64Array, "<i4": Int32Array, "|u1": Uint8Array,
                 "<f2": Uint16Array};   // float16 stays as raw bits; halfToFloat reads them
  function unpack(packed) {
    const bytes = bytesOf(packed.data);
    return new TYPES[packed.dtype](bytes.buffer, 0, bytes.length / TYPES[packed.dtype].BYTES_PER_ELEMENT);
  }
  function halfToFloat(h) {   // IEEE 754 half precision bits -> number
    const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return sign * f * 5.960464477539063e-8;             // subnormal: f 2^-24
    if (e === 31) return f ? NaN : sign * Infinity;
    return sign * (1 + f / 1024) * Math.pow(2, e - 15);
  }

  // ---- the decoder: z (Z,) -> spectrum (D,) ----------------------------------------------------
  const DEC = DATA.decoder;
  const LAYERS = DEC.layers.map(l => ({name: l.name, nIn: l.nIn, nOut: l.nOut, W: unpack(l.W), b: unpack(l.b)}));
  const MEAN_SPECTRUM = unpack(DEC.mean);                              // (D,)

  // Affine map y = x W + b, as linear_forward.  x (I,), W (I, O) row-major, b (O,) -> y (O,)
  function linearForward(x, W, b) {
    const nIn = x.length, nOut = b.length;
    const y = Float64Array.from(b);                                    // (O,)
    for (let i = 0; i < nIn; i++) {
      const xi = x[i];
      if (xi === 0) continue;                                          // ReLU zeros cost nothing
      const row = i * nOut;
      for (let o = 0; o < nOut; o++) y[o] += xi * W[row + o];
    }
    return y;
  }

  // y = x for x > 0, slope * x otherwise (slope 0: ReLU), as leaky_relu_forward; in place.  x (O,)
  function leakyReluForward(x, slope) {
    for (let o = 0; o < x.length; o++) if (!(x[o] > 0)) x[o] *= slope;
    return x;
  }

  // Decoder: z (Z,) -> hidden layers (H,) with the activation -> linear output (D,) + mean spectrum.
  function decode(z) {
    if (z.length !== Z) throw new Error("decode: z must have " + Z + " values, got " + z.length);
    let h = Float64Array.from(z);                                      // (Z,)
    LAYERS.forEach((layer, k) => {
      h = linearForward(h, layer.W, layer.b);                          // (H,) then (D,)
      if (k < LAYERS.length - 1) leakyReluForward(h, DEC.slope);
    });
    for (let d = 0; d < D; d++) h[d] += MEAN_SPECTRUM[d];              // (D,)
    return h;
  }

  // ---- latent means, the axes VAE 1..Z and per-point data ---------------------------------------
  const MU = unpack(DATA.mu);                                          // (N, Z) row-major
  const AXIS_MEAN = unpack(DATA.axes.mean);                            // (Z,)
  const COMPONENTS = unpack(DATA.axes.components);                     // (Z, Z) rows are the axes
  const NK = COMPONENTS.length / Z;                                    // axes kept
  const COORDS = new Float64Array(N * NK);                             // (N, K) c = (mu - mean) V^T
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < NK; k++) {
      let s = 0;
      for (let j = 0; j < Z; j++) s += (MU[n * Z + j] - AXIS_MEAN[j]) * COMPONENTS[k * Z + j];
      COORDS[n * NK + k] = s;
    }
  }
  function latentOf(row) { return Float64Array.from(MU.subarray(row * Z, row * Z + Z)); }
  // Latent point of coordinates (x, y) on axes (i, j), the other axes at the centroid: mean + c V.
  function latentAt(i, j, x, y) {
    const z = Float64Array.from(AXIS_MEAN);                            // (Z,)
    for (let d = 0; d < Z; d++) z[d] += x * COMPONENTS[i * Z + d] + y * COMPONENTS[j * Z + d];
    return z;
  }
  const WAVE = unpack(DATA.wave);                                      // (D,)
  const IDS = {plate: unpack(DATA.ids.PLATE), mjd: unpack(DATA.ids.MJD), fiber: unpack(DATA.ids.FIBERID)};
  function idOf(row) { return IDS.plate[row] + "-" + IDS.mjd[row] + "-" + IDS.fiber[row]; }
  const COLUMNS = {};                                                  // name -> {kind, values, levels}
  DATA.categorical.forEach(c => { COLUMNS[c.name] = {kind: "categorical", values: unpack(c.codes), levels: c.levels}; });
  DATA.numeric.forEach(c => { COLUMNS[c.name] = {kind: "numeric", values: unpack(c.values)}; });
  const COLOR_ORDER = [DATA.classColumn, "chi2", "LOF", "Z", "SN_MEDIAN"].filter(k => COLUMNS[k])   // the menu's order
    .concat(Object.keys(COLUMNS).sort()).filter((k, i, all) => all.indexOf(k) === i);
  function classOf(row) {
    const c = COLUMNS[DATA.classColumn];
    return c ? c.levels[c.values[row]] : "";
  }
  function redshiftOf(row) { return COLUMNS.Z ? COLUMNS.Z.values[row] : NaN; }
  const SPEC_ROWS = unpack(DATA.spectra.rows);                         // (S,)
  const SPEC_FLUX = unpack(DATA.spectra.flux);                         // (S, D) float16 bits
  const SPEC_SIGMA = unpack(DATA.spectra.sigma);                       // (S, D) float16 bits
  const SPEC_INDEX = new Map();                                        // row -> s
  SPEC_ROWS.forEach((row, s) => SPEC_INDEX.set(row, s));
  function keptSpectrum(row) {   // {flux (D,), sigma (D,)} of a kept spectrum, else null
    if (!SPEC_INDEX.has(row)) return null;
    const s = SPEC_INDEX.get(row), flux = new Float64Array(D), sigma = new Float64Array(D);
    for (let d = 0; d < D; d++) {
      flux[d] = halfToFloat(SPEC_FLUX[s * D + d]);
      sigma[d] = halfToFloat(SPEC_SIGMA[s * D + d]);
    }
    return {flux, sigma};
  }

  // ---- colours ----------------------------------------------------------------------------------
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf"];
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const NAN_RGB = [210, 210, 210];
  function hexRgb(hex) { return [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)); }
  function viridis(t) {
    const u = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1), k = Math.min(Math.floor(u), VIRIDIS.length - 2);
    const f = u - k;
    return VIRIDIS[k].map((a, c) => Math.round(a + f * (VIRIDIS[k + 1][c] - a)));
  }
  function packRgb(rgb) { return (255 << 24 | rgb[2] << 16 | rgb[1] << 8 | rgb[0]) >>> 0; }   // ImageData ABGR
  const VIRIDIS_LUT = Uint32Array.from({length: 256}, (_, k) => packRgb(viridis(k / 255)));   // (256,)
  function percentile(sorted, q) { return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]; }
  function colorScale(name) {   // {rgb (N,) packed colours, legend HTML}
    const col = COLUMNS[name], rgb = new Uint32Array(N);
    if (col.kind === "categorical") {
      const packed = col.levels.map((_, k) => packRgb(hexRgb(PALETTE[k % PALETTE.length])));
      for (let n = 0; n < N; n++) rgb[n] = packed[col.values[n]];
      const legend = col.levels.map((l, k) => '<span style="color:' + PALETTE[k % PALETTE.length] + '">&#9632;</span> ' +
                                     escapeHtml(l)).join(" &nbsp; ");
      return {rgb, legend};
    }
    const finite = col.values.filter(Number.isFinite).sort();            // a Float32Array sorts by value
    const lo = finite.length ? percentile(finite, 0.02) : 0, hi = finite.length ? percentile(finite, 0.98) : 1;
    const span = hi > lo ? hi - lo : 1, nan = packRgb(NAN_RGB);
    for (let n = 0; n < N; n++) {
      const v = col.values[n];
      rgb[n] = Number.isFinite(v) ? VIRIDIS_LUT[Math.round(255 * Math.min(Math.max((v - lo) / span, 0), 1))] : nan;
    }
    const stops = VIRIDIS.map(c => "rgb(" + c.join(",") + ")").join(",");
    const bar = '<span style="display:inline-block;width:120px;height:10px;background:linear-gradient(to right,' +
                stops + ')"></span>';
    const legend = escapeHtml(name) + ": " + lo.toPrecision(3) + " " + bar + " " + hi.toPrecision(3) +
                   " (2nd to 98th percentile)";
    return {rgb, legend};
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
  }

  // ---- the scatter ------------------------------------------------------------------------------
  const scatter = document.getElementById("scatter"), sctx = scatter.getContext("2d");
  const W = scatter.width, H = scatter.height, PAD = 28;
  const CELL = 8, GX = Math.ceil(W / CELL), GY = Math.ceil(H / CELL);
  const view = {i: 0, j: Math.min(1, NK - 1), x0: 0, x1: 1, y0: 0, y1: 1, color: null, rgb: null,
                density: N > DATA.densityThreshold, base: null};
  const state = {panel: null, selected: [], marks: [], drag: null, csvUrl: null};
  const PX = new Float32Array(N), PY = new Float32Array(N);            // (N,) pixel of each point
  const cellHead = new Int32Array(GX * GY), cellNext = new Int32Array(N);

  function setRanges() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let n = 0; n < N; n++) {
      const x = COORDS[n * NK + view.i], y = COORDS[n * NK + view.j];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const px = 0.04 * (x1 - x0 || 1), py = 0.04 * (y1 - y0 || 1);
    Object.assign(view, {x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py});
  }
  function toPixel(x, y) {
    return [PAD + (x - view.x0) / (view.x1 - view.x0) * (W - 2 * PAD),
            H - PAD - (y - view.y0) / (view.y1 - view.y0) * (H - 2 * PAD)];
  }
  function fromPixel(px, py) {
    return [view.x0 + (px - PAD) / (W - 2 * PAD) * (view.x1 - view.x0),
            view.y0 + (H - PAD - py) / (H - 2 * PAD) * (view.y1 - view.y0)];
  }

  // Points as small squares written into the pixels; above the threshold a binned density view
  // (2x2-pixel bins, mean colour of the bin, brighter where more points fall).
  function drawBase() {
    const image = sctx.createImageData(W, H), pix = new Uint32Array(image.data.buffer);
    pix.fill(0xffffffff);
    cellHead.fill(-1);
    const size = N > 20000 ? 2 : 3;
    let counts = null, sums = null;
    if (view.density) { counts = new Float32Array(W * H / 4 | 0); sums = new Float32Array(3 * counts.length); }
    for (let n = 0; n < N; n++) {
      const [px, py] = toPixel(COORDS[n * NK + view.i], COORDS[n * NK + view.j]);
      PX[n] = px; PY[n] = py;
      const cx = Math.floor(px / CELL), cy = Math.floor(py / CELL);
      if (cx >= 0 && cy >= 0 && cx < GX && cy < GY) { cellNext[n] = cellHead[cy * GX + cx]; cellHead[cy * GX + cx] = n; }
      const x = Math.floor(px), y = Math.floor(py), c = view.rgb[n];
      if (x < 0 || y < 0 || x + size > W || y + size > H) continue;
      if (view.density) {
        const b = (y >> 1) * (W >> 1) + (x >> 1);
        counts[b] += 1; sums[3 * b] += c & 255; sums[3 * b + 1] += (c >> 8) & 255; sums[3 * b + 2] += (c >> 16) & 255;
      } else {
        for (let dy = 0; dy < size; dy++) pix.fill(c, (y + dy) * W + x, (y + dy) * W + x + size);
      }
    }
    if (view.density) paintDensity(pix, counts, sums);
    sctx.putImageData(image, 0, 0);
    view.base = image;
  }
  function paintDensity(pix, counts, sums) {
    let most = 1;
    for (let b = 0; b < counts.length; b++) if (counts[b] > most) most = counts[b];
    const scale = 1 / Math.log(1 + most);
    for (let b = 0; b < counts.length; b++) {
      if (counts[b] === 0) continue;
      const a = 0.25 + 0.75 * Math.log(1 + counts[b]) * scale;         // opacity over white
      const rgb = [0, 1, 2].map(k => Math.round(255 - a * (255 - sums[3 * b + k] / counts[b])));
      const x = 2 * (b % (W >> 1)), y = 2 * Math.floor(b / (W >> 1)), c = packRgb(rgb);
      pix[y * W + x] = pix[y * W + x + 1] = pix[(y + 1) * W + x] = pix[(y + 1) * W + x + 1] = c;
    }
  }

  // Axes, layers (tracks, outliers), the picked point, the dragged line or box, on top of the points.
  function drawOverlay() {
    sctx.putImageData(view.base, 0, 0);
    sctx.fillStyle = "#222"; sctx.font = "12px sans-serif";
    sctx.fillText(axisName(view.i) + " \u2192", W / 2 - 20, H - 8);
    sctx.save(); sctx.translate(12, H / 2 + 20); sctx.rotate(-Math.PI / 2);
    sctx.fillText(axisName(view.j) + " \u2192", 0, 0); sctx.restore();
    if (document.getElementById("layer-tracks").checked) drawTracks();
    if (document.getElementById("layer-outliers").checked) {
      sctx.strokeStyle = "#d00"; sctx.lineWidth = 1.5;
      DATA.outliers.forEach(row => { sctx.beginPath(); sctx.arc(PX[row], PY[row], 6, 0, 2 * Math.PI); sctx.stroke(); });
    }
    sctx.strokeStyle = "#000"; sctx.lineWidth = 1;
    if (state.selected.length <= 20000) state.selected.forEach(n => sctx.strokeRect(PX[n] - 2.5, PY[n] - 2.5, 5, 5));
    sctx.lineWidth = 1.5;
    state.marks.forEach(m => {
      const [px, py] = toPixel(m[view.i], m[view.j]);
      sctx.beginPath(); sctx.arc(px, py, 5, 0, 2 * Math.PI); sctx.stroke();
    });
    if (state.marks.length > 1) polyline(sctx, state.marks.map(m => toPixel(m[view.i], m[view.j])));
    const d = state.drag;
    if (d && d.moved) {
      sctx.setLineDash([4, 3]);
      if (mode() === "select") sctx.strokeRect(d.x, d.y, d.cx - d.x, d.cy - d.y);
      else { sctx.beginPath(); sctx.moveTo(d.x, d.y); sctx.lineTo(d.cx, d.cy); sctx.stroke(); }
      sctx.setLineDash([]);
    }
  }
  function drawTracks() {
    sctx.strokeStyle = "#333"; sctx.fillStyle = "#000"; sctx.lineWidth = 1.5; sctx.font = "bold 11px sans-serif";
    DATA.tracks.forEach(t => {
      const keep = t.centroids.map((c, k) => c && c.every(v => v !== null) ? k : -1).filter(k => k >= 0);   // not empty
      const pixels = keep.map(k => { const c = trackCoords(t.centroids[k]); return toPixel(c[view.i], c[view.j]); });
      polyline(sctx, pixels);
      pixels.forEach(([px, py], m) => sctx.fillText(t.points[keep[m]], px + 4, py - 4));
    });
  }
  function polyline(ctx, pixels) {   // a line through [[x, y], ...]
    ctx.beginPath();
    pixels.forEach(([x, y], k) => k ? ctx.lineTo(x, y) : ctx.moveTo(x, y));
    ctx.stroke();
  }
  function trackCoords(z) {   // latent z (Z,) -> coordinates (K,) on the axes
    const c = new Float64Array(NK);
    for (let k = 0; k < NK; k++) for (let j = 0; j < Z; j++) c[k] += (z[j] - AXIS_MEAN[j]) * COMPONENTS[k * Z + j];
    return c;
  }
  function axisName(k) { return "VAE " + (k + 1) + " (" + (100 * DATA.axes.explained[k]).toFixed(1) + "%)"; }

  function redraw() {
    const t0 = performance.now();
    drawBase();
    drawOverlay();
    return performance.now() - t0;
  }

  function nearestPoint(px, py, radius) {   // row of the point nearest to a pixel within radius, else -1
    let best = -1, bestD2 = radius * radius;
    const cx = Math.floor(px / CELL), cy = Math.floor(py / CELL), r = Math.ceil(radius / CELL);
    for (let gy = Math.max(0, cy - r); gy <= Math.min(GY - 1, cy + r); gy++) {
      for (let gx = Math.max(0, cx - r); gx <= Math.min(GX - 1, cx + r); gx++) {
        for (let n = cellHead[gy * GX + gx]; n >= 0; n = cellNext[n]) {
          const d2 = (PX[n] - px) ** 2 + (PY[n] - py) ** 2;
          if (d2 <= bestD2) { bestD2 = d2; best = n; }
        }
      }
    }
    return best;
  }

  // ---- the spectrum pane ------------------------------------------------------------------------
  const spec = document.getElementById("spectrum"), pctx = spec.getContext("2d");
  const SW = spec.width, SH = spec.height, SPAD = 34;

  // traces: [{y (D,), color, label, sigma (D,) optional, offset}]; draws them on the rest-frame grid.
  function drawSpectra(traces) {
    pctx.clearRect(0, 0, SW, SH);
    const values = [];
    traces.forEach(t => t.y.forEach(v => { if (Number.isFinite(v)) values.push(v + (t.offset || 0)); }));
    values.sort((a, b) => a - b);
    const lo = values.length ? percentile(values, 0.005) : 0, hi = values.length ? percentile(values, 0.995) : 1;
    const y0 = lo - 0.08 * (hi - lo || 1), y1 = hi + 0.12 * (hi - lo || 1);
    const w0 = WAVE[0], w1 = WAVE[D - 1];
    const sx = w => SPAD + (w - w0) / (w1 - w0) * (SW - 2 * SPAD);       // wavelength -> pixel
    const sy = v => SH - SPAD - (v - y0) / (y1 - y0) * (SH - 2 * SPAD);   // flux -> pixel
    pctx.font = "10px sans-serif"; pctx.fillStyle = "#777"; pctx.strokeStyle = "#ccc"; pctx.setLineDash([3, 3]);
    const rowEnd = [-Infinity, -Infinity, -Infinity];                // right end of the last label per row
    DATA.lines.forEach(([name, w]) => {
      if (w < w0 || w > w1) return;
      pctx.beginPath(); pctx.moveTo(sx(w), SPAD - 6); pctx.lineTo(sx(w), SH - SPAD); pctx.stroke();
      const row = rowEnd.findIndex(end => end < sx(w) - 2);              // a label row with room, else none
      if (row < 0) return;
      pctx.fillText(name, sx(w) - 2, 10 + 10 * row);
      rowEnd[row] = sx(w) - 2 + pctx.measureText(name).width;
    });
    pctx.setLineDash([]);
    pctx.save();
    pctx.beginPath(); pctx.rect(SPAD, SPAD - 8, SW - 2 * SPAD + 30, SH - 2 * SPAD + 8); pctx.clip();   // spikes stay inside
    traces.forEach((t, k) => {
      const off = t.offset || 0;
      if (t.sigma) {   // the 1-sigma band, skipped on bad pixels (infinite sigma)
        pctx.fillStyle = "rgba(0,0,0,0.15)";
        for (let d = 0; d < D - 1; d++) {
          if (!Number.isFinite(t.sigma[d])) continue;
          const top = sy(t.y[d] + off + t.sigma[d]), bot = sy(t.y[d] + off - t.sigma[d]);
          pctx.fillRect(sx(WAVE[d]), top, sx(WAVE[d + 1]) - sx(WAVE[d]) + 0.5, bot - top);
        }
      }
      pctx.strokeStyle = t.color; pctx.lineWidth = t.width || 1;
      polyline(pctx, Array.from(WAVE, (w, d) => [sx(w), sy(t.y[d] + off)]));
      if (t.label) {   // a legend at the left for overlaid traces, at the right end for offset ones
        pctx.fillStyle = t.color; pctx.font = "11px sans-serif";
        if (t.offset === undefined) pctx.fillText(t.label, SPAD + 6, SPAD + 8 + 13 * k);
        else pctx.fillText(t.label, SW - SPAD + 3, sy(t.y[D - 1] + off) + 4);
      }
    });
    pctx.restore();
    pctx.fillStyle = "#222"; pctx.font = "12px sans-serif";
    pctx.fillText("rest-frame wavelength (\u00c5): " + Math.round(w0) + " \u2013 " + Math.round(w1), SW / 2 - 110, SH - 8);
  }
  function setText(id, html) { document.getElementById(id).innerHTML = html; }

  // A real spectrum with its 1-sigma band and its reconstruction from the latent mean.
  function show(id) {
    const row = typeof id === "string" ? findId(id) : id;
    if (!(row >= 0 && row < N)) throw new Error("show: no spectrum " + id);
    const model = decode(latentOf(row)), kept = keptSpectrum(row), traces = [];
    if (kept) traces.push({y: kept.flux, sigma: kept.sigma, color: "#000", label: "data"});
    traces.push({y: model, color: "#d62728", label: "model", width: 1.5});
    drawSpectra(traces);
    const z = redshiftOf(row);
    setText("title", escapeHtml(idOf(row)) + " &middot; " + escapeHtml(classOf(row)) +
                     (Number.isFinite(z) ? " &middot; z = " + z.toFixed(4) : ""));
    setText("info", kept ? "black: the spectrum, grey: 1 sigma, red: reconstruction from the latent mean"
                         : "red: reconstruction from the latent mean (this spectrum is not embedded in the page)");
    setText("nearest", "");
    state.panel = {kind: "spectrum", row, id: idOf(row), flux: kept && kept.flux, sigma: kept && kept.sigma, model};
    state.marks = [COORDS.slice(row * NK, row * NK + NK)];
    drawOverlay();
    return row;
  }
  function findId(text) {
    for (let n = 0; n < N; n++) if (idOf(n) === text) return n;
    return -1;
  }

  // The decoded spectrum of a latent point and the kept real spectra nearest to it on the shown axes.
  function showLatent(z) {
    const model = decode(z), c = trackCoords(z);
    const d2 = row => (COORDS[row * NK + view.i] - c[view.i]) ** 2 + (COORDS[row * NK + view.j] - c[view.j]) ** 2;
    const near = Array.from(SPEC_ROWS, row => [d2(row), row]).sort((a, b) => a[0] - b[0]).slice(0, N_NEAREST).map(p => p[1]);
    const traces = [{y: model, color: "#1f77b4", label: "decoded", width: 1.5}];
    if (near.length) traces.unshift({y: keptSpectrum(near[0]).flux, color: "#999", label: idOf(near[0])});
    drawSpectra(traces);
    setText("title", "decoded latent point (" + axisName(view.i) + " " + c[view.i].toFixed(3) + ", " +
                     axisName(view.j) + " " + c[view.j].toFixed(3) + ")");
    setText("info", "blue: the decoder's spectrum at this point; grey: the nearest real spectrum on these axes");
    const links = near.map(r => '<a href="#" data-row="' + r + '">' + idOf(r) + "</a>").join("");
    setText("nearest", near.length ? "nearest real spectra: " + links : "");
    state.panel = {kind: "decoded", z: Array.from(z), model, nearest: near};
    state.marks = [c];
    drawOverlay();
    return model;
  }

  // Decoded spectra at TRACK_STEPS points on the straight line from latent a to latent b.
  function track(a, b, steps) {
    steps = steps || TRACK_STEPS;
    const points = [];
    for (let k = 0; k < steps; k++) points.push(Float64Array.from(a, (v, d) => v + (b[d] - v) * k / (steps - 1)));
    return showDecoded(points, points.map((_, k) => "T" + (k + 1)), "track of " + steps + " decoded spectra");
  }
  function showDecoded(points, names, title) {
    const spectra = points.map(decode);
    const step = 0.6 * Math.max(...spectra.map(s => percentile(Array.from(s).sort((x, y) => x - y), 0.95)));
    drawSpectra(spectra.map((s, k) => ({y: s, color: PALETTE[k % PALETTE.length], label: names[k],
                                        offset: (spectra.length - 1 - k) * step})));
    setText("title", escapeHtml(title)); setText("info", "offset vertically, first at the top"); setText("nearest", "");
    state.panel = {kind: "track", points: points.map(p => Array.from(p)), spectra};
    state.marks = points.map(trackCoords);
    drawOverlay();
    return spectra;
  }
  function showTrack(name) {   // a track of the reproduce run: its bins' centroids decoded
    const t = DATA.tracks.find(t => t.name === name);
    if (!t) throw new Error("showTrack: no track " + name);
    const keep = t.centroids.map((c, k) => c && c.every(v => v !== null) ? k : -1).filter(k => k >= 0);
    return showDecoded(keep.map(k => Float64Array.from(t.centroids[k])), keep.map(k => t.points[k]),
                       "track " + name.replace(/_/g, " "));
  }

  // ---- selection --------------------------------------------------------------------------------
  // box {x: [lo, hi], y: [lo, hi]} in coordinates of the shown axes -> rows inside (ascending).
  function select(box) {
    const rows = [];
    for (let n = 0; n < N; n++) {
      const x = COORDS[n * NK + view.i], y = COORDS[n * NK + view.j];
      if (x >= box.x[0] && x <= box.x[1] && y >= box.y[0] && y <= box.y[1]) rows.push(n);
    }
    state.selected = rows;
    if (state.csvUrl) URL.revokeObjectURL(state.csvUrl);
    state.csvUrl = URL.createObjectURL(new Blob([selectionCsv()], {type: "text/csv"}));
    drawOverlay();
    setText("selection", rows.length + ' selected &middot; <a id="csv" download="npvae_selection.csv" href="' +
                         state.csvUrl + '">download CSV of IDs</a>');
    return rows;
  }
  function selectionCsv() {
    const lines = ["row,plate,mjd,fiberid,class,z"];
    state.selected.forEach(n => lines.push([n, IDS.plate[n], IDS.mjd[n], IDS.fiber[n], classOf(n), redshiftOf(n)]
                                           .join(",")));
    return lines.join("\n") + "\n";
  }

  // ---- controls and mouse -----------------------------------------------------------------------
  function mode() { return document.querySelector('input[name="mode"]:checked').value; }
  function setAxes(i, j) {
    view.i = i; view.j = j;
    document.getElementById("axis-x").value = i; document.getElementById("axis-y").value = j;
    setRanges();
    return redraw();
  }
  function setColor(name) {
    if (!COLUMNS[name]) throw new Error("setColor: no column " + name);
    const t0 = performance.now();
    const scale = colorScale(name);
    view.color = name; view.rgb = scale.rgb;
    document.getElementById("color").value = name;
    setText("legend", scale.legend + layerLinks());
    redraw();
    return performance.now() - t0;
  }
  function layerLinks() {
    if (!DATA.tracks.length) return "";
    const link = t => '<a href="#" data-track="' + t.name + '">' + t.name.replace(/_/g, " ") + "</a>";
    return "<br>decode a track of the run: " + DATA.tracks.map(link).join(" &middot; ");
  }
  function setupControls() {
    ["axis-x", "axis-y"].forEach(id => {
      const sel = document.getElementById(id);
      for (let k = 0; k < NK; k++) sel.add(new Option(axisName(k), k));
    });
    document.getElementById("axis-x").value = view.i; document.getElementById("axis-y").value = view.j;
    document.getElementById("axis-x").onchange = e => setAxes(+e.target.value, view.j);
    document.getElementById("axis-y").onchange = e => setAxes(view.i, +e.target.value);
    const colorSel = document.getElementById("color");
    COLOR_ORDER.forEach(name => colorSel.add(new Option(name, name)));
    colorSel.onchange = e => setColor(e.target.value);
    ["layer-tracks", "layer-outliers"].forEach(id => { document.getElementById(id).onchange = drawOverlay; });
    document.body.addEventListener("click", e => {
      const a = e.target.closest("a[data-row], a[data-track]");
      if (!a) return;
      e.preventDefault();
      if (a.dataset.row !== undefined) show(+a.dataset.row); else showTrack(a.dataset.track);
    });
    const tip = document.getElementById("tooltip");
    const at = e => {   // canvas pixel of a mouse event (inside the border)
      const r = scatter.getBoundingClientRect();
      return [e.clientX - r.left - scatter.clientLeft, e.clientY - r.top - scatter.clientTop];
    };
    scatter.addEventListener("mousedown", e => { const [x, y] = at(e); state.drag = {x, y, cx: x, cy: y, moved: false}; });
    scatter.addEventListener("mousemove", e => {
      const [x, y] = at(e), d = state.drag;
      if (d) {
        d.cx = x; d.cy = y; d.moved = d.moved || Math.hypot(x - d.x, y - d.y) > DRAG_PX;
        if (d.moved) drawOverlay();
      }
      const row = nearestPoint(x, y, HOVER_PX);
      if (row < 0) { tip.style.display = "none"; return; }
      const z = redshiftOf(row);
      tip.textContent = idOf(row) + " \u00b7 " + classOf(row) + (Number.isFinite(z) ? " \u00b7 z = " + z.toFixed(4) : "");
      Object.assign(tip.style, {display: "block", left: e.clientX + 12 + "px", top: e.clientY + 12 + "px"});
    });
    scatter.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    scatter.addEventListener("wheel", e => {   // zoom around the pointer; a double click resets
      e.preventDefault();
      const [px, py] = at(e), [x, y] = fromPixel(px, py), f = e.deltaY > 0 ? 1.25 : 0.8;
      Object.assign(view, {x0: x + (view.x0 - x) * f, x1: x + (view.x1 - x) * f,
                           y0: y + (view.y0 - y) * f, y1: y + (view.y1 - y) * f});
      redraw();
    }, {passive: false});
    scatter.addEventListener("dblclick", () => { setRanges(); redraw(); });
    scatter.addEventListener("mouseup", e => {
      const d = state.drag;
      state.drag = null;
      if (!d) return;
      const [x, y] = at(e);
      if (!d.moved) return clickAt(x, y);
      if (mode() === "select") {
        const [ax, ay] = fromPixel(Math.min(d.x, x), Math.max(d.y, y));    // lower left (pixel y grows down)
        const [bx, by] = fromPixel(Math.max(d.x, x), Math.min(d.y, y));    // upper right
        select({x: [ax, bx], y: [ay, by]});
      } else {
        track(latentAtPixel(d.x, d.y), latentAtPixel(x, y));
      }
    });
  }
  function latentAtPixel(px, py) {   // a point's latent mean if one is under the pixel, else the decoded spot
    const row = nearestPoint(px, py, HOVER_PX);
    if (row >= 0) return latentOf(row);
    const [x, y] = fromPixel(px, py);
    return latentAt(view.i, view.j, x, y);
  }
  function clickAt(px, py) {
    const row = nearestPoint(px, py, HOVER_PX);
    if (row >= 0) return show(row);
    const [x, y] = fromPixel(px, py);
    return showLatent(latentAt(view.i, view.j, x, y));
  }

  // ---- start and the API ------------------------------------------------------------------------
  setupControls();
  setRanges();
  setColor(COLOR_ORDER[0]);
  if (DATA.outliers.length) show(DATA.outliers[0]);      // the top outlier, so the pane is not empty
  window.npvaeExplorer = {
    decode: z => Array.from(decode(z)),
    show, showLatent: z => Array.from(showLatent(Float64Array.from(z))),
    track: (a, b, steps) => track(Float64Array.from(a), Float64Array.from(b), steps).map(s => Array.from(s)),
    showTrack: name => showTrack(name).map(s => Array.from(s)),
    setAxes, setColor, colors: () => COLOR_ORDER.slice(), redraw,
    select: box => select(box).slice(), selectedIds: () => state.selected.map(idOf), selectionCsv,
    pixelOf: row => [PX[row], PY[row]], coordsOf: row => Array.from(COORDS.slice(row * NK, row * NK + NK)),
    latentOf: row => Array.from(latentOf(row)), idOf, keptRows: () => Array.from(SPEC_ROWS),
    shown: () => state.panel && JSON.parse(JSON.stringify(state.panel,
                                                          (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v)),
    state: () => ({view: view.density ? "density" : "points", axes: [view.i, view.j], color: view.color, n: N,
                   selected: state.selected.length, panel: state.panel && state.panel.kind}),
    startMs: START_MS, readyMs: performance.now(),
  };
})();
