"""Fully connected layers and activations as forward/backward pairs.

Each ``*_forward`` returns its output and an explicit cache; the matching ``*_backward``
takes the upstream gradient and that cache and returns the gradients of the inputs. No layer
holds state. Every layer of the paper's network is one of these: ``f(x W + b)`` (paper eqs. 1, 4
and 9) or its linear form ``x W + b`` (paper eqs. 3, 5, 6 and 7), with f the ReLU (paper eq. 2).
Derivations: docs/derivations/linear.md and docs/derivations/relu.md.

Shapes: B batch, I inputs, O outputs.

The ``linear_act_*`` pair fuses bias + activation (and, backward, the activation gradient +
bias gradient) into one Numba pass and writes into preallocated buffers; it is what the model
uses. Its reference is the composition of the plain layers, compared in tests/nn/test_layers.py.
"""
import numpy as np

from ..paper import LEAKY_SLOPE
from . import kernels

__all__ = [
    "LEAKY_SLOPE", "linear_forward", "linear_backward", "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "linear_act_forward", "linear_act_backward", "input_grad_operands",
]


def linear_forward(x, W, b):
    """Affine map :math:`y = x W + b`.  x (B, I), W (I, O), b (O,) -> y (B, O).

    Paper eqs. 3, 5, 6, 7 (and the inside of eqs. 1, 4, 9); docs/derivations/linear.md.
    """
    y = x @ W + b                       # (B, O)
    return y, (x, W)


def linear_backward(dy, cache):
    """Gradients of the affine map.  dy (B, O) -> dx (B, I), dW (I, O), db (O,).

    Backward of paper eqs. 3, 5, 6, 7 (inside eqs. 1, 4, 9 too); docs/derivations/linear.md.

    .. math:: dx = dy W^T, \\quad dW = x^T dy, \\quad db = \\sum_b dy_b
    """
    x, W = cache
    dx = dy @ W.T                       # (B, I)
    dW = x.T @ dy                       # (I, O)
    db = dy.sum(axis=0)                 # (O,)
    return dx, dW, db


def leaky_relu_forward(x, slope=LEAKY_SLOPE):
    """:math:`y = x` for x > 0, :math:`y = a x` otherwise (a = 0 is the plain ReLU).  x (B, O).

    Paper eq. 2 with a slope a below 0; docs/derivations/relu.md.
    """
    y = np.where(x > 0, x, slope * x)   # (B, O)
    return y, (x, slope)


def leaky_relu_backward(dy, cache):
    """:math:`dx = dy` where x > 0, :math:`a\\,dy` elsewhere (the subgradient at 0 is a).  dy (B, O).

    Backward of paper eq. 2 with a slope a below 0; docs/derivations/relu.md.
    """
    x, slope = cache
    return np.where(x > 0, dy, slope * dy)  # (B, O)


def relu_forward(x):
    """:math:`y = \\max(x, 0)`.  x (B, O) -> y (B, O).

    The ReLU of paper eq. 2; docs/derivations/relu.md.
    """
    return leaky_relu_forward(x, 0.0)


def relu_backward(dy, cache):
    """:math:`dx = dy \\cdot [x > 0]`.  dy (B, O) -> dx (B, O).

    Backward of the ReLU of paper eq. 2; docs/derivations/relu.md.
    """
    return leaky_relu_backward(dy, cache)


def linear_act_forward(x, W, b, slope, out=None, products=None):
    """Fused ``act(x W + b)`` with activation slope ``slope`` (0 ReLU, 0.01 leaky, None linear).

    Paper eqs. 1 and 4 (and 9) with an activation, eqs. 3, 5, 6, 7 without;
    docs/derivations/linear.md and relu.md.

    The product goes to BLAS (into ``out`` if given, shape (B, O)); bias and activation are
    one Numba pass in place. Returns y (B, O) and the cache ``(x, W, y, slope)``: the output
    alone tells where the unit was active, since y > 0 exactly where x W + b > 0.

    ``products``: None (NumPy's matmul), or the training loop's two-thread schedule
    (:class:`npvae.train.offload.Offload`), which computes the same product into ``out``.
    """
    y = np.matmul(x, W, out=out) if products is None else products.forward(x, W, out)   # (B, O)
    if slope is None:
        y += b
    else:
        kernels.bias_act_forward(y, b, slope)
    return y, (x, W, y, slope)


def linear_act_backward(dy, cache, dW, db, need_dx=True, dx_out=None, products=None):
    """Backward of :func:`linear_act_forward`, writing dW (I, O) and db (O,) in place.

    Paper eqs. 1 and 4 (and 9) with an activation, eqs. 3, 5, 6, 7 without;
    docs/derivations/linear.md and relu.md.

    ``dy`` (B, O) is overwritten with the pre-activation gradient; it may be a transposed
    view (F-ordered, what this function returns for a transposed ``dx_out``). Returns dx (B, I),
    or None when ``need_dx`` is False (the first layer: the data need no gradient).

    A ``dx_out`` given as the transpose of a C-ordered (I, B) buffer gets the same product
    formed as :math:`dx^T = W\\,dy^T`: for the output layer (I = 703, O = 1000 at B = 64) BLAS
    runs that form faster than :math:`dy\\,W^T` (benchmarks/README.md).

    ``products``: None, or the training loop's two-thread schedule
    (:class:`npvae.train.offload.Offload`): it forms dx and dW, each thread the part of the
    layer it owns, and then updates the layer's W and b with Adam.
    """
    x, W, y, slope = cache
    if slope is None:
        np.sum(dy, axis=0, out=db)
    else:
        kernels.act_backward_bias(dy, y, slope, db)
    if products is not None:
        return products.backward(x.T, dy, W, dW, dx_out, need_dx)     # (B, I) or None
    np.matmul(x.T, dy, out=dW)                                  # (I, O)
    return _input_grad(dy, W, dx_out) if need_dx else None     # (B, I)


def input_grad_operands(dy, W, dx):
    """(A, B, C) such that C = A B writes dx = dy W^T (B, I) into ``dx``: formed transposed,
    dx^T = W dy^T, when dx is the transposed view of a C-ordered (I, B) buffer (the faster form
    for the output layer, see :func:`linear_act_backward`), else as dy W^T."""
    if dx.T.flags.c_contiguous and not dx.flags.c_contiguous:
        return W, dy.T, dx.T                # (I, B) = dx^T, written through the transposed view
    return dy, W.T, dx                      # (B, I)


def _input_grad(dy, W, dx_out):
    """dx = dy W^T (B, I), into ``dx_out`` if given (see :func:`input_grad_operands`)."""
    if dx_out is None:
        return np.matmul(dy, W.T)           # (B, I)
    a, b, c = input_grad_operands(dy, W, dx_out)
    np.matmul(a, b, out=c)
    return dx_out                           # (B, I), F-ordered when formed transposed
