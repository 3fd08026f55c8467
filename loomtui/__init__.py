"""loomtui: live token-level exploration of language models in the terminal."""

__version__ = "0.1.0"
