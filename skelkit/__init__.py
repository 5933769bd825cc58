"""skelkit: thin, connected skeletons of binary images and volumes."""

from ._methods import Method, Option, get_method, register_method, unregister_method
from .api import available_methods, skeletonize, skeletonize_labels, unavailable_reason
from .errors import SkelkitError

__version__ = "0.1.0"
__all__ = ["skeletonize", "skeletonize_labels", "analyze", "prune", "available_methods", "unavailable_reason", "get_method", "register_method", "unregister_method", "Method",
           "Option", "SkelkitError", "__version__"]


def __getattr__(name):
    if name in ("analyze", "prune"):  # imported on first use: `import skelkit` stays light
        from . import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'skelkit' has no attribute {name!r}")
