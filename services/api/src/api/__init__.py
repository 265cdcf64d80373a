"""Mirage api service: the control plane."""
