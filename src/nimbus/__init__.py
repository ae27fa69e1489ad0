"""Nimbus: an AWS-compatible cloud that runs on one machine."""

__version__ = "0.1.0"
