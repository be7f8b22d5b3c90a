"""Reference implementations shared by the tests (never by the package): slow and obvious."""
import numpy as np


def textbook_adam(P, G, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba (2015), Algorithm 1, with explicit bias correction, on a dict of arrays."""
    state["t"] += 1
    t = state["t"]
    for k in P:
        state["m"][k] = beta1 * state["m"][k] + (1 - beta1) * G[k]
        state["v"][k] = beta2 * state["v"][k] + (1 - beta2) * G[k] ** 2
        m_hat = state["m"][k] / (1 - beta1 ** t)
        v_hat = state["v"][k] / (1 - beta2 ** t)
        P[k] = P[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
