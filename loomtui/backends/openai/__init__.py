"""The OpenAI-compatible API backend, one job per module.

- :mod:`.compat`: :class:`APIBackend` (complete, score, next distributions) and
  :func:`open_api_backend`, which detects the server and builds one from options and a
  resolved config profile;
- :mod:`.http`: the HTTP client (retries, one-line errors, the key only in headers);
- :mod:`.dialects`: the servers' logprob shapes turned into tokens keyed by their true bytes;
- :mod:`.caps`: what a server can do, by family, and where the key comes from.
"""

from .caps import DEFAULT_KEY_ENV, Capabilities
from .compat import APIBackend, open_api_backend

__all__ = ["DEFAULT_KEY_ENV", "APIBackend", "Capabilities", "open_api_backend"]
