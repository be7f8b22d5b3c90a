"""The InfoVAE of Portillo et al. (2020) and the plain autoencoder baseline.

The engine's two models: the forward pass, the hand-written backward pass
(:meth:`InfoVAE.loss_and_grads`, paper eqs. 1-13), encoding, decoding, and the model file
(:meth:`save`, :func:`load`). They are built on the layers of :mod:`npvae.nn.layers` and the loss
terms of :mod:`npvae.nn.losses`. Training (``fit``) is added one level up, in
:mod:`npvae.train.estimators`: ``npvae.InfoVAE`` is this class plus ``fit``. The objective and how
its gradients meet in the network: docs/derivations/infovae_objective.md.

Shapes: N spectra, B batch, D pixels, H hidden, Z latent, M prior samples.

Public contract (also how weights are exported to other tools):
``model.params`` is a dict with keys ``enc1.W enc1.b enc2.W enc2.b mu.W mu.b logvar.W logvar.b
dec1.W dec1.b dec2.W dec2.b out.W out.b`` (no ``logvar.*`` for the autoencoder); W is
(n_in, n_out) and a layer computes ``y = x W + b``. The network sees ``x - mean_`` and its
output is added back to ``mean_``. A noise-aware InfoVAE (``noise_aware=True``, paper Sec. 4)
has ``enc1.W`` of shape (2D, H1): its encoder reads the centred flux and the noise block
:func:`npvae.nn.network.noise_feature` of the weights side by side (docs/derivations/noise_aware.md),
so its ``encode`` needs the weights too.
"""
import numpy as np

from .. import paper
from .._version import __version__
from ..utils import NotFittedError, NpvaeError, as_count, as_generator
from . import losses
from .layers import linear_act_backward, linear_act_forward
from .model_file import MODEL_FORMAT, read_npz_with_meta, write_npz_with_meta
from .network import ACTIVATIONS, allocate_params, init_params, layer_layout, noise_feature, param_shapes

__all__ = ["InfoVAE", "Autoencoder", "load", "MODEL_CLASSES"]

ENCODE_CHUNK = 4096    # rows per forward pass when encoding a large set
TABLE1_Z6_HIDDEN, TABLE1_Z6_LAM = paper.TABLE1[6]


class _MLPModel:
    """What the two models share: layout, parameters, workspace, encoder and decoder passes."""

    heads = ("mu",)
    variational = False    # True for a model with a latent distribution (mu and logvar heads)

    def __init__(self, n_features, hidden, n_latent, activation, dtype, seed, noise_aware=False):
        if activation not in ACTIVATIONS:
            raise NpvaeError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        self.n_features, self.n_latent = as_count(n_features, "n_features"), as_count(n_latent, "n_latent")
        if np.ndim(hidden) != 1:
            raise NpvaeError(f"hidden must be a sequence of layer widths, got {hidden!r}")
        self.hidden = tuple(as_count(h, "each hidden width") for h in hidden)
        self.activation, self.slope = activation, ACTIVATIONS[activation]
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise NpvaeError(f"dtype must be float32 or float64, not {self.dtype}")
        self.seed = seed
        self.rng = as_generator(seed)
        self.noise_aware = bool(noise_aware)       # the encoder also reads the noise block (2D inputs)
        n_inputs = 2 * self.n_features if self.noise_aware else self.n_features
        self.layout = layer_layout(self.n_features, self.hidden, self.n_latent, self.heads, n_inputs)
        self._shapes = param_shapes(self.layout)
        self.flat_params, self.params = allocate_params(self._shapes, self.dtype)
        init_params(self.params, self.layout, self.rng)
        self.mean_ = np.zeros(self.n_features, self.dtype)     # (D,) training mean spectrum
        self.history_ = []
        self.is_fitted = False     # set by fit and by load; encode, decode and save need it
        self._work = {}

    def __sklearn_is_fitted__(self):
        return self.is_fitted

    def check_fitted(self, action):
        """Raise NotFittedError unless the weights come from ``fit`` or ``load``."""
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted: call fit(X) or npvae.load(path) "
                                 f"before {action} (its weights are still the random initial ones)")

    def check_input(self, X, action):
        """Fitted model, X (N, D) real and finite; returns X as an array."""
        self.check_fitted(action)
        X = self.check_X(X)
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1)) if not np.isfinite(X.sum(dtype=np.float64)) else []
        if len(bad):
            raise NpvaeError(f"X row {bad[0]} has non-finite values (NaN or inf)")
        return X

    # --- sizes and buffers ------------------------------------------------------------------
    @property
    def n_components(self):
        """Number of parameters per spectrum (the latent dimension)."""
        return self.n_latent

    def new_grads(self):
        """A gradient dict with the layout of ``params`` (views into one flat buffer)."""
        return allocate_params(self._shapes, self.dtype)[1]

    def _buf(self, name, shape):
        """A reusable workspace array (no allocation in the training loop)."""
        key = (name, shape)
        if key not in self._work:
            self._work[key] = np.empty(shape, self.dtype)
        return self._work[key]

    def check_X(self, x, name="X"):
        """``x`` as a real array, checked to be (N, D) for this model's D."""
        x = np.asarray(x)
        if x.dtype.kind in "cUSVMm":
            what = "Complex data not supported" if x.dtype.kind == "c" else f"{x.dtype} values are not numbers"
            raise NpvaeError(f"{name}: {what} (spectra are real)")
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise NpvaeError(f"{name} must be (N, {self.n_features}), got shape {x.shape}")
        return x

    def _check_batch(self, x, w, eps=None, prior=None):
        """Check the shapes of one batch: x, w (B, D), eps (B, Z), prior (M, Z); cast to dtype.

        The Numba kernels do no bounds checking, so a wrong shape must be stopped here.
        """
        x, w = self.check_X(x), self.check_X(w, "weights")
        if w.shape != x.shape:
            raise NpvaeError(f"weights must have the shape of x {x.shape}, got {w.shape}")
        n_batch, z = len(x), self.n_latent
        if eps is not None:
            eps = np.asarray(eps, self.dtype)
            if eps.shape != (n_batch, z):
                raise NpvaeError(f"eps must be (B, Z) = ({n_batch}, {z}), got shape {eps.shape}")
        if prior is not None:
            prior = np.asarray(prior, self.dtype)
            if prior.ndim != 2 or prior.shape[1] != z or len(prior) < 1:
                raise NpvaeError(f"prior must be (M, {z}), got shape {prior.shape}")
        return x, np.asarray(w, self.dtype), eps, prior

    # --- forward / backward pieces ------------------------------------------------------------
    def _layer(self, name, h, slope, out=None, products=None):
        p = self.params
        return linear_act_forward(h, p[f"{name}.W"], p[f"{name}.b"], slope, out=out, products=products)

    def encoder_input(self, xc, w, work=True):
        """What the first encoder layer reads.  xc (B, D), w (B, D) -> (B, D) or (B, 2D).

        The centred flux xc itself; for a noise-aware model the joined block [xc, u] with the
        noise block u = :func:`npvae.nn.network.noise_feature` (w) (paper Sec. 4's suggestion:
        the pixel noise as a feature; docs/derivations/noise_aware.md). ``w`` is ignored otherwise.
        """
        if not self.noise_aware:
            return xc
        n, dim = xc.shape
        out = self._buf("xin", (n, 2 * dim)) if work else np.empty((n, 2 * dim), self.dtype)   # (B, 2D)
        out[:, :dim] = xc
        noise_feature(w, out=out[:, dim:])                                # (B, D) u, 0 where w = 0
        return out

    def encoder_weights(self, X, weights):
        """The weights ``encode`` passes to the encoder: checked (N, D) for a noise-aware model, else None."""
        if not self.noise_aware:
            return None
        if weights is None:
            raise NpvaeError("this noise-aware model reads each spectrum's noise: pass its weights "
                             "(inverse variances, N x D) to encode")
        weights = self.check_X(weights, "weights")
        if weights.shape != X.shape:
            raise NpvaeError(f"weights must have the shape of X {X.shape}, got {weights.shape}")
        if not np.isfinite(weights.sum(dtype=np.float64)) or (weights < 0).any():
            raise NpvaeError("weights must be finite and >= 0")
        return weights

    def _encoder_forward(self, xc, work=True, products=None):
        """Hidden layers of the encoder.  xc (B, D_in) -> h (B, H_L), caches (D_in = D or 2D)."""
        h, caches = xc, []
        for i, _ in enumerate(self.hidden):
            name = f"enc{i + 1}"
            out = self._buf(name, (len(xc), self.hidden[i])) if work else None
            h, cache = self._layer(name, h, self.slope, out, products)
            caches.append(cache)
        return h, caches

    def _decoder_forward(self, z, work=True, products=None):
        """Decoder.  z (B, Z) -> centred reconstruction (B, D), caches."""
        d, caches = z, []
        widths = list(reversed(self.hidden))
        for i, width in enumerate(widths):
            name = f"dec{i + 1}"
            out = self._buf(name, (len(z), width)) if work else None
            d, cache = self._layer(name, d, self.slope, out, products)
            caches.append(cache)
        out = self._buf("out", (len(z), self.n_features)) if work else None
        xhat, cache = self._layer("out", d, None, out, products)
        caches.append(cache)
        return xhat, caches

    def _decoder_backward(self, dxhat, caches, grads, products=None):
        """Backward through the decoder.  dxhat (B, D) -> dz (B, Z); fills decoder grads."""
        names = [f"dec{i + 1}" for i in range(len(self.hidden))] + ["out"]
        dy = dxhat
        for name, cache in zip(reversed(names), reversed(caches)):
            n_in = cache[1].shape[0]
            if name == "out":     # the large product, formed transposed: (n_in, B) buffer, (B, n_in) view
                dx_out = self._buf("d_out_t", (n_in, len(dy))).T
            else:
                dx_out = self._buf(f"d_{name}", (len(dy), n_in))                 # (B, n_in)
            dy = linear_act_backward(dy, cache, grads[f"{name}.W"], grads[f"{name}.b"], dx_out=dx_out,
                                     products=products)
        return dy

    def _encoder_backward(self, dh, caches, grads, products=None):
        """Backward through the encoder's hidden layers; fills their grads (no gradient for x)."""
        dy = dh
        for i in reversed(range(len(self.hidden))):
            name = f"enc{i + 1}"
            dx_out = self._buf(f"d_{name}", (len(dy), caches[i][1].shape[0])) if i > 0 else None
            dy = linear_act_backward(dy, caches[i], grads[f"{name}.W"], grads[f"{name}.b"],
                                     need_dx=i > 0, dx_out=dx_out, products=products)

    def _centre(self, x):
        """x - mean_ in the model's dtype, in a workspace buffer.  x (B, D)."""
        xc = self._buf("xc", x.shape)
        np.subtract(x, self.mean_, out=xc, casting="unsafe")
        return xc

    # --- estimator interface ----------------------------------------------------------------------
    def decode(self, Z):
        """Spectra for latent points.  Z (N, Z) -> (N, D), with the mean spectrum added back.

        The decoder, paper eqs. 4 and 5; docs/derivations/linear.md.
        """
        self.check_fitted("decode")
        Z = np.asarray(Z, self.dtype)
        if Z.ndim != 2 or Z.shape[1] != self.n_latent:
            raise NpvaeError(f"latent points must be (N, {self.n_latent}), got shape {Z.shape}")
        out = np.empty((len(Z), self.n_features), self.dtype)   # (N, D)
        for s in range(0, len(Z), ENCODE_CHUNK):
            out[s:s + ENCODE_CHUNK] = self._decoder_forward(Z[s:s + ENCODE_CHUNK], work=False)[0]
        out += self.mean_
        return out

    inverse_transform = decode

    def transform(self, X, weights=None):
        """Latent means (the codes).  X (N, D) -> (N, Z); ``weights`` (N, D) for a noise-aware model."""
        return self.encode(X, weights)[0]

    def reconstruct(self, X, weights=None):
        """decode(transform(X)): the reconstruction from the latent MEAN, no sampling.  (N, D)."""
        return self.decode(self.transform(X, weights))

    def save(self, path, extra_arrays=None, extra_meta=None):
        """Write weights and metadata to ``path`` (.npz) atomically; read back with :func:`load`.

        ``extra_arrays`` (dict of arrays) and ``extra_meta`` (JSON-serialisable dict) are stored
        beside them under their own keys (e.g. a preprocessing recipe); :func:`load` keeps them
        in ``model.extra_arrays_`` and ``model.extra_meta_``.
        """
        self.check_fitted("save")
        meta = {"format": MODEL_FORMAT, "class": type(self).__name__, "config": self.config(),
                "npvae_version": __version__, "history": self.history_}
        arrays = dict(self.params, mean=self.mean_)
        for own, extra in ((arrays, extra_arrays or {}), (meta, extra_meta or {})):
            clash = sorted(set(own) & set(extra))
            if clash:
                raise NpvaeError(f"{path}: extra entries {clash} clash with the model's own")
            own.update(extra)
        write_npz_with_meta(path, arrays, meta)


class InfoVAE(_MLPModel):
    """InfoVAE (Zhao et al. 2019) with the architecture of Portillo et al. (2020), Table 1.

    The objective for a batch of B spectra is

    .. math::
        L = \\mathrm{recon} + (1 - \\alpha)\\,\\mathrm{KL} + (\\alpha + \\lambda - 1)\\,Z\\,\\mathrm{MMD}

    (npvae.nn.losses; paper eqs. 1-13). Defaults are the paper's 6-latent model, 1000-703-94-6 with lambda = 3.02.

    Parameters
    ----------
    n_features : int
        Pixels per spectrum (D).
    hidden : tuple of int
        Encoder widths; the decoder mirrors them.
    n_latent : int
        Latent dimension (Z).
    lam, alpha : float
        InfoVAE weights (Table 1 lambda; alpha = 0 in the paper).
    activation : {"relu", "leaky_relu"}
    dtype : float32 or float64
    seed : int, Generator or None
        Seeds the initial weights and, through ``self.rng``, the training noise.
    n_prior : int
        Prior samples per step for the MMD (M).
    noise_aware : bool
        The encoder also reads the pixel noise (paper Sec. 4): enc1 is (2D, H1) and ``encode``
        needs the weights; ``fit`` then trains on spectra degraded by known extra noise
        (:mod:`npvae.train.degrade`). docs/noise_aware.md.
    """

    heads = ("mu", "logvar")
    variational = True

    def __init__(self, n_features=paper.N_PIXELS, hidden=TABLE1_Z6_HIDDEN, n_latent=6, lam=TABLE1_Z6_LAM,
                 alpha=paper.ALPHA, activation="relu", dtype=np.float32, seed=0, n_prior=paper.N_PRIOR,
                 noise_aware=False):
        super().__init__(n_features, hidden, n_latent, activation, dtype, seed, noise_aware)
        self.lam, self.alpha, self.n_prior = float(lam), float(alpha), as_count(n_prior, "n_prior")
        if not (np.isfinite(self.lam) and self.lam >= 0):
            raise NpvaeError(f"lam must be a finite number >= 0, got {lam}")
        if not 0 <= self.alpha <= 1:
            raise NpvaeError(f"alpha must be in [0, 1], got {alpha}")

    def loss_and_grads(self, x, w, eps, prior, grads=None, products=None):
        """Objective terms and the gradient of ``total`` for one batch.

        Forward through paper eqs. 1, 6-9 and 5, the objective of paper eq. 12 (eqs. 10, 11, 13),
        then backward; docs/derivations/infovae_objective.md.

        Parameters
        ----------
        x, w : ndarray (B, D)
            Spectra (not centred: the model subtracts ``mean_``) and inverse-variance weights
            (the likelihood's, and for a noise-aware model also the encoder's noise block).
        eps : ndarray (B, Z)
            Standard normal noise of the reparameterization.
        prior : ndarray (M, Z)
            Samples of the prior N(0, I) for the MMD.
        grads : dict, optional
            Output buffers from :meth:`new_grads` (overwritten); new ones if None.
        products : Offload, optional
            The training loop's two-thread schedule (:class:`npvae.train.offload.Offload`): it
            makes the same products, and also the Adam update of each layer once its gradient is
            made; ``grads`` and the parameters are final only after its ``finish()``.

        Returns
        -------
        terms : dict
            ``recon``, ``kl``, ``mmd``, ``total`` as floats.
        grads : dict
            d total / d params, same keys and shapes as ``params``.
        """
        x, w, eps, prior = self._check_batch(x, w, eps, prior)
        if grads is None:
            grads = self.new_grads()
        n_batch = len(x)
        c_rec, c_kl, c_mmd = losses.term_weights(self.lam, self.alpha, self.n_latent)
        # forward
        xc = self._centre(x)                                              # (B, D)
        h, enc_caches = self._encoder_forward(self.encoder_input(xc, w), products=products)   # (B, H)
        mu, mu_cache = self._layer("mu", h, None, self._buf("mu", (n_batch, self.n_latent)), products)
        logvar, lv_cache = self._layer("logvar", h, None, self._buf("lv", (n_batch, self.n_latent)), products)
        z, rep_cache = losses.reparameterize(mu, logvar, eps)            # (B, Z)
        xhat, dec_caches = self._decoder_forward(z, products=products)    # (B, D)
        # loss terms and their gradients
        recon, dxhat = losses.gaussian_nll(xc, xhat, w, c_rec, self._buf("dxhat", xhat.shape))
        kl, dmu_kl, dlogvar_kl = losses.kl_to_standard_normal(mu, logvar, c_kl)
        # backward: z feeds the decoder AND the MMD, so the two gradients add up
        dz = self._decoder_backward(dxhat, dec_caches, grads, products)   # (B, Z)
        mmd, dz = losses.mmd_rbf(z, prior, c_mmd, dz)
        dmu, dlogvar = losses.reparameterize_backward(dz, rep_cache)
        dmu = dmu + dmu_kl                                                # (B, Z)
        dlogvar = dlogvar + dlogvar_kl                                    # (B, Z)
        h_shape = (n_batch, h.shape[1])
        dh = linear_act_backward(dmu, mu_cache, grads["mu.W"], grads["mu.b"], dx_out=self._buf("d_mu", h_shape),
                                 products=products)
        dh += linear_act_backward(dlogvar, lv_cache, grads["logvar.W"], grads["logvar.b"],
                                  dx_out=self._buf("d_lv", h_shape), products=products)
        self._encoder_backward(dh, enc_caches, grads, products)
        total = c_rec * recon + c_kl * kl + c_mmd * mmd
        return {"recon": recon, "kl": kl, "mmd": mmd, "total": total}, grads

    def encode(self, X, weights=None):
        """Latent mean and log-variance.  X (N, D) -> mu (N, Z), logvar (N, Z).

        The encoder, paper eqs. 1, 6 and 7; docs/derivations/linear.md. ``weights`` (N, D) are
        read by a noise-aware model (required there) and ignored otherwise.
        """
        X = self.check_input(X, "encode")
        W = self.encoder_weights(X, weights)                            # (N, D) or None
        mu = np.empty((len(X), self.n_latent), self.dtype)              # (N, Z)
        logvar = np.empty_like(mu)                                       # (N, Z)
        for s in range(0, len(X), ENCODE_CHUNK):
            xc = np.asarray(X[s:s + ENCODE_CHUNK], self.dtype) - self.mean_
            xin = self.encoder_input(xc, None if W is None else W[s:s + ENCODE_CHUNK], work=False)
            h = self._encoder_forward(xin, work=False)[0]
            mu[s:s + ENCODE_CHUNK] = self._layer("mu", h, None)[0]
            logvar[s:s + ENCODE_CHUNK] = self._layer("logvar", h, None)[0]
        return mu, logvar

    def config(self):
        """The constructor arguments (JSON-serialisable); ``noise_aware`` only when True.

        (So the configuration of a standard model, and the checkpoints that record it, stay as
        they were before the option existed.)
        """
        config = {"n_features": self.n_features, "hidden": list(self.hidden), "n_latent": self.n_latent,
                  "lam": self.lam, "alpha": self.alpha, "activation": self.activation,
                  "dtype": self.dtype.name, "n_prior": self.n_prior}
        return dict(config, noise_aware=True) if self.noise_aware else config


class Autoencoder(_MLPModel):
    """The plain autoencoder baseline: the InfoVAE's layout without the logvar head.

    Its code layer is ``mu.*`` and its objective is the reconstruction term alone: paper eqs. 1-5
    with the L of eq. 10; docs/derivations/linear.md, relu.md, gaussian_nll.md.
    """

    heads = ("mu",)

    def __init__(self, n_features=paper.N_PIXELS, hidden=TABLE1_Z6_HIDDEN, n_latent=6, activation="relu",
                 dtype=np.float32, seed=0):
        super().__init__(n_features, hidden, n_latent, activation, dtype, seed)

    def loss_and_grads(self, x, w, eps=None, prior=None, grads=None, products=None):
        """``recon`` (= ``total``) and its gradient for one batch; eps and prior are ignored.

        ``products``: as for :meth:`InfoVAE.loss_and_grads`."""
        x, w, _, _ = self._check_batch(x, w)
        if grads is None:
            grads = self.new_grads()
        xc = self._centre(x)                                              # (B, D)
        h, enc_caches = self._encoder_forward(xc, products=products)      # (B, H)
        code, code_cache = self._layer("mu", h, None, self._buf("mu", (len(x), self.n_latent)), products)
        xhat, dec_caches = self._decoder_forward(code, products=products)  # (B, D)
        recon, dxhat = losses.gaussian_nll(xc, xhat, w, 1.0, self._buf("dxhat", xhat.shape))
        dcode = self._decoder_backward(dxhat, dec_caches, grads, products)   # (B, Z)
        dh = linear_act_backward(dcode, code_cache, grads["mu.W"], grads["mu.b"],
                                 dx_out=self._buf("d_mu", (len(x), h.shape[1])), products=products)
        self._encoder_backward(dh, enc_caches, grads, products)
        return {"recon": recon, "total": recon}, grads

    def encode(self, X, weights=None):
        """The code and, for a common interface, a logvar of zeros.  X (N, D) -> (N, Z), (N, Z).

        ``weights`` is accepted for the common interface and ignored.
        """
        X = self.check_input(X, "encode")
        code = np.empty((len(X), self.n_latent), self.dtype)            # (N, Z)
        for s in range(0, len(X), ENCODE_CHUNK):
            xc = np.asarray(X[s:s + ENCODE_CHUNK], self.dtype) - self.mean_
            code[s:s + ENCODE_CHUNK] = self._layer("mu", self._encoder_forward(xc, work=False)[0], None)[0]
        return code, np.zeros_like(code)

    def config(self):
        """The constructor arguments (JSON-serialisable)."""
        return {"n_features": self.n_features, "hidden": list(self.hidden), "n_latent": self.n_latent,
                "activation": self.activation, "dtype": self.dtype.name}


MODEL_CLASSES = {"InfoVAE": InfoVAE, "Autoencoder": Autoencoder}


def load(path, classes=None):
    """Load a model written by ``model.save(path)``: an InfoVAE or an Autoencoder.

    ``classes`` maps the class name stored in the file to the class to build (default
    :data:`MODEL_CLASSES`; :func:`npvae.load` passes the trainable estimators).
    """
    classes = MODEL_CLASSES if classes is None else classes
    arrays, meta = read_npz_with_meta(path, "npvae model file", MODEL_FORMAT)
    if meta.get("class") not in classes:
        raise NpvaeError(f"{path}: unknown model class {meta.get('class')!r} in '__meta__'")
    try:
        model = classes[meta["class"]](**meta["config"])
    except (TypeError, KeyError, ValueError) as err:
        raise NpvaeError(f"{path}: bad model configuration in '__meta__' ({err})") from err
    targets = dict(model.params, mean=model.mean_)
    for key, value in targets.items():
        if key not in arrays:
            raise NpvaeError(f"{path}: {'parameter ' if key != 'mean' else ''}{key!r} is missing")
        if arrays[key].shape != value.shape:
            raise NpvaeError(f"{path}: {key!r} has shape {arrays[key].shape}, expected {value.shape}")
        if not np.isfinite(arrays[key]).all():
            raise NpvaeError(f"{path}: {key!r} has non-finite values: the file holds a diverged model")
        value[...] = arrays[key]
    model.history_ = meta.get("history", [])
    model.is_fitted = True
    model.extra_arrays_ = {k: v for k, v in arrays.items() if k not in targets}
    model.extra_meta_ = {k: v for k, v in meta.items() if k not in ("format", "class", "config",
                                                                      "npvae_version", "history")}
    return model
