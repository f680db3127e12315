"""Delivering notifications in batches: claim (claim.py), send and record (batch.py), when to try again
(policy.py). Tasks call `delivery_batch_send`."""

from notifications.delivery.batch import BatchReport, Failure, delivery_batch_send

__all__ = ["BatchReport", "Failure", "delivery_batch_send"]
