"""The explorer page in a real headless Chromium: loads cleanly, decodes like Python, clicks, selects.

Each test loads the page of the tiny model and dataset (conftest.py) from a file:// URL and
compares what the page computes with an independent Python computation: ``model.decode``,
the dataset's arrays, ``fit_latent_axes`` of the training latent means.
"""
import csv
import io
from pathlib import Path

import numpy as np
import pytest

from npvae.analysis.axes import fit_latent_axes
from npvae.analysis.tracks import decode_track, preset_track
from npvae.explore import write_explorer

API = "return window.npvaeExplorer."


def js(driver, call, *args):
    return driver.execute_script(API + call, *args)


def severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def python_axes(model, dataset):
    """The axes VAE 1..Z as the paper fits them: PCA of the training galaxies' latent means."""
    train = np.asarray(dataset.catalog["SPLIT"], dtype=str) == "train"
    return fit_latent_axes(model.transform(dataset.flux[train]))


def python_ids(dataset, rows):
    cat = dataset.catalog
    return [f"{cat['PLATE'][r]}-{cat['MJD'][r]}-{cat['FIBERID'][r]}" for r in rows]


def click_canvas(driver, px, py, drag_to=None, hover=False):
    """A real mouse click, drag (to ``drag_to``) or hover at canvas pixel (px, py) of the scatter."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, "scatter")
    w, h = canvas.size["width"], canvas.size["height"]
    border = (w - int(canvas.get_attribute("width"))) / 2                 # CSS border of the canvas
    offset = lambda x, y: (int(round(x + border - w / 2)), int(round(y + border - h / 2)))  # noqa: E731
    actions = ActionChains(driver).move_to_element_with_offset(canvas, *offset(px, py))   # from the centre
    if drag_to is not None:
        actions.click_and_hold().move_to_element_with_offset(canvas, *offset(*drag_to)).release()
    elif not hover:
        actions.click()
    actions.perform()


def isolated_row(driver, rows):
    """Of ``rows``, the one whose canvas pixel is farthest from every other point's."""
    pix = np.array(driver.execute_script(
        "const e = window.npvaeExplorer, n = e.state().n, out = [];"
        "for (let i = 0; i < n; i++) out.push(e.pixelOf(i)); return out;"))   # (N, 2)
    gaps = [np.sort(np.hypot(*(pix - pix[r]).T))[1] for r in rows]
    return rows[int(np.argmax(gaps))], pix


def test_page_loads_without_console_errors_or_network_requests(opened, page):
    opened.get(Path(page).resolve().as_uri())
    assert severe(opened) == []
    assert opened.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert js(opened, "state()")["n"] == 300
    text = Path(page).read_text()
    assert "http://" not in text and "https://" not in text
    assert " src=" not in text and "<link" not in text


def test_decode_in_the_page_equals_model_decode(opened, tiny_model):
    rng = np.random.default_rng(17)
    z = rng.normal(scale=1.5, size=(20, tiny_model.n_latent))               # (20, Z)
    expected = tiny_model.decode(z)                                          # (20, D)
    got = np.array([js(opened, "decode(arguments[0])", [float(v) for v in row]) for row in z])
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - expected) <= 1e-4 * scale)
    assert severe(opened) == []


def test_clicking_a_point_shows_its_spectrum_band_and_reconstruction(opened, tiny_model, tiny_dataset):
    first = js(opened, "shown()")["row"]                                     # the top outlier, shown at load
    kept = [r for r in js(opened, "keptRows()") if r != first]
    row, pix = isolated_row(opened, kept)
    click_canvas(opened, *pix[row])
    shown = js(opened, "shown()")
    assert shown["kind"] == "spectrum" and shown["row"] == row
    (expected_id,) = python_ids(tiny_dataset, [row])
    assert opened.find_element("id", "title").text.startswith(expected_id)
    flux, weight = tiny_dataset.flux[row], tiny_dataset.weight[row]
    np.testing.assert_allclose(shown["flux"], flux, rtol=1e-3)               # float16 in the page
    good = weight > 0
    np.testing.assert_allclose(np.array(shown["sigma"], dtype=float)[good], 1 / np.sqrt(weight[good]), rtol=1e-3)
    assert all(s is None for s in np.array(shown["sigma"], dtype=object)[~good])   # infinite: a bad pixel
    recon = tiny_model.reconstruct(flux[None])[0]
    assert np.abs(np.array(shown["model"]) - recon).max() <= 1e-4 * np.abs(recon).max()


def test_hover_shows_plate_mjd_fiber_class_and_redshift(opened, tiny_dataset):
    row, pix = isolated_row(opened, list(range(0, 300, 7)))
    click_canvas(opened, *pix[row], hover=True)
    tip = opened.find_element("id", "tooltip").text
    (expected_id,) = python_ids(tiny_dataset, [row])
    assert expected_id in tip and str(tiny_dataset.catalog["LABEL"][row]) in tip
    assert f"z = {tiny_dataset.catalog['Z'][row]:.4f}" in tip


def test_clicking_empty_space_decodes_that_latent_point(opened, tiny_model, tiny_dataset):
    _, pix = isolated_row(opened, [0])
    grid = np.stack(np.meshgrid(np.arange(40, 600, 10), np.arange(40, 520, 10)), -1).reshape(-1, 2)
    gap = np.min(np.hypot(grid[:, None, 0] - pix[None, :, 0], grid[:, None, 1] - pix[None, :, 1]), axis=1)
    spot = grid[np.argmax(gap)]                                              # the emptiest spot
    click_canvas(opened, *spot)
    shown = js(opened, "shown()")
    assert shown["kind"] == "decoded"
    z = np.array(shown["z"])
    axes = python_axes(tiny_model, tiny_dataset)
    coords = axes.transform(z[None])[0]                                      # (Z,) on VAE 1..Z
    assert np.allclose(coords[2:], 0, atol=1e-5)                            # the hidden axes at the centroid
    # the spot's coordinates, interpolated between the points drawn leftmost/rightmost, top/bottom
    points = axes.transform(tiny_model.transform(tiny_dataset.flux))        # (N, Z)
    for k, axis in ((0, 0), (1, 1)):
        lo, hi = np.argmin(pix[:, k]), np.argmax(pix[:, k])
        t = (spot[k] - pix[lo, k]) / (pix[hi, k] - pix[lo, k])
        assert coords[axis] == pytest.approx(points[lo, axis] + t * (points[hi, axis] - points[lo, axis]),
                                             abs=4e-3 * np.ptp(points[:, axis]))   # within ~2 pixels
    expected = tiny_model.decode(z[None])[0]
    assert np.abs(np.array(shown["model"]) - expected).max() <= 1e-4 * np.abs(expected).max()
    assert len(shown["nearest"]) == 3
    assert severe(opened) == []


def test_dragging_between_two_points_decodes_a_track(opened, tiny_model):
    a, pix = isolated_row(opened, list(range(0, 300, 5)))
    b, _ = isolated_row(opened, [r for r in range(1, 300, 5) if np.hypot(*(pix[r] - pix[a])) > 100])
    click_canvas(opened, *pix[a], drag_to=pix[b])
    shown = js(opened, "shown()")
    assert shown["kind"] == "track"
    points = np.array(shown["points"])                                       # (B, Z)
    np.testing.assert_allclose(points[0], js(opened, f"latentOf({a})"), rtol=1e-6)
    np.testing.assert_allclose(points[-1], js(opened, f"latentOf({b})"), rtol=1e-6)
    expected = tiny_model.decode(points)
    got = np.array(shown["spectra"])
    assert np.all(np.abs(got - expected) <= 1e-4 * np.abs(expected).max(axis=1, keepdims=True))


def test_box_selection_exports_the_ids_inside_the_box(opened, tiny_model, tiny_dataset):
    coords = python_axes(tiny_model, tiny_dataset).transform(tiny_model.transform(tiny_dataset.flux))  # (N, Z)
    (x0, x1), (y0, y1) = np.percentile(coords[:, 0], [20, 75]), np.percentile(coords[:, 1], [30, 90])
    inside = np.flatnonzero((coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1))
    rows = js(opened, "select(arguments[0])", {"x": [x0, x1], "y": [y0, y1]})
    assert rows == list(inside) and 20 < len(rows) < 200
    table = list(csv.DictReader(io.StringIO(js(opened, "selectionCsv()"))))
    assert [f"{r['plate']}-{r['mjd']}-{r['fiberid']}" for r in table] == python_ids(tiny_dataset, inside)
    assert [r["class"] for r in table] == list(np.asarray(tiny_dataset.catalog["LABEL"])[inside])
    link = opened.find_element("id", "csv")
    assert link.get_attribute("href").startswith("blob:") and link.get_attribute("download").endswith(".csv")
    downloaded = opened.execute_async_script(
        "const done = arguments[0]; fetch(document.getElementById('csv').href).then(r => r.text()).then(done);")
    assert downloaded == js(opened, "selectionCsv()")


def test_dragging_a_box_selects_the_points_drawn_inside_it(opened):
    from selenium.webdriver.common.by import By

    opened.find_element(By.CSS_SELECTOR, "input[name=mode][value=select]").click()
    start, end = (150.5, 120.5), (420.5, 380.5)
    click_canvas(opened, *start, drag_to=end)
    _, pix = isolated_row(opened, [0])
    # the pointer lands within a pixel of where it is sent: compare with a box 2 px larger and smaller
    inside = np.flatnonzero((pix[:, 0] >= start[0] - 2) & (pix[:, 0] <= end[0] + 2)
                            & (pix[:, 1] >= start[1] - 2) & (pix[:, 1] <= end[1] + 2))
    core = np.flatnonzero((pix[:, 0] >= start[0] + 2) & (pix[:, 0] <= end[0] - 2)
                          & (pix[:, 1] >= start[1] + 2) & (pix[:, 1] <= end[1] - 2))
    selected = set(js(opened, "selectedIds()"))
    ids = [js(opened, f"idOf({r})") for r in range(300)]
    assert {ids[r] for r in core} <= selected <= {ids[r] for r in inside}
    assert len(core) > 10


def test_colour_by_each_column_and_by_the_other_axes(opened):
    names = js(opened, "colors()")
    assert {"LABEL", "Z", "SN_MEDIAN", "chi2", "LOF"} <= set(names)
    for name in names:
        js(opened, "setColor(arguments[0])", name)
        assert js(opened, "state()")["color"] == name
    js(opened, "setAxes(2, 3)")
    assert js(opened, "state()")["axes"] == [2, 3]
    assert severe(opened) == []


def test_run_tracks_decode_like_python(opened, tiny_model, tiny_dataset):
    axes = python_axes(tiny_model, tiny_dataset)
    track = preset_track("star_formation", tiny_model.transform(tiny_dataset.flux),
                         np.asarray(tiny_dataset.catalog["LABEL"], dtype=str), axes)
    expected = decode_track(tiny_model.decode, track.centroids)             # (B, D)
    got = np.array(js(opened, "showTrack('star_formation')"))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_more_points_than_the_threshold_switch_to_a_density_view(browser, tiny_model, tiny_dataset, tmp_path):
    path = write_explorer(tmp_path / "dense.html", tiny_model, tiny_dataset, max_spectra=10, density_threshold=100)
    browser.get(Path(path).resolve().as_uri())
    assert js(browser, "state()")["view"] == "density"
    painted = browser.execute_script(
        "const c = document.getElementById('scatter');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250) n++; return n;")
    assert painted > 300
    assert severe(browser) == []


def test_after_zooming_in_a_click_still_opens_the_point_under_the_pointer(opened):
    centre = js(opened, "pixelOf(0)")
    zoom = ("const c = document.getElementById('scatter'), r = c.getBoundingClientRect();"
            "c.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + 1 + arguments[0],"
            " clientY: r.top + 1 + arguments[1], bubbles: true, cancelable: true}));")
    for _ in range(3):
        opened.execute_script(zoom, *centre)
    after = js(opened, "pixelOf(0)")
    assert np.hypot(after[0] - centre[0], after[1] - centre[1]) < 1.0      # the point under the pointer stays
    _, pix = isolated_row(opened, [0])
    spread = np.hypot(*(pix - pix[0]).T)
    near = [r for r in np.argsort(spread)[1:40] if 30 < pix[r][0] < 610 and 30 < pix[r][1] < 530]
    row, _ = isolated_row(opened, near)
    click_canvas(opened, *pix[row])
    assert js(opened, "shown()")["row"] == row
    assert severe(opened) == []
