"""The synthetic SDSS-like survey: build spectra in batches and wrap them as Spectrum records.

``generate(n, rng)`` draws the population (:mod:`.population`), then per batch builds the
rest-frame stellar continuum (:mod:`.galaxies`), nebular lines (:mod:`.nebular`), quasar
components (:mod:`.quasars`) and oddities (:mod:`.oddities`), moves everything to the SDSS
observed grid (:func:`.spectral.redshift_rebin`), adds sky and noise (:mod:`.observe`) and
measures the lines from the noisy result (:mod:`.measure`). docs/synthetic.md.
Shapes: N objects in a batch, W rest pixels, P observed pixels, L lines.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..data.labels import kewley2001_nii
from ..data.record import Spectrum
from ..utils import as_generator, default_threads, progress
from . import nebular, oddities, quasars
from .calibration import calibration_distortion
from .dust import STAR_TO_GAS, line_transmission
from .galaxies import recent_sfr, sfh_weights, stellar_continuum
from .measure import fit_lines, line_tables
from .observe import N_OBS, OBS_LOGLAM0, obs_loglam, observe
from .population import draw_population
from .spectral import add_gaussian_lines, add_line_set, redshift_rebin
from .templates import REST_LOGLAM0, load_templates

__all__ = ["batch_plan", "build_records", "generate", "build_batch", "SIGMA_INST", "HALPHA_PER_SFR"]

SIGMA_INST = 65.0             # km/s, SDSS instrumental dispersion (R ~ 2000)
HALPHA_PER_SFR = 0.0329       # L_sun of Halpha per (M_sun / Gyr): Kennicutt 1998, 1.26e41 erg/s per M_sun/yr
LIER_FRACTION = 0.5           # quiescent galaxies with EW(Halpha) 0.5-1.5 A (Yan et al. 2006: 52%)
LIER_EW = (0.5, 1.5)          # A, log-uniform; the WHAN "retired" galaxies have EW < 3 A
_I = {name: i for i, name in enumerate(nebular.LINE_NAMES)}


def _value_at(spec, wave, lam):
    """Column of ``spec`` (N, W) nearest ``lam`` Angstrom, (N,)."""
    return spec[:, int(np.argmin(np.abs(wave - lam)))]


def _quiescent_lines(rng, b, ew_agn, agn):
    """Weak LINER-like emission of quiescent galaxies (where b["quiescent_lines"]), in place.

    SDSS shows it in about half of the red, old galaxies (Yan et al. 2006: 52% with [O II];
    Belfiore et al. 2016, LIER emission): here a fraction LIER_FRACTION gets EW(H-alpha) log-uniform
    in LIER_EW (the "retired galaxies" of the WHAN diagram, Cid Fernandes et al. 2011, have
    EW < 3 A; up to 1.5 A keeps the quiescent galaxies measured as AGN at the paper's few per
    cent), the rest 0.05-0.5 A, all with LIER ratios ([N II] > H-alpha).
    ew_agn (N,) observed EW, agn (N, L) line fluxes relative to H-alpha.
    """
    n = ew_agn.size
    strong = rng.random(n) < LIER_FRACTION
    ew = np.where(strong, np.exp(rng.uniform(*np.log(LIER_EW), n)),
                  np.exp(rng.uniform(np.log(0.05), np.log(0.5), n)))
    lier = nebular.line_fluxes(nebular.lier_ratios(rng, n), rng)
    on = (b["kind"] == "quiescent") & b["quiescent_lines"]
    ew_agn[on] = ew[on]
    agn[on] = lier[on]


def _narrow_lines(rng, b, cont_ha, line_trans, extra):
    """Intrinsic narrow-line luminosities (N, L) per solar mass formed, and the AGN fraction of Halpha.

    ``extra``: the generator of the optional physics (so that switching it leaves the rest alone).
    """
    n = b["kind"].size
    sf = nebular.line_fluxes(nebular.sf_ratios(rng, b["mh"]), rng)              # (N, L) Ha = 1
    seyfert = nebular.line_fluxes(nebular.agn_ratios(rng, n), rng)
    liner = nebular.line_fluxes(nebular.liner_ratios(rng, n), rng)
    agn = np.where((rng.random(n) < 0.6)[:, None], seyfert, liner)
    agn[b["kind"] == "blagn"] = seyfert[b["kind"] == "blagn"]
    t_ha = line_trans[:, _I["H_alpha"]]
    l_sf = HALPHA_PER_SFR * recent_sfr(b["t_start"], b["tau"], b["t_quench"], b["burst_frac"],
                                       b["burst_age"]) * rng.lognormal(0, 0.3, n)
    ew_agn = np.select([b["kind"] == "quiescent", b["kind"] == "nlagn", b["kind"] == "blagn"],
                       [np.exp(rng.uniform(np.log(0.05), np.log(0.8), n)),
                        np.exp(rng.uniform(np.log(3), np.log(40), n)),
                        np.exp(rng.uniform(np.log(5), np.log(40), n))], 0.0)
    _quiescent_lines(extra, b, ew_agn, agn)
    l_agn = ew_agn * cont_ha / t_ha                                           # observed EW -> intrinsic
    is_agn = np.isin(b["kind"], ["nlagn", "blagn"])
    f_min = rng.uniform(0.6, 1.0, n)
    l_sf = np.where(is_agn, np.minimum(l_sf, l_agn * (1 - f_min) / f_min), l_sf)
    mix = sf * l_sf[:, None] + agn * l_agn[:, None]                           # (N, L)
    x, y = nebular.bpt_of_fluxes(mix)
    unsafe = is_agn & (x < 0.47) & (y < kewley2001_nii(np.minimum(x, 0.46)) + 0.05)
    mix[unsafe] = agn[unsafe] * l_agn[unsafe, None]
    l_sf[unsafe] = 0.0
    f_agn = l_agn / np.maximum(l_agn + l_sf, 1e-300)
    return mix, f_agn


def _add_quasar(rng, rows, cont, wave, loglam_rest):
    """Power law + broad lines + Fe II added to the host continuum rows, in place. Returns truth dict."""
    n = rows.size
    p = quasars.draw_broad(rng, n)
    host5100 = _value_at(cont[rows], wave, 5100.0)
    pl_norm = host5100 * (1 - p["host_frac"]) / p["host_frac"]
    pl = quasars.power_law(wave, p["alpha_nu"], pl_norm)                     # (n, W)
    sub = cont[rows] + pl.astype(cont.dtype)
    hb_area = p["ew_hb"] * pl_norm * (4862.7 / 5100.0) ** (-(2 + p["alpha_nu"]))
    sigma = p["fwhm"] / 2.3548
    for name, lam, rel in quasars.BROAD_LINES:
        scale = p["balmer"] if name == "H_alpha" else 1.0
        add_gaussian_lines(sub, REST_LOGLAM0, np.log10(lam), rel * scale * hb_area, sigma)
    fe = quasars.FE2_LINES
    for lam, rel in fe:
        add_gaussian_lines(sub, REST_LOGLAM0, np.log10(lam), p["fe2"] * hb_area * rel / fe[:8, 1].sum(),
                           sigma)
    cont[rows] = sub
    return {"fwhm": p["fwhm"], "host_frac": p["host_frac"], "hb_broad": hb_area}


def build_batch(rng, b):
    """Arrays of one batch: observed flux, ivar, and_mask (N, P), line tables, truth columns."""
    t = load_templates()
    wave = 10 ** t.loglam                                                     # (W,)
    n = b["kind"].size
    extra = rng.spawn(1)[0]                       # optional physics: spawning leaves rng's stream alone
    age_w = sfh_weights(t.ages, b["t_start"], b["tau"], b["t_quench"], b["burst_frac"], b["burst_age"])
    cont, weights = stellar_continuum(age_w, b["mh"], b["sigma_star"], STAR_TO_GAS * b["ebv_gas"],
                                      b["alpha_fe"], b["na_fe"])
    line_trans = line_transmission(nebular.LINES["wave"], b["ebv_gas"])       # (N, L) CCM89
    lum, f_agn = _narrow_lines(rng, b, _value_at(cont, wave, 6564.6), line_trans, extra)
    lum_obs = lum * line_trans                                                # (N, L) after dust
    qso = {"fwhm": np.zeros(n), "host_frac": np.ones(n), "hb_broad": np.zeros(n)}
    rows = np.flatnonzero(b["kind"] == "blagn")
    if rows.size:
        for key, val in _add_quasar(rng, rows, cont, wave, t.loglam).items():
            qso[key][rows] = val
    z_rest = b["z"].copy()
    for kind, maker in (("star_A", oddities.a_star), ("star_M", oddities.m_star)):
        s = np.flatnonzero(b["oddity"] == kind)
        if s.size:
            cont[s] = maker(rng, wave, s.size) * np.median(cont[s], axis=1, keepdims=True)
            lum_obs[s] = 0.0
            z_rest[s] = np.abs(rng.normal(0, 1e-4, s.size))
    sigma_line = np.sqrt(b["sigma_gas"] ** 2 + SIGMA_INST ** 2)               # (N,)
    cont_obs = redshift_rebin(cont, REST_LOGLAM0, z_rest, OBS_LOGLAM0, N_OBS)  # (N, P)
    near6000 = slice(int((np.log10(5800) - OBS_LOGLAM0) / 1e-4), int((np.log10(6200) - OBS_LOGLAM0) / 1e-4))
    scale = b["flux_6000"] / np.maximum(np.median(cont_obs[:, near6000], axis=1), 1e-30)   # (N,)
    cont_obs *= scale[:, None]
    # narrow lines straight onto the observed grid: a redshift keeps velocity widths and areas
    lines_obs = np.zeros_like(cont_obs)                                       # (N, P)
    shift = np.log10(1 + b["z"])
    add_line_set(lines_obs, OBS_LOGLAM0, np.log10(nebular.LINES["wave"])[None, :] + shift[:, None],
                 lum_obs * scale[:, None], sigma_line)
    sn = b["sn"].copy()
    odd = b["oddity"]
    jump = np.flatnonzero(odd == "camera_jump")
    if jump.size:
        part = cont_obs[jump] + lines_obs[jump]
        ratio = np.ones_like(part)
        oddities.camera_jump(rng, ratio)
        cont_obs[jump] *= ratio
        lines_obs[jump] *= ratio
    star = np.flatnonzero(odd == "bright_star")
    if star.size:
        light, _ = oddities.bright_star_light(rng, star.size)
        light_obs = redshift_rebin(light, REST_LOGLAM0, np.zeros(star.size), OBS_LOGLAM0, N_OBS)
        cont_obs[star] += light_obs * (b["flux_6000"][star] * rng.uniform(0.5, 3.0, star.size))[:, None]
    low = odd == "low_sn"
    sn[low] = rng.uniform(1.0, 3.0, low.sum())
    calib = calibration_distortion(extra, 10 ** obs_loglam(), n).astype(np.float32)   # (N, P)
    calib[~b["calibration"]] = 1.0
    flux, ivar, and_mask, _ = observe(rng, (cont_obs + lines_obs) * calib, sn)
    gap = np.flatnonzero(odd == "missing_data")
    if gap.size:
        f, iv, m = flux[gap], ivar[gap], and_mask[gap]
        oddities.drop_stretch(rng, f, iv, m)
        flux[gap], ivar[gap], and_mask[gap] = f, iv, m
    lows = np.flatnonzero(low)
    if lows.size:
        iv, m = ivar[lows], and_mask[lows]
        oddities.drop_many(rng, iv, m)
        ivar[lows], and_mask[lows] = iv, m
    # the pipeline's template fit follows the calibration error (it has polynomial terms)
    area, err, ew = fit_lines(flux, ivar, cont_obs * calib, b["z_cat"], sigma_line)
    flux_scale = scale                                                        # truth in observed units
    log_age = np.log10(t.ages)
    mass_w = weights.sum(axis=2)                                              # (N, A)
    light_w = np.einsum("nam,am->na", weights, t.flux[:, :, int(np.argmin(np.abs(wave - 5500)))])
    truth = {
        "TRUE_CLASS": np.where(np.char.startswith(odd, "star"), "star", b["kind"]),
        "ODDITY": odd, "TRUE_Z": b["z"], "TRUE_SN": b["sn"] * (~low) + sn * low,
        "TRUE_AGE_MW": 10 ** (mass_w @ log_age), "TRUE_AGE_LW": 10 ** ((light_w @ log_age) / light_w.sum(1)),
        "TRUE_MH": b["mh"], "TRUE_TAU": b["tau"], "TRUE_TSTART": b["t_start"],
        "TRUE_TQUENCH": b["t_quench"], "TRUE_BURST_FRAC": b["burst_frac"], "TRUE_BURST_AGE": b["burst_age"],
        "TRUE_EBV": b["ebv_gas"], "TRUE_EBV_STAR": STAR_TO_GAS * b["ebv_gas"],
        "TRUE_SIGMA_STAR": b["sigma_star"], "TRUE_SIGMA_GAS": b["sigma_gas"],
        "TRUE_AGN_FRAC": f_agn, "TRUE_FWHM_BROAD": qso["fwhm"], "TRUE_HOST_FRAC": qso["host_frac"],
        "TRUE_HB_BROAD_FLUX": qso["hb_broad"] * flux_scale,
        "TRUE_ALPHA_FE": b["alpha_fe"], "TRUE_NA_FE": b["na_fe"],
    }
    for name, col in (("H_alpha", "HA"), ("H_beta", "HB"), ("[O_III] 5007", "OIII_5007"),
                      ("[N_II] 6583", "NII_6583"), ("[S_II] 6716", "SII_6716"), ("[O_II] 3727", "OII_3729")):
        truth[f"TRUE_FLUX_{col}"] = lum_obs[:, _I[name]] * flux_scale
    return flux, ivar, and_mask, line_tables(area, err, ew, sigma_line), truth


def _records(start, b, flux, ivar, and_mask, tables, truth):
    """Wrap one batch as Spectrum records with truth in meta['columns']."""
    loglam = obs_loglam()
    cls = np.where(b["kind"] == "blagn", "QSO", "GALAXY")
    names = list(truth)
    cols = [np.asarray(truth[k]).tolist() for k in names]
    out = []
    for i in range(flux.shape[0]):
        k = start + i
        out.append(Spectrum(plate=3000 + k // 640, mjd=55000 + k // 640, fiber=k % 640 + 1,
                            z=float(b["z_cat"][i]), cls=str(cls[i]), loglam=loglam,
                            flux=flux[i], ivar=ivar[i], and_mask=and_mask[i], lines=tables[i],
                            source="synthetic",
                            meta={"columns": {k2: c[i] for k2, c in zip(names, cols)}}))
    return out


def generate(n, rng=None, fractions=None, batch_size=1000, verbose=False, n_threads=None, physics=None):
    """Make ``n`` synthetic SDSS-like spectra.

    Parameters
    ----------
    n : int
        Number of spectra.
    rng : np.random.Generator, int or None
        Randomness; the same seed gives the same survey.
    fractions : dict, optional
        Class fractions overriding :data:`npvae.synthetic.population.DEFAULT_FRACTIONS`
        (keys quiescent, emission, nlagn, blagn, oddity; normalised to sum 1).
    batch_size : int
        Spectra built together as arrays; each batch has its own generator spawned from ``rng``.
    n_threads : int, optional
        Batches built at once in threads (default: the number of cores, at most 4); the
        survey does not depend on it.
    physics : iterable of str, optional
        Optional physics to switch on, names of :data:`npvae.synthetic.population.PHYSICS`
        (``abundances``, ``quiescent_lines``, ``calibration``); None = all of them, ``()`` = none.

    Returns
    -------
    list of :class:`npvae.data.record.Spectrum`, observed frame, with ``meta["columns"]``
    holding ``ODDITY`` and the ``TRUE_*`` parameters.
    """
    starts, batches, batch_rngs = batch_plan(n, as_generator(rng), fractions, batch_size, physics)
    records = []
    with ThreadPoolExecutor(n_threads or default_threads()) as pool:   # NumPy drops the GIL
        for part in progress(pool.map(build_records, starts, batches, batch_rngs), total=len(starts),
                             desc="synth", verbose=verbose, unit="batch"):
            records += part
    return records


def batch_plan(n, rng, fractions=None, batch_size=1000, physics=None):
    """Draw the population, cut it into batches, spawn one generator per batch.

    Returns (starts, batches, generators): batch i holds the population rows
    ``starts[i]:starts[i] + batch_size`` and is built with generator i, so the survey is the same
    however the batches are spread over threads or processes.
    """
    pop = draw_population(rng, n, fractions, physics)
    starts = list(range(0, len(pop["kind"]), batch_size))
    batches = [{k: v[s:s + batch_size] for k, v in pop.items()} for s in starts]
    return starts, batches, rng.spawn(len(starts))


def build_records(start, batch, batch_rng):
    """The Spectrum records of one batch of the population (see :func:`batch_plan`)."""
    return _records(start, batch, *build_batch(batch_rng, batch))
