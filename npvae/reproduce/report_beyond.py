"""The report's "Beyond the paper" section, from results/beyond.json (nothing recomputed here)."""
import html

from .redshift_scores import CATASTROPHIC
from .report import Section, table_html

__all__ = ["beyond_sections"]


def beyond_sections(ctx, beyond):
    """Two sections: the noise-aware Fig. 17 beside the standard one; the redshift table."""
    noise, z = beyond["noise"], beyond["redshift"]
    training = noise["training"]
    rows = [[f"{s:g}", a, b] for s, a, b in zip(noise["sn_levels"], noise["standard"]["geomean_ratio"],
                                                 noise["noise_aware"]["geomean_ratio"])]
    noise_text = (
        "The paper's Section 4 suggestion (docs/noise_aware.md): an encoder that "
        "also reads the pixel noise and is trained on minibatches degraded by known extra noise. Trained "
        f"here with the {beyond['n_latent']}-latent VAE's architecture on {training['n_train']} training spectra "
        f"({training['epochs']} epochs, best {training['best_epoch']}, {training['seconds']:.0f} s"
        + (", its latent variance then calibrated on noisy copies of training spectra, npvae.train.calibrate"
           if training.get("logvar_calibration") else "") + "), then put "
        f"through the Fig. 17 experiment on the same spectrum (validation row {noise['row']}), levels and "
        f"{noise['n_draws']} draws per level as the standard model above, each noisy copy encoded with its own "
        "weights. The table gives the geometric mean over the latents of Var(latent means) / mean reported "
        "variance: 1 is an encoder whose reported variance matches the scatter of its means, above 1 an "
        "over-confident one.")
    methods = z["methods"]
    names = list(methods)
    zrows = []
    for i, row in enumerate(methods[names[0]]["rows"]):
        zrows.append([row["subset"], row["n"]] + sum(([methods[m]["rows"][i]["nmad"],
                                                       methods[m]["rows"][i]["catastrophic"]] for m in names), []))
    header = ["subset", "n"] + sum(([f"{m.upper()} NMAD", f"{m.upper()} catastrophic"] for m in names), [])
    scans = "; ".join(f"{m.upper()}: {methods[m]['n_scanned']} scanned, {methods[m]['n_skipped']} skipped, "
                      f"{methods[m]['seconds']:.0f} s" for m in names)
    z_text = (
        "The paper's Section 4 suggestion (docs/redshift.md): the redshift is the trial redshift whose "
        f"de-redshifted spectrum the VAE reconstructs best. {z['n_spectra']} new synthetic observed-frame "
        f"spectra (a survey the models never saw) scanned with the {beyond['n_latent']}-latent VAE and with "
        "PCA templates (the mean and top eigenvectors of this run's training spectra), both on the same "
        "trial grid. NMAD of "
        f"dz / (1 + z) and the fraction with |dz| / (1 + z) &gt; {CATASTROPHIC:g} (catastrophic), by true "
        f"class and true median S/N ({html.escape(scans)}). The rows where n = 0 are NaN.")
    figure = (ctx.path("figures", "beyond_fig17_noise_aware.png"),
              "Fig. 17 (left panel) for the standard and the noise-aware encoder: Var(latent means) / "
              "reported variance vs the S/N of the added noise, per latent and their geometric mean")
    return [Section("Beyond the paper: a noise-aware encoder", [noise_text],
                    [table_html(rows, ["S/N of added noise", "standard encoder", "noise-aware encoder"])], [figure]),
            Section("Beyond the paper: redshifts with the VAE", [z_text], [table_html(zrows, header)])]
