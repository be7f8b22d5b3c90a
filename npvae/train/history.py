"""The training history: one dict per epoch, and the one rule that picks the best epoch.

A record has ``epoch``, ``train_<term>`` for each loss term, ``val_<term>`` when a validation
set was given, ``lr`` and ``seconds``. The objective of an epoch is its validation total, or
its training total without a validation set; the best epoch is the one with the lowest
objective (NaN epochs never win). Training keeps that epoch's weights.
"""
import math

__all__ = ["epoch_objective", "best_record"]


def epoch_objective(record):
    """The number that drives the schedule and picks the best epoch: val_total, else train_total."""
    return record.get("val_total", record.get("train_total", math.nan))


def best_record(history):
    """The record of the best epoch (lowest finite objective; the first on ties); {} if none."""
    best, best_value = {}, math.inf
    for record in history:
        value = epoch_objective(record)
        if value < best_value:            # False for NaN
            best, best_value = record, value
    return best
