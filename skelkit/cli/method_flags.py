"""Command-line flags built from the method table: one flag per method option, shared where names agree."""

from __future__ import annotations

import click

from .._methods import METHODS, Method, Option, get_method
from ..errors import SkelkitError


def _methods_with(name: str) -> list[str]:
    return [m.name for m in METHODS.values() if name in m.option_names]


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _click_type(o: Option):
    if o.type == "int":
        return click.IntRange(min=o.min, max=o.max)
    if o.type == "float":
        return click.FloatRange(min=o.min, max=o.max)
    if o.type == "choice":
        return click.Choice(list(o.choices))
    return str


def option_flags() -> list[click.Option]:
    """A click option per method option offered on the command line (``Option.cli``).

    Options of several methods with the same name share one flag. Flags are
    ``None`` when not given, so only what the user typed reaches the method.
    """
    seen: dict[str, Option] = {}
    for m in METHODS.values():
        for o in m.options:
            if o.cli and o.name != m.iter_option and o.name not in seen:
                seen[o.name] = o
    flags = []
    for name, o in seen.items():
        help_ = f"{', '.join(_methods_with(name))}: {o.help}"
        if o.type == "bool":
            decl = flag_name(name) if o.default is False else (
                f"--no-{name.replace('_', '-')}" if o.default is True else f"{flag_name(name)}/--no-{name.replace('_', '-')}")
            value = {"flag_value": o.default is not True} if o.default in (True, False) else {}
            flags.append(click.Option([decl, name], is_flag=o.default in (True, False), default=None, help=help_, **value))
        else:
            flags.append(click.Option([flag_name(name), name], type=_click_type(o), default=None, help=help_))
    return flags


def method_help() -> str:
    """One line per method for ``--help``."""
    return "\n".join(f"{m.name}: {m.summary}." for m in METHODS.values())


def method_options(method: str, flags: dict, max_iter=None) -> dict:
    """Options for ``skelkit.skeletonize`` from the flags that were given.

    ``--max-iter`` becomes the method's iteration option (``max_num_iter``,
    ``num_iter``, ...). Raises SkelkitError for an unknown method or a flag
    the method does not take.
    """
    m: Method = get_method(method)
    kw = {}
    for name, value in flags.items():
        if value is None:
            continue
        if name not in m.option_names:
            raise SkelkitError(f"{flag_name(name)} is only for method {' or '.join(_methods_with(name))}, not {method!r}")
        kw[name] = value
    if max_iter is not None:
        if m.iter_option is None:
            raise SkelkitError(f"method {method!r} has no iteration limit; drop --max-iter")
        kw[m.iter_option] = max_iter
    return kw
