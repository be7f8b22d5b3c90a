"""The facts of Portillo et al. (2020) that npvae uses, each with the sentence it comes from.

Portillo, Parejko, Vergara & Connolly 2020, AJ 160, 45, "Dimensionality Reduction of SDSS
Spectra with Variational Autoencoders". Every module that needs one of these numbers imports it
from here; none types it again. Where the paper is silent, the value comes from the authors'
public code (MIT), which npvae does not copy; this is said next to the value.
"""
import numpy as np

__all__ = ["TABLE1", "architecture", "CLASSES", "CLASS_NAMES", "N_PRIOR", "ALPHA", "SN_CAP",
           "N_PIXELS", "REST_LOGLAM0", "REST_DLOGLAM", "rest_loglam", "LEAKY_SLOPE", "BATCH_SIZE",
           "LEARNING_RATE", "LR_FACTOR", "LR_PATIENCE", "ES_PATIENCE", "MAX_EPOCHS", "LOF_K",
           "INFILL_EIGENVECTORS", "INFILL_ITERATIONS", "SEARCH_LAMBDA_RANGE", "SEARCH_H1_MAX",
           "ANALYSIS_LATENT", "N_WIDE_LATENTS_OF_10", "N_STARS_IN_TOP10", "NOISE_CROSSING_SN", "NOISE_BIAS_SN"]

# Table 1: "The architectures and values for lambda found by random search are listed in Table 1."
# latent size Z -> ((h1, h2), lambda); the encoder is 1000-h1-h2-Z and the decoder mirrors it.
TABLE1 = {2: ((1663, 42), 11.2), 4: ((1134, 64), 21.2), 6: ((703, 94), 3.02), 10: ((549, 110), 7.72)}

# "We make VAEs with two, four, six, and 10 latent parameters" -- and analyse the six (Sec. 3.2).
ANALYSIS_LATENT = 6


def architecture(n_latent):
    """(hidden, lambda) of Table 1 for a latent size; the 6-latent model's for other sizes."""
    return TABLE1.get(int(n_latent), TABLE1[ANALYSIS_LATENT])


# Section 3: "quiescent galaxies" (60.1%), "emission-line galaxies" (31.9%), "narrow-line AGNs"
# (4.0%) and "broad-line AGNs" (1.4%).
CLASSES = ("quiescent", "emission", "nlagn", "blagn")
CLASS_NAMES = {"quiescent": "quiescent", "emission": "emission-line", "nlagn": "narrow-line AGN",
               "blagn": "broad-line AGN"}

# InfoVAE (Sec. 2): "we set alpha = 0 (as recommended by Zhao et al. 2019 ...)".
ALPHA = 0.0
# MMD prior samples per batch: the paper is silent; the authors' code draws 200.
N_PRIOR = 200

# Rest-frame grid (Sec. 3): 1000 pixels, log10(lambda / Angstrom) = 3.53 + 3.9e-4 i.
N_PIXELS = 1000
REST_LOGLAM0 = 3.53
REST_DLOGLAM = 3.9e-4


def rest_loglam():
    """The paper's rest-frame grid: log10 wavelength of its 1000 pixels, (1000,) float64."""
    return REST_LOGLAM0 + REST_DLOGLAM * np.arange(N_PIXELS)


# Pixel S/N cap of the weights: the paper is silent; the authors' code adds a noise floor that
# caps the pixel S/N near 50.
SN_CAP = 50.0

# Activations (Sec. 2): "All activations are ReLU, except for the nodes in the code layer and
# reconstruction layer which have linear activations." The authors' code used leaky ReLU 0.01.
LEAKY_SLOPE = 0.01

# Training (Sec. 2): "a batch size of 64 and a starting learning rate of 10^-3. When the objective
# function does not improve for five epochs on the validation set, we reduce the learning rate by
# a factor of 10. We stop training if the objective function does not improve for 10 epochs".
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
LR_FACTOR = 0.1
LR_PATIENCE = 5
ES_PATIENCE = 10
MAX_EPOCHS = 200          # the authors' code; the paper does not say

# Outliers (Sec. 3.3): local outlier factor of the latent means with k = 20 neighbours.
LOF_K = 20

# Infill (Sec. 3, after Yip et al. 2004): iterative PCA with 10 eigenvectors, 20 iterations.
INFILL_EIGENVECTORS = 10
INFILL_ITERATIONS = 20

# Random search (Sec. 2): lambda log-uniform in [1, 1e5]; h1 log-uniform in [Z + 1, 2000];
# h2 log-uniform in [Z + 1, h1] (ranges from the authors' code).
SEARCH_LAMBDA_RANGE = (1.0, 1e5)
SEARCH_H1_MAX = 2000

# Claims checked by the reproduce report (npvae.reproduce.claims).
# Sec. 3.1: "In the 10-parameter VAE, we also find that the latent variances of four of the
# parameters are typically wider than the prior".
N_WIDE_LATENTS_OF_10 = 4
# Sec. 3.3: "Four of the outliers are stars which were erroneously classified as galaxies".
N_STARS_IN_TOP10 = 4
# Fig. 17: "The latent variance underestimates the uncertainty in latent space for spectra with
# S/N < 25 ... The latent mean is not significantly biased if the spectrum has S/N >~ 8."
NOISE_CROSSING_SN = 25.0
NOISE_BIAS_SN = 8.0
