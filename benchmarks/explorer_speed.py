"""Speed of the explorer page: build it from N points, load it in headless Chromium, recolour it.

By default the points are a stand-in at the paper's size: ``--n`` spectra of 1000 pixels made by
decoding random latent points with the 6-latent Table 1 architecture (1000-703-94-6, random
weights) plus noise, so the page has the full-size decoder and N latent means; ``--run DIR``
uses a real ``npvae reproduce`` run folder instead. Reported: the time to gather and write the
page, its size, the time Chromium takes to load it (navigation start to the explorer ready),
and the time from a colour change to the next painted frame, for every colour column.

    python benchmarks/explorer_speed.py                       # 64,000 points
    python benchmarks/explorer_speed.py --n 1000000 --pixels 100 --max-spectra 200   # density view
    python benchmarks/explorer_speed.py --run RUN --screenshot docs/images/explorer.png
"""
import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _explorer_browser import CHROMIUM, start_chromium, stop_chromium  # noqa: E402

from npvae import make_model  # noqa: E402
from npvae.data.dataset import Dataset  # noqa: E402
from npvae.explore import resolve_source, write_explorer  # noqa: E402
from npvae.paper import CLASSES, rest_loglam  # noqa: E402
from npvae.train import load  # noqa: E402
from npvae.data.dataset import load_dataset  # noqa: E402

RECOLOR = """
const done = arguments[arguments.length - 1], e = window.npvaeExplorer, out = {};
const names = e.colors();
(function next(k) {
  if (k === names.length) return done(out);
  const t0 = performance.now();
  e.setColor(names[k]);
  requestAnimationFrame(() => requestAnimationFrame(() => { out[names[k]] = performance.now() - t0; next(k + 1); }));
})(0);
"""

ZOOM_ON_BULK = """
const e = window.npvaeExplorer, n = e.state().n, c = document.getElementById('scatter'), r = c.getBoundingClientRect();
const xs = [], ys = [];
for (let i = 0; i < n; i++) { const p = e.pixelOf(i); xs.push(p[0]); ys.push(p[1]); }
const median = a => a.sort((u, v) => u - v)[a.length >> 1];
const x = median(xs), y = median(ys);
const wheel = {deltaY: -100, clientX: r.left + x, clientY: r.top + y, cancelable: true};
for (let k = 0; k < 2; k++) c.dispatchEvent(new WheelEvent('wheel', wheel));
"""


def stand_in(n, n_pixels=1000, seed=0):
    """(model, dataset): the Table 1 6-latent VAE with random weights and n decoded noisy spectra."""
    rng = np.random.default_rng(seed)
    model = make_model("vae", 6, n_features=n_pixels, seed=seed)
    model.mean_[:] = 1.0
    z = rng.normal(size=(n, 6)) * rng.uniform(0.3, 2.0, size=6)                 # (N, Z)
    flux = model.decode(z) + rng.normal(scale=0.05, size=(n, model.n_features)).astype(np.float32)
    weight = np.full(flux.shape, 400.0, np.float32)                              # (N, D)
    catalog = Table({"PLATE": rng.integers(266, 12000, n), "MJD": rng.integers(51600, 59000, n),
                     "FIBERID": rng.integers(1, 1000, n), "Z": rng.uniform(0, 0.4, n),
                     "LABEL": rng.choice(CLASSES, n), "SN_MEDIAN": rng.uniform(2, 50, n),
                     "SPLIT": np.where(rng.random(n) < 0.75, "train", "valid")})
    wave = 10 ** rest_loglam()[np.linspace(0, 999, n_pixels).astype(int)]
    return model, Dataset(flux=flux, weight=weight, mask=np.zeros(flux.shape, np.uint8), wave=wave, catalog=catalog)


def chromium_version():
    return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=64_000, help="points of the stand-in (default 64,000)")
    parser.add_argument("--pixels", type=int, default=1000, help="pixels of the stand-in (fewer: less memory)")
    parser.add_argument("--run", default=None, help="an npvae reproduce run folder instead of the stand-in")
    parser.add_argument("--max-spectra", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=3, help="page loads timed (median reported)")
    parser.add_argument("--screenshot", default=None, help="PNG of the page after a click and a track")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, {chromium_version()}")
    t0 = time.perf_counter()
    if args.run:
        model_path, data_path = resolve_source(args.run)
        model, dataset = load(model_path), load_dataset(data_path)
    else:
        model, dataset = stand_in(args.n, args.pixels)
    print(f"data: {len(dataset)} spectra x {dataset.flux.shape[1]} pixels ready in {time.perf_counter() - t0:.1f} s")
    out = Path(tempfile.mkdtemp()) / "explorer.html"
    t0 = time.perf_counter()
    write_explorer(out, model, dataset, max_spectra=args.max_spectra)
    print(f"gather + write page: {time.perf_counter() - t0:.1f} s, {out.stat().st_size / 1e6:.1f} MB "
          f"({args.max_spectra} spectra embedded)")
    driver = start_chromium()
    try:
        loads = []
        for _ in range(args.loads):
            t0 = time.perf_counter()
            driver.get(out.as_uri())
            wall = time.perf_counter() - t0
            ready = driver.execute_script("return window.npvaeExplorer.readyMs") / 1e3
            loads.append((ready, wall))
        ready, wall = np.median(np.array(loads), axis=0)
        state = driver.execute_script("return window.npvaeExplorer.state()")
        print(f"load ({state['view']} view): navigation start to explorer ready {ready:.2f} s "
              f"(driver.get returned after {wall:.2f} s), median of {args.loads}")
        times = driver.execute_async_script(RECOLOR)
        print("colour change to next painted frame, ms: "
              + ", ".join(f"{k} {v:.0f}" for k, v in times.items()) + f"; max {max(times.values()):.0f} ms")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(f"console errors: {len(errors)}")
        if args.screenshot:
            screenshot(driver, args.screenshot)
    finally:
        stop_chromium(driver)


def screenshot(driver, path):
    """The page coloured by class, zoomed on the bulk of the points, with a track of the run decoded;
    then the top outlier's spectrum."""
    api = "return window.npvaeExplorer."
    driver.set_window_size(1400, 820)
    driver.execute_script(api + "setColor(window.npvaeExplorer.colors()[0])")      # the classes
    driver.execute_script(ZOOM_ON_BULK)
    data = "JSON.parse(document.getElementById('npvae-data').textContent)"
    names = driver.execute_script(f"return {data}.tracks.map(t => t.name)")
    stem = Path(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if names:
        driver.execute_script(api + "showTrack(arguments[0])", names[0])
        driver.save_screenshot(str(stem.with_name(stem.stem + "_track.png")))
    driver.execute_script(api + f"show({data}.outliers[0] || 0)")
    driver.save_screenshot(str(stem))
    print(f"wrote {stem}")


if __name__ == "__main__":
    main()
