"""Byte storage for object bodies and other large values."""

from .store import BlobStore, BlobWrite

__all__ = ["BlobStore", "BlobWrite"]
