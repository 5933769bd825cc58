"""skelkit: thin, connected skeletons of binary images and volumes."""

from .api import available_methods, skeletonize
from .errors import SkelkitError

__version__ = "0.1.0"
__all__ = ["skeletonize", "available_methods", "SkelkitError", "__version__"]
