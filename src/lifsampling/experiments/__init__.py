"""Experiments: one module per workflow or figure, composed from the library layers."""
