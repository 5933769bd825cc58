"""The method table: the one definition of every skeletonization method.

Everything that needs to know what a method is reads this table: the
dispatcher (:func:`skelkit.skeletonize`) validates options against it, the
command line builds ``--method`` and the per-method flags from it, chunked runs
take each method's reach from it, the clDice losses take their skeletonizers
from it, and the demo and the benchmarks list its rows. Functions are named by
import strings (``"module:attribute"``), so reading the table imports nothing
heavy.

A new method is one function plus one row::

    import skelkit

    def peel_once(mask, keep_ends=True):
        ...                                   # bool ndarray in, bool ndarray out

    skelkit.register_method(skelkit.Method(
        "peel", "what it does", numpy=peel_once, not_chunkable="reads the whole image",
        options=(skelkit.Option("keep_ends", "bool", True, "keep end points"),)))

(``tests/test_method_table.py`` does exactly this and finds the method in
the CLI, chunked runs, the clDice loss and the demo.)
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Callable

from ._compat import warn_renamed
from .errors import SkelkitError

OPTION_TYPES = ("bool", "int", "float", "choice", "path", "weights", "device")
#: Keywords the dispatcher and chunked runs pass themselves; no method option may take these names.
RESERVED = ("image", "method", "threshold", "origin")
GRADIENTS = ("exact", "straight-through", "none")
DOMAINS = ("any", "shapes")


@dataclass(frozen=True)
class Option:
    """One keyword option of a method.

    Attributes
    ----------
    name : str
        Keyword name (scikit-image's names where one exists, e.g. ``max_num_iter``).
    type : {"bool", "int", "float", "choice", "path", "weights", "device"}
        ``"weights"``: a shipped weights name, a file path or a loaded model;
        ``"device"``: a torch device or its name.
    default : object
        Used when the option is not given (``None`` where the method decides).
    help : str
        One line for ``--help`` and the docs.
    choices : tuple
        Allowed values of a ``"choice"`` option.
    min, max : float, optional
        Bounds of ``"int"`` / ``"float"`` options.
    aliases : tuple of str
        Deprecated names, accepted with a :class:`FutureWarning`.
    cli : bool
        Offered as a ``skelkit skeletonize`` flag.
    backends : tuple of str
        ``"numpy"`` and/or ``"torch"``: the inputs the option applies to.
    """

    name: str
    type: str
    default: object = None
    help: str = ""
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    aliases: tuple = ()
    cli: bool = True
    backends: tuple = ("numpy", "torch")

    def __post_init__(self):
        if self.type not in OPTION_TYPES:
            raise SkelkitError(f"option {self.name!r}: type must be one of {', '.join(OPTION_TYPES)}, got {self.type!r}")

    def check(self, value, where: str):
        """``value`` converted to the option's type, or a :class:`SkelkitError` naming the problem."""
        if value is None and self.default is None:
            return None
        bad = f"{where}: option {self.name!r} must be "
        if self.type == "bool":
            if type(value).__name__ not in ("bool", "bool_"):
                raise SkelkitError(bad + f"True or False, got {value!r}")
            return bool(value)
        if self.type in ("int", "float"):
            integral = isinstance(value, numbers.Integral) and type(value).__name__ not in ("bool", "bool_")
            real = integral or (isinstance(value, numbers.Real) and type(value).__name__ not in ("bool", "bool_"))
            if not (integral if self.type == "int" else real) or (self.type == "float" and not math.isfinite(value)):
                kind = "an integer" if self.type == "int" else "a finite number"
                raise SkelkitError(bad + f"{kind}{' or None' if self.default is None else ''}, got {value!r}")
            value = int(value) if self.type == "int" else float(value)
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise SkelkitError(bad + f"{_bounds(self.min, self.max)}, got {value!r}")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise SkelkitError(bad + f"one of {', '.join(map(repr, self.choices))}, got {value!r}")
            return value
        if self.type == "path" and not isinstance(value, (str, os.PathLike)):
            raise SkelkitError(bad + f"a file path, got {type(value).__name__}")
        return value  # weights / device: their loaders check them


def _bounds(lo, hi) -> str:
    if hi is None:
        return f">= {lo:g}"
    return f"<= {hi:g}" if lo is None else f"between {lo:g} and {hi:g}"


@dataclass(frozen=True)
class Method:
    """One row of the method table.

    Attributes
    ----------
    name : str
    summary : str
        One line for ``--help``, the demo and the docs.
    numpy : str or callable
        ``fn(mask, **options) -> skeleton``: bool ndarray (H, W) or (D, H, W)
        in, bool ndarray of the same shape out. Import string
        ``"module:attribute"`` or the function itself.
    torch : str or callable, optional
        ``fn(x, **options) -> tensor`` for (B, 1, H, W[, D]) tensors, same
        shape and device out. ``None``: each batch item goes through
        ``numpy`` and the gradient is straight-through to the kept pixels.
    dims : tuple of int
        Supported dimensionalities.
    options : tuple of Option
    iter_option : str, optional
        The option that bounds the number of iterations (the CLI's
        ``--max-iter``; chunked rounds set it for composable methods).
    gradient : {"exact", "straight-through", "none"}
        What gradient a tensor output carries.
    soft_output : bool
        Tensor outputs hold soft values in [0, 1] rather than 0/1.
    chunk : str or callable, optional
        ``fn(ndim, **options) -> dict`` giving the method's reach for chunked
        runs (keys ``reach``, and optionally ``composable``, ``iters``,
        ``origin``, ``even_origin``; see :mod:`skelkit.chunked.plans`), or
        raising :class:`SkelkitError` for options that cannot run chunk-wise.
    not_chunkable : str
        Why the method cannot run chunk-wise (when ``chunk`` is None).
    weights : dict, optional
        ``{ndim: shipped weights name}`` for learned methods.
    domain : {"any", "shapes"}
        ``"shapes"``: meant for 2D silhouettes at the SkelNetOn scale
        (256x256 frames); the benchmarks skip other inputs.
    proba : str or callable, optional
        ``fn(mask, **options) -> float32 ndarray``: per-pixel skeleton
        probability (the CLI's ``--prob``).
    variants : dict
        Named option presets shown side by side in the benchmarks, e.g.
        ``{"skelite+guard": {"guard": True}}``.
    loss_defaults : dict
        Defaults of :class:`skelkit.losses.ClDiceLoss`'s ``guard``, ``hybrid``
        and ``noise`` when this method is the skeletonizer (the variant that
        did best in the clDice experiment, docs/cldice.md).
    rejects_nan : bool
        ``torch`` raises :class:`SkelkitError` on NaN input itself, in a pass
        over the input it makes anyway, so ``skeletonize`` skips its own check
        (one pass over the tensor fewer).
    """

    name: str
    summary: str
    numpy: str | Callable
    torch: str | Callable | None = None
    dims: tuple = (2, 3)
    options: tuple = ()
    iter_option: str | None = None
    gradient: str = "straight-through"
    soft_output: bool = False
    chunk: str | Callable | None = None
    not_chunkable: str = ""
    weights: dict | None = None
    domain: str = "any"
    proba: str | Callable | None = None
    variants: dict = field(default_factory=dict)
    loss_defaults: dict = field(default_factory=dict)
    rejects_nan: bool = False

    def __post_init__(self):
        names = [o.name for o in self.options]
        clash = sorted((set(names) | {a for o in self.options for a in o.aliases}) & set(RESERVED))
        if clash:
            raise SkelkitError(f"method {self.name!r}: option name {clash[0]!r} is reserved for skelkit.skeletonize")
        if len(set(names)) != len(names):
            raise SkelkitError(f"method {self.name!r} lists an option twice")
        if self.iter_option is not None and self.iter_option not in names:
            raise SkelkitError(f"method {self.name!r}: iter_option {self.iter_option!r} is not one of its options")
        if self.gradient not in GRADIENTS or self.domain not in DOMAINS:
            raise SkelkitError(f"method {self.name!r}: bad gradient {self.gradient!r} or domain {self.domain!r}")
        if self.chunk is None and not self.not_chunkable:
            raise SkelkitError(f"method {self.name!r}: give chunk= or the reason it is not chunkable")
        if set(self.loss_defaults) - {"guard", "hybrid", "noise"}:
            raise SkelkitError(f"method {self.name!r}: loss_defaults takes guard, hybrid and noise only")

    # ------------------------------------------------------------- functions
    def function(self, role: str) -> Callable | None:
        """The callable behind ``role`` ("numpy", "torch", "chunk" or "proba"), imported on first use."""
        ref = getattr(self, role)
        return resolve(ref) if isinstance(ref, str) else ref

    # --------------------------------------------------------------- options
    @property
    def option_names(self) -> tuple:
        return tuple(o.name for o in self.options)

    def option(self, name: str) -> Option:
        for o in self.options:
            if o.name == name:
                return o
        raise KeyError(name)

    def bind(self, given: dict, backend: str = "numpy") -> dict:
        """All options of this method for one call: ``given`` checked, renamed and completed with defaults.

        Raises
        ------
        SkelkitError
            An option the method does not have (the message lists the valid
            ones), a value of the wrong type or range, or an option that does
            not apply to ``backend`` input.
        """
        where = f"method {self.name!r}"
        aliases = {a: o.name for o in self.options for a in o.aliases}
        out = {}
        for key, value in given.items():
            name = aliases.get(key, key)
            if name != key:
                warn_renamed(key, name, where, stacklevel=5)
            if name not in self.option_names:
                valid = ", ".join(self.option_names) or "none"
                raise SkelkitError(f"{where} has no option {key!r}; its options: {valid}")
            if name in out:
                raise SkelkitError(f"{where}: option {name!r} given twice (once by a deprecated name)")
            opt = self.option(name)
            if backend not in opt.backends:
                raise SkelkitError(f"{where}: option {name!r} applies to {' and '.join(opt.backends)} input only")
            out[name] = opt.check(value, where)
        return {o.name: out.get(o.name, o.default) for o in self.options if backend in o.backends}


# ----------------------------------------------------------------- the table
def _opt_weights() -> Option:
    return Option("weights", "weights", None, "weights file or shipped name (default: the shipped weights)")


METHODS: dict[str, Method] = {}


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add a row to the method table (every part of skelkit sees it at once)."""
    if not isinstance(method, Method):
        raise SkelkitError(f"register_method takes a skelkit.methods.Method, got {type(method).__name__}")
    if method.name in METHODS and not replace:
        raise SkelkitError(f"method {method.name!r} is already registered (pass replace=True)")
    METHODS[method.name] = method
    return method


def unregister_method(name: str) -> None:
    """Remove a row added by :func:`register_method`."""
    METHODS.pop(name, None)


def get_method(name: str) -> Method:
    """The row of method ``name``; a :class:`SkelkitError` listing the methods otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise SkelkitError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


def resolve(ref: str) -> Callable:
    """Import ``"package.module:attribute"``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_ITER_HELP = "stop after this many iterations (default: until nothing changes)"

register_method(Method(
    "exact",
    "topology-preserving parallel thinning by directions and subfields (8/4 in 2D, 26/6 in 3D), end points kept",
    numpy="skelkit.core.thinning:thin",
    torch="skelkit.core.thinning_torch:exact_torch",
    options=(
        Option("max_num_iter", "int", None, _ITER_HELP, min=0, aliases=("max_iter",), cli=False),
        Option("by_depth", "bool", False, "peel in depth order, two layers per stage (Skelite's teacher)"),
        Option("equivariant", "bool", False, "no subfields, so the skeleton moves with the image (slower)"),
    ),
    iter_option="max_num_iter",
    chunk="skelkit.core.thinning:chunk_reach",
    loss_defaults={"hybrid": True, "noise": 0.33},  # docs/cldice.md: b0 error 1.47 -> 0.74, Dice +0.002, no collapse
    rejects_nan=True,  # exact_torch: the kernel checks as it thresholds
))
register_method(Method(
    "skelite",
    "learned iterative thinning (Skelite, Reyes Vargas et al., IPMI 2025); guard=True keeps the topology",
    numpy="skelkit.models.skelite:skelite_numpy",
    torch="skelkit.models.skelite:skelite_torch",
    options=(
        Option("guard", "bool", False, "accept only topology-safe deletions (simple, not an end point)"),
        Option("num_iter", "int", None, "iterations (default: until the erosion level is empty)", min=0,
               aliases=("iters",), cli=False),
        _opt_weights(),
        Option("border", "choice", "background", "the outside of the image: background, or continue (crops)",
               choices=("background", "continue")),
        Option("sparse", "bool", None, "band by band (default) or the dense reference loop; same result", cli=False),
    ),
    iter_option="num_iter",
    chunk="skelkit.models.skelite:chunk_reach",
    weights={2: "skelite2d", 3: "skelite3d"},
    variants={"skelite+guard": {"guard": True}},
    loss_defaults={"hybrid": True, "noise": 0.33},  # docs/cldice.md: b0 error 1.47 -> 0.83, Dice +0.000, no collapse
))
register_method(Method(
    "unet",
    "SkelNetOn U-Net (Panichev & Voloshyna, CVPRW 2019): learned skeleton probability, thresholded",
    numpy="skelkit.models.unet:skeletonize_numpy",
    torch="skelkit.models.unet:skeletonize_torch",
    dims=(2,),
    options=(
        _opt_weights(),
        Option("prob_threshold", "float", None, "probability threshold (default: the one tuned with the weights)",
               min=0, max=1),
        Option("ensemble", "int", None, "use the first K ensemble members", min=1),
        Option("tta", "bool", False, "average over the 8 flips and rotations"),
        Option("resize", "choice", None, "pad to a multiple of 32, or fit the shape's box into the frame",
               choices=("pad", "bbox")),
        Option("thin", "bool", None, "thin the thresholded output (default: with resize='bbox')", cli=False),
        Option("break_blocks", "bool", True,
               "remove full 2x2 blocks, lowest probability first, keeping the topology (docs/unet.md)"),
        Option("device", "device", "cpu", "torch device for numpy input", cli=False, backends=("numpy",)),
    ),
    not_chunkable="the U-Net sees the whole shape frame at once",
    weights={2: "unet"},
    domain="shapes",
    proba="skelkit.models.unet:proba_numpy",
))
register_method(Method(
    "soft",
    "clDice soft skeleton (Shit et al., CVPR 2021): iterated min/max pooling, thresholded at 0.5 for numpy",
    numpy="skelkit.core.soft:soft_skeleton_numpy",
    torch="skelkit.core.soft:soft_skeleton_tensor",
    options=(Option("num_iter", "int", 10, "erosion levels (covers structures about 2 x num_iter wide)", min=0,
                    aliases=("iters",), cli=False),),
    iter_option="num_iter",
    gradient="exact",
    soft_output=True,
    chunk="skelkit.core.soft:chunk_reach",
))
register_method(Method(
    "skimage",
    "scikit-image skeletonize (Zhang-Suen in 2D, Lee in 3D), for comparison",
    numpy="skelkit.core.classic:skimage_skeleton",
    not_chunkable="its output at a pixel may depend on the whole image",
))
register_method(Method(
    "medial_axis",
    "scikit-image medial axis (2D, fixed tie-breaking), for comparison",
    numpy="skelkit.core.classic:medial_axis_skeleton",
    dims=(2,),
    not_chunkable="the medial axis depends on distances to the whole boundary",
))
