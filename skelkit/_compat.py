"""Deprecated keyword names, kept for one release with a warning."""

from __future__ import annotations

import functools
import warnings

from .errors import SkelkitError


def warn_renamed(old: str, new: str, where: str, stacklevel: int = 3) -> None:
    """Tell the caller that keyword ``old`` of ``where`` is now ``new``."""
    warnings.warn(f"{where}: '{old}' is deprecated, use '{new}' (the old name goes in the next release)",
                  FutureWarning, stacklevel=stacklevel)


def take_renamed(kwargs: dict, renames: dict, where: str, stacklevel: int = 4) -> dict:
    """``kwargs`` with deprecated keys (``renames``: old -> new) moved to their new names, warning once each."""
    out = dict(kwargs)
    for old, new in renames.items():
        if old in out:
            if new in out:
                raise SkelkitError(f"{where}: pass '{new}' only (its deprecated name '{old}' was given too)")
            warn_renamed(old, new, where, stacklevel)
            out[new] = out.pop(old)
    return out


def renamed(**renames):
    """Decorator: accept deprecated keyword names (``old="new"``) with a :class:`FutureWarning`.

    Examples
    --------
    >>> import warnings
    >>> @renamed(gt="ref")
    ... def score(pred, ref):
    ...     return pred - ref
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     score(3, gt=1), len(w)
    (2, 1)
    """

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            if renames.keys() & kwargs.keys():
                kwargs = take_renamed(kwargs, renames, fn.__qualname__)
            return fn(*args, **kwargs)

        return inner

    return wrap


def renamed_attribute(module_name: str, name: str, old_names: dict):
    """Module ``__getattr__`` body: an old public name (``old_names``: old -> new) with a warning."""
    import sys

    if name in old_names:
        warnings.warn(f"{module_name}.{name} is deprecated, use {old_names[name]} (the old name goes in the next "
                      "release)", FutureWarning, stacklevel=3)
        return getattr(sys.modules[module_name], old_names[name])
    raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
