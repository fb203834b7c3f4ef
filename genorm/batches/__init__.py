"""Batches for training: window starts and gathers (``windows``), stateful walks (``walks``) and the
``tf.data`` stream (``dataset``).
"""
