"""skelkit: thin, connected skeletons of binary images and volumes."""

from ._methods import Method, Option, get_method, register_method, unregister_method
from .api import available_methods, skeletonize, unavailable_reason
from .errors import SkelkitError

__version__ = "0.1.0"
__all__ = ["skeletonize", "available_methods", "unavailable_reason", "get_method", "register_method", "unregister_method", "Method",
           "Option", "SkelkitError", "__version__"]
