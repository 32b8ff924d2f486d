"""Forward mode: the Dual value type."""

from .dual import Dual, default_tag

__all__ = ["Dual", "default_tag"]
