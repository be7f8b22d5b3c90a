"""Training loop behind ``model.fit`` (minimal version; the training issue extends it)."""
import numpy as np

from .adam import Adam
from .utils import as_generator

__all__ = ["fit"]


def fit(model, X, weights=None, X_val=None, weights_val=None, *, batch_size=64, max_epochs=200,
        lr=1e-3, rng=None, verbose=False):
    """Shuffled minibatch Adam on ``model.loss_and_grads``; sets ``model.mean_`` from X."""
    X = model._check_x(X)
    W = np.ones_like(X) if weights is None else model._check_x(weights, "weights")
    rng = model.rng if rng is None else as_generator(rng)
    model.mean_[...] = X.mean(axis=0)
    opt = Adam(model.params, lr=lr)
    grads = model.new_grads()
    Z = model.n_latent
    n_prior = getattr(model, "n_prior", 0)
    for epoch in range(max_epochs):
        order = rng.permutation(len(X))
        totals = []
        for s in range(0, len(X), batch_size):
            idx = order[s:s + batch_size]
            eps = rng.standard_normal((len(idx), Z))
            prior = rng.standard_normal((n_prior, Z))
            terms, _ = model.loss_and_grads(X[idx], W[idx], eps, prior, grads)
            opt.step(grads)
            totals.append(terms["total"])
        model.history_.append({"epoch": epoch + 1, "train_total": float(np.mean(totals))})
    return model
