"""Plant a bad gradient entry in a training step, with or without the loop's helper thread.

Without it, ``loss_and_grads`` returns the gradients and Adam reads them afterwards: the entry
is written into the returned gradients. With it (``products``, npvae.train.offload), Adam runs
inside ``loss_and_grads``: the entry is written just before the layer's update is handed over.
"""


def poisoned(inner, at_call, key, index, value):
    """``inner`` (a ``loss_and_grads``, bound or taking the model first) that writes
    ``grads[key][index] = value`` in its call number ``at_call``. ``.calls`` counts the calls."""
    calls = []

    def wrapped(*args, products=None, **kwargs):
        calls.append(1)
        hit = len(calls) == at_call
        grads = kwargs.get("grads") or next(a for a in args if isinstance(a, dict))
        if hit and products is not None:
            products.update = _planting(products.update, grads, key, index, value)
        try:
            terms, grads = inner(*args, products=products, **kwargs)
        finally:
            if products is not None:
                products.__dict__.pop("update", None)
        if hit and products is None:
            grads[key][index] = value
        return terms, grads

    wrapped.calls = calls
    return wrapped


def _planting(update, grads, key, index, value):
    """``update`` that first writes the entry when it is handed the layer that ``key`` belongs to."""
    layer_dW = grads[key.rsplit(".", 1)[0] + ".W"]

    def planted(dW, last=False):
        if dW is layer_dW:
            grads[key][index] = value
        return update(dW, last)
    return planted
