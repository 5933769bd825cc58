"""How thin a skeleton is: leftover 2x2 blocks and pixels thinning could still remove."""

from __future__ import annotations

from ..validate import as_binary


def full_blocks(skel) -> int:
    """Number of 2x2 (2D) / 2x2x2 (3D) windows whose pixels are all foreground.

    Windows overlap (a 3x3 square holds four). A one-pixel-thin skeleton has
    none.
    """
    from ..core.blocks import full_block_windows

    s = as_binary(skel, name="skeleton")
    if min(s.shape) < 2:
        return 0
    return int(full_block_windows(s).sum())


def thinness(skel) -> dict:
    """Thinness of a skeleton.

    Parameters
    ----------
    skel : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    stats : dict of int
        ``full_blocks``: count of all-foreground 2x2 / 2x2x2 windows
        (:func:`full_blocks`); ``removable``: foreground pixels that are
        simple (deleting one keeps the topology; 8/4 in 2D, 26/6 in 3D) and
        not curve end points, i.e. what one more thinning step could still
        remove (:func:`skelkit.core.simple.removable_points`). Both are 0 for
        an ideally thin skeleton.
    """
    from ..core.simple import removable_points

    s = as_binary(skel, name="skeleton")
    return {"full_blocks": full_blocks(s), "removable": int(removable_points(s).sum())}
