#!/usr/bin/env python3
"""Does a noise-aware encoder report an honest latent variance? (paper Sec. 4, Fig. 17)

Trains two InfoVAEs on the same synthetic survey, the standard one and a noise-aware one
(``InfoVAE(noise_aware=True)``: the encoder reads the pixel noise, and training sees each
spectrum degraded by known extra noise, npvae.train.degrade), then repeats the Fig. 17
experiment on the K highest-S/N validation spectra: at each S/N s of added white noise
(sigma = median|x| / s, npvae.analysis.noise.added_noise_sigma) R noisy copies are encoded
(the noise-aware model with the matching weights w' = w / (1 + w sigma^2)) and per latent k

    ratio_k = <Var_r mu_k>_spectra / <exp(logvar_k)>_{r, spectra}

(Monte Carlo variance of the latent means over the variance the encoder reports; 1 = honest
for an unbiased encoder, > 1 = over-confident), the error ratio

    err_k = <(mu_k - mu_true,k)^2>_{r, spectra} / <exp(logvar_k)>_{r, spectra}

(scatter plus squared bias over the reported variance: 1 for an honest posterior, which may
shrink towards the population and so be biased), and the coverage, the fraction of (spectrum,
draw, latent) with |mu - mu_true| <= sigma_reported (0.683 for an honest Gaussian posterior).
mu_true is the encoding of the spectrum without added noise (synthetic spectra without any
noise are not at hand here): at high added S/N its own uncertainty, sigma_true, is as large as
the reported one, so "cov+" also counts it, |mu - mu_true| <= sqrt(sigma^2 + sigma_true^2). Target: the latent-averaged ratio (geometric mean)
within [0.5, 2] from S/N 5 to 50, with a validation reconstruction error within 5% of the
standard model's (the paper's Fig. 3 weighted MSE and the median reduced chi^2 of the
reconstruction from the latent mean, and the validation recon term with fit's validation noise).
"noise-aware" is the model as ``fit`` returns it: its decoder polished on the undegraded training
spectra with the encoder frozen (npvae.train.polish) and its latent variance calibrated on noisy
copies of training spectra (npvae.train.calibrate); "noise-aware-raw" is the same model before
that calibration, "noise-aware-unpolished" the model trained without the polish (calibrated).
Other models (``--models``): "noise-aware-elbo", the noise-aware model with lambda = 1 (no MMD
term: the plain ELBO, alpha = 0), and "standard+degraded", the standard encoder trained on the
same degraded minibatches.

The calibration check over the whole validation set: each validation spectrum gets ``--copies``
noisier copies at an S/N drawn log-uniformly in (3, 80) (npvae.analysis.add_noise); the "true"
latents are the encoding of the spectrum as given (the noiseless synthetic spectra are not kept
by the survey), and npvae.analysis.coverage_by_sn gives, in bins of the copies' S/N (their own
noise included, npvae.analysis.spectrum_sn), the fraction of true latents inside the reported
1-sigma interval (0.683 if honest; "cov+" widens the interval by the truth's own variance).

    python benchmarks/noise_aware.py                          # 8000 spectra, 25 epochs
    python benchmarks/noise_aware.py --cache /tmp/npvae_noise --models standard noise-aware noise-aware-raw
"""
import argparse
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import npvae
from npvae.analysis.noise import add_noise, added_noise_sigma, coverage_by_sn, spectrum_sn
from npvae.apply.encode import encode_chunk
from npvae.baselines.metrics import weighted_mse
from npvae.synthetic import make_dataset
from npvae.train import make_model
from npvae.train.calibrate import calibrate_logvar
from npvae.train.degrade import DEGRADE_SN
from npvae.train.polish import POLISH_EPOCHS
from npvae.train.validation import draw_validation_noise, evaluate

SN_LEVELS = (3, 5, 8, 10, 15, 20, 30, 50, 80)
KINDS = {   # name -> (trained model it is, noise-aware encoder, lambda (None = Table 1), degradation,
            #          calibration: False, True (fit's default, target "scatter") or the target,
            #          decoder polish epochs (npvae.train.polish; fit's default POLISH_EPOCHS))
    "standard": ("standard", False, None, None, False, 0),
    "noise-aware": ("noise-aware+polish", True, None, DEGRADE_SN, True, POLISH_EPOCHS),
    "noise-aware-raw": ("noise-aware+polish", True, None, DEGRADE_SN, False, POLISH_EPOCHS),
    "noise-aware-error": ("noise-aware+polish", True, None, DEGRADE_SN, "error", POLISH_EPOCHS),
    "noise-aware-unpolished": ("noise-aware", True, None, DEGRADE_SN, True, 0),
    "noise-aware-elbo": ("noise-aware-elbo", True, 1.0, DEGRADE_SN, True, 0),
    "standard+degraded": ("standard+degraded", False, None, DEGRADE_SN, False, 0),
}
TARGET_SN = (5, 50)
COVERAGE_SN = (3.0, 80.0)                       # S/N range of the added noise of the calibration check
COVERAGE_EDGES = (2, 4, 6, 8, 12, 16, 24, 40)   # bins of the copies' S/N (own noise included)


def load_data(n, cache):
    """Training and validation flux and weights of a synthetic survey of n spectra (cached)."""
    path = None if cache is None else Path(cache) / f"synthetic_{n}.fits"
    ds = npvae.load_dataset(path) if path is not None and path.exists() else make_dataset(n, rng=0, path=path)
    train, valid = ds.subset("train"), ds.subset("valid")
    return train.flux, train.weight, valid.flux, valid.weight


def train(kind, data, n_latent, hidden, epochs, cache):
    """A trained model of ``kind`` (a key of KINDS) and the training seconds (None if cached).

    The cache (.npz) holds the model as trained, before the calibration that ends ``fit`` for a
    noise-aware model; that step (npvae.train.calibrate.calibrate_logvar, the same call with the
    same default seed as in ``fit``) is then applied here, so "noise-aware" and "noise-aware-raw"
    share one training and the result is that of ``model.fit``.
    """
    trained, aware, lam, degrade, calibrated, polish = KINDS[kind]
    path = None if cache is None else Path(cache) / f"{trained}_{len(data[0])}_{epochs}.npz"
    seconds = None
    if path is not None and path.exists():
        model = npvae.load(path)
    else:
        options = {"noise_aware": True} if aware else {}
        model = make_model("vae", n_latent, n_features=data[0].shape[1], hidden=hidden, lam=lam, seed=1,
                           **options)
        t0 = time.perf_counter()
        model.fit(*data, max_epochs=epochs, verbose=False, degrade_sn=degrade, calibrate=False, polish=polish)
        seconds = time.perf_counter() - t0
        if path is not None:
            model.save(path)
    if calibrated:
        target = calibrated if isinstance(calibrated, str) else "scatter"
        model.logvar_calibration_ = calibrate_logvar(model, data[0], data[1], target=target)
    return model, seconds


def noise_experiment(model, X, W, n_draws, rng):
    """Per S/N level: ratio (Z,), coverage, mean reported std (Z,), over the K spectra X (K, D)."""
    mu_true, logvar_true = (a.astype(np.float64) for a in encode_chunk(model, X, W)[:2])   # (K, Z)
    rows = []
    for sn in SN_LEVELS:
        var_mu, rep_var, sq_err, inside, inside_plus = [], [], [], [], []
        for x, w, truth, lv_true in zip(X, W, mu_true, logvar_true):
            sigma = added_noise_sigma(x, sn, w > 0)
            noisy = (x + sigma * rng.standard_normal((n_draws, x.size))).astype(np.float32)   # (R, D)
            wn = np.broadcast_to(w / (1 + w * sigma ** 2), noisy.shape).astype(np.float32)  # (R, D)
            mu, logvar = (a.astype(np.float64) for a in encode_chunk(model, noisy, wn)[:2])  # (R, Z)
            var_mu.append(mu.var(axis=0, ddof=1))
            rep_var.append(np.exp(logvar).mean(axis=0))
            sq_err.append(((mu - truth) ** 2).mean(axis=0))
            inside.append(np.abs(mu - truth) <= np.exp(0.5 * logvar))
            inside_plus.append(np.abs(mu - truth) <= np.sqrt(np.exp(logvar) + np.exp(lv_true)))
        var_mu, rep_var = np.mean(var_mu, axis=0), np.mean(rep_var, axis=0)     # (Z,)
        rows.append({"sn": sn, "ratio": var_mu / rep_var, "err": np.mean(sq_err, axis=0) / rep_var,
                     "coverage": float(np.mean(inside)), "coverage_plus": float(np.mean(inside_plus)),
                     "std": np.sqrt(rep_var)})
    return rows


def coverage_table(model, X, W, copies, rng):
    """The calibration check over all N validation spectra: coverage and cov+ (SnCoverage each)."""
    reps = np.repeat(np.arange(len(X)), copies)                                      # (N C,)
    sn = np.exp(rng.uniform(*np.log(COVERAGE_SN), reps.size))                       # (N C,)
    noisy, w_noisy, _ = add_noise(X[reps], W[reps], sn, rng)                        # (N C, D)
    truth, lv_truth = encode_chunk(model, X, W)[:2]                                 # (N, Z)
    mu, logvar = encode_chunk(model, noisy, w_noisy)[:2]                            # (N C, Z)
    sn_copy = spectrum_sn(noisy, w_noisy)                                           # (N C,)
    plain = coverage_by_sn(mu, logvar, truth[reps], sn_copy, COVERAGE_EDGES)
    wider = np.logaddexp(logvar.astype(np.float64), lv_truth[reps].astype(np.float64))
    return plain, coverage_by_sn(mu, wider, truth[reps], sn_copy, COVERAGE_EDGES)


def print_coverage(name, plain, plus):
    """Fraction of true latents inside the reported 1-sigma interval, per S/N bin (0.683 if honest)."""
    print(f"{name}: calibration check, validation spectra + noise; truth = encoding as given")
    print(f"{'S/N bin':>9} {'count':>6} {'cov':>6} {'cov+':>6} {'rms pull':>8}  cov per latent")
    for g in range(len(plain.count)):
        lo, hi = plain.sn_edges[g], plain.sn_edges[g + 1]
        pull = float(np.sqrt(np.mean(plain.rms_pull[g] ** 2)))
        print(f"{f'{lo:g}-{hi:g}':>9} {plain.count[g]:>6d} {plain.coverage_mean[g]:>6.3f} "
              f"{plus.coverage_mean[g]:>6.3f} {pull:>8.2f}  " + " ".join(f"{c:5.2f}" for c in plain.coverage[g]))


def recon_error(model, X, W):
    """Median reduced chi^2 of the reconstruction from the latent mean (validation spectra)."""
    return float(np.nanmedian(encode_chunk(model, X, W)[2]))


def val_recon(model, X, W):
    """The validation recon term with fit's validation noise (= the best epoch's for an unpolished model)."""
    return evaluate(model, X, W, draw_validation_noise(model, len(X), 0))["recon"]


def fig3_error(model, X, W):
    """The paper's Fig. 3 metric (weighted mean squared error) of the reconstruction from the latent mean."""
    mu = encode_chunk(model, X, W)[0]
    return weighted_mse(X, model.decode(mu), W)


def print_table(name, rows, model, recon, chi2, seconds):
    """The per-level table of one model, and whether the target holds."""
    best = min(model.history_, key=lambda r: r.get("val_total", np.inf))
    took = "cached" if seconds is None else f"{seconds:.0f} s (contended)"
    print(f"\n{name}: val recon {recon:.2f} (best epoch {best['epoch']} {best['val_recon']:.2f}), "
          f"median rchi2 {chi2:.3f}, training {took}")
    record = getattr(model, "logvar_calibration_", None)
    if record is not None:   # the fitted line; a latent not identified keeps a = 0, b = 1
        print("calibration a " + " ".join(f"{v:.2f}" for v in record["a"]) + ", b "
              + " ".join(f"{v:.3f}" for v in record["b"]) + ", identified "
              + " ".join("yes" if v else "no" for v in record.get("identified", [True] * len(record["a"]))))
    z = len(rows[0]["ratio"])
    print(f"{'S/N':>5} {'ratio':>6} {'err':>6} {'cov':>6} {'cov+':>6}  ratio per latent" + " " * (7 * z - 16)
          + "  reported std per latent   (ratio, err: geometric means over latents)")
    for r in rows:
        geo, err = (float(np.exp(np.mean(np.log(r[key])))) for key in ("ratio", "err"))
        print(f"{r['sn']:>5} {geo:>6.2f} {err:>6.2f} {r['coverage']:>6.3f} {r['coverage_plus']:>6.3f}  "
              + " ".join(f"{v:6.2f}" for v in r["ratio"]) + "  " + " ".join(f"{v:6.3f}" for v in r["std"]))
    inside = [r for r in rows if TARGET_SN[0] <= r["sn"] <= TARGET_SN[1]]
    geo = [float(np.exp(np.mean(np.log(r["ratio"])))) for r in inside]
    per = np.concatenate([r["ratio"] for r in inside])
    ok = all(0.5 <= g <= 2 for g in geo) and bool(np.all((per >= 0.5) & (per <= 2)))
    print(f"target ratio in [0.5, 2] for S/N {TARGET_SN[0]}-{TARGET_SN[1]}, per latent and averaged: "
          f"{'met' if ok else 'NOT met'} (averaged {min(geo):.2f}-{max(geo):.2f}, "
          f"per latent {per.min():.2f}-{per.max():.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8000, help="synthetic spectra (default 8000)")
    ap.add_argument("--epochs", type=int, default=25, help="training epochs per model (default 25)")
    ap.add_argument("--latent", type=int, default=6)
    ap.add_argument("--hidden", type=int, nargs="+", default=None, help="encoder widths (default Table 1)")
    ap.add_argument("--spectra", type=int, default=40, help="K highest-S/N validation spectra (default 40)")
    ap.add_argument("--draws", type=int, default=100, help="R noise draws per spectrum and level (default 100)")
    ap.add_argument("--copies", type=int, default=3,
                    help="noisier copies of each validation spectrum for the calibration check (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    ap.add_argument("--cache", default=None, help="folder to keep the dataset and trained models in")
    ap.add_argument("--models", nargs="+", choices=list(KINDS), default=["standard", "noise-aware"],
                    help="models to train and measure (default: standard noise-aware)")
    args = ap.parse_args()
    if args.cache:
        Path(args.cache).mkdir(parents=True, exist_ok=True)
    with threadpool_limits(args.threads):
        data = load_data(args.n, args.cache)
        Xv, Wv = data[2], data[3]
        top = np.argsort(spectrum_sn(Xv, Wv))[::-1][:args.spectra]                # (K,)
        print(f"{len(data[0])} training, {len(Xv)} validation spectra; the {len(top)} of highest S/N "
              f"(median pixel S/N {np.median(spectrum_sn(Xv[top], Wv[top])):.0f}) get the added noise")
        kinds = ["standard"] + [k for k in args.models if k != "standard"]
        chi2, recon, mse = {}, {}, {}
        for kind in kinds:
            model, seconds = train(kind, data, args.latent, args.hidden, args.epochs, args.cache)
            rows = noise_experiment(model, Xv[top], Wv[top], args.draws, np.random.default_rng(5))
            chi2[kind] = recon_error(model, Xv, Wv)
            recon[kind] = val_recon(model, Xv, Wv)
            mse[kind] = fig3_error(model, Xv, Wv)
            print_table(kind, rows, model, recon[kind], chi2[kind], seconds)
            print_coverage(kind, *coverage_table(model, Xv, Wv, args.copies, np.random.default_rng(6)))
        for kind in kinds[1:]:
            print(f"{kind} / standard: median validation rchi2 {chi2[kind] / chi2['standard']:.3f}, "
                  f"validation recon term {recon[kind] / recon['standard']:.3f}, "
                  f"Fig. 3 weighted MSE {mse[kind] / mse['standard']:.3f}")


if __name__ == "__main__":
    main()
