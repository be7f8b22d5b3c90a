"""The multilayer perceptron behind both models: layout, initialisation, flat parameter buffer.

An encoder D-h1-...-hL, linear heads to Z, and a mirrored decoder Z-hL-...-h1-D with a linear
output: the weights W and biases b of paper eqs. 1 and 3-7, with two hidden layers on each side
as in the paper's Table 1 (docs/derivations/linear.md). All parameters live in ONE flat buffer and ``params`` is a dict of views into it, so
the optimiser can update everything in one pass and a checkpoint is one array. Gradients get
a flat buffer of the same layout.

A noise-aware encoder (paper Sec. 4's suggestion) also sees the per-pixel noise: its first layer
reads 2D inputs, the centred flux and :func:`noise_feature` of the weights
(docs/derivations/noise_aware.md); everything else is the same.

Shapes: B batch, D pixels, H hidden units, Z latent, P parameters.
"""
import numpy as np

from ..paper import LEAKY_SLOPE, SN_CAP

__all__ = ["layer_layout", "param_shapes", "allocate_params", "init_params", "noise_feature", "ACTIVATIONS",
           "NOISE_SCALE"]

ACTIVATIONS = {"relu": 0.0, "leaky_relu": LEAKY_SLOPE}   # name -> slope for x < 0
NOISE_SCALE = SN_CAP     # sqrt(w) is divided by this: a pixel at the S/N cap of a unit flux reads 1


def noise_feature(w, out=None):
    """The noise block a noise-aware encoder sees: u = sqrt(w) / NOISE_SCALE.  w (B, D) -> u (B, D).

    u_d = 1 / (sigma_d NOISE_SCALE) for a pixel of noise sigma_d = w_d^(-1/2), and u_d = 0 for a
    pixel of zero weight (masked or infilled: infinite noise), so no special marker is needed.
    It depends on the data only, never on a parameter, so the first layer's gradient is the
    linear layer's on the joined input (paper Sec. 4; docs/derivations/noise_aware.md).
    """
    w = np.asarray(w)
    out = np.empty(w.shape, w.dtype if w.dtype.kind == "f" else np.float64) if out is None else out
    np.maximum(w, 0, out=out)
    np.sqrt(out, out=out)
    out *= out.dtype.type(1.0 / NOISE_SCALE)
    return out


def layer_layout(n_features, hidden, n_latent, heads=("mu", "logvar"), n_inputs=None):
    """Ordered (name, n_in, n_out) of every linear layer.

    For hidden = (703, 94): enc1 (D, 703), enc2 (703, 94), mu (94, Z), logvar (94, Z),
    dec1 (Z, 94), dec2 (94, 703), out (703, D). ``n_inputs`` is what enc1 reads (default D;
    2D for a noise-aware encoder); the decoder always outputs D.
    """
    widths = [int(n_features if n_inputs is None else n_inputs)] + [int(h) for h in hidden]
    layers = [(f"enc{i + 1}", widths[i], widths[i + 1]) for i in range(len(hidden))]
    layers += [(head, widths[-1], int(n_latent)) for head in heads]
    back = [int(n_latent)] + [int(h) for h in reversed(hidden)]
    layers += [(f"dec{i + 1}", back[i], back[i + 1]) for i in range(len(hidden))]
    layers.append(("out", back[-1], int(n_features)))
    return layers


def param_shapes(layout):
    """Ordered dict name.W -> (n_in, n_out), name.b -> (n_out,)."""
    shapes = {}
    for name, n_in, n_out in layout:
        shapes[f"{name}.W"] = (n_in, n_out)
        shapes[f"{name}.b"] = (n_out,)
    return shapes


def allocate_params(shapes, dtype):
    """One zeroed flat buffer (P,) and a dict of views into it with the given shapes."""
    sizes = [int(np.prod(s)) for s in shapes.values()]
    flat = np.zeros(sum(sizes), dtype=dtype)                    # (P,)
    views, start = {}, 0
    for (key, shape), size in zip(shapes.items(), sizes):
        views[key] = flat[start:start + size].reshape(shape)
        start += size
    return flat, views


def init_params(params, layout, rng):
    """Fill W and b with U(-1/sqrt(n_in), 1/sqrt(n_in)) in place (PyTorch's Linear default)."""
    for name, n_in, _ in layout:
        bound = 1.0 / np.sqrt(n_in)
        for key in (f"{name}.W", f"{name}.b"):
            arr = params[key]
            arr[...] = rng.uniform(-bound, bound, size=arr.shape)
