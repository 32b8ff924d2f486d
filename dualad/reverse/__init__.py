"""Reverse mode: the Wengert list (Tape) and the Variable value type."""

from .tape import Tape, default_tape, no_grad
from .variable import Variable

__all__ = ["Tape", "Variable", "default_tape", "no_grad"]
