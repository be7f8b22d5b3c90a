"""Plant a bad gradient entry in a training step, with or without the loop's helper thread.

Without it, ``loss_and_grads`` returns the gradients and Adam reads them afterwards: the entry
is written into the returned gradients. With it (``products``, npvae.train.offload), each layer's
dW is formed and its Adam update run inside the layer's ``backward``, partly on the helper: a
bias entry is written just before that call (db is made before it), and a weight entry (i, j)
comes from a non-finite row i of the layer's input x, so that the whole row i of dW = x^T dy
is formed non-finite by the thread that owns that row.
"""


def poisoned(inner, at_call, key, index, value):
    """``inner`` (a ``loss_and_grads``, bound or taking the model first) that plants ``value`` at
    ``grads[key][index]`` in its call number ``at_call``. ``.calls`` counts the calls."""
    calls = []

    def wrapped(*args, products=None, **kwargs):
        calls.append(1)
        hit = len(calls) == at_call
        grads = kwargs.get("grads") or next(a for a in args if isinstance(a, dict))
        if hit and products is not None:
            products.backward = _planting(products.backward, grads, key, index, value)
        try:
            terms, grads = inner(*args, products=products, **kwargs)
        finally:
            if products is not None:
                products.__dict__.pop("backward", None)
        if hit and products is None:
            grads[key][index] = value
        return terms, grads

    wrapped.calls = calls
    return wrapped


def _planting(backward, grads, key, index, value):
    """``backward`` that plants the entry when it is handed the layer that ``key`` belongs to."""
    layer_dW = grads[key.rsplit(".", 1)[0] + ".W"]

    def planted(xt, dy, W, dW, dx_out=None, need_dx=True):
        if dW is layer_dW:
            if key.endswith(".b"):
                grads[key][index] = value
            else:
                xt = xt.copy()
                xt[index[0]] = value               # row i of dW = x^T dy
        return backward(xt, dy, W, dW, dx_out, need_dx)
    return planted
