"""After the skeleton: its graph, a branch table in physical units, spur pruning and exports.

``analyze(skeleton, image=None, spacing=...)`` gives the graph (end points,
junctions, branches with their pixel paths) and per-branch length,
end-to-end distance, tortuosity, type and radius; ``prune`` removes short
spurs without changing topology; ``skelkit.analysis.export`` writes CSV,
GraphML and SWC.
"""

from .analyze import BRANCH_COLUMNS, BRANCH_TYPES, SkeletonAnalysis, analyze
from .graph import SkeletonGraph, skeleton_graph
from .prune import prune

__all__ = ["analyze", "prune", "skeleton_graph", "SkeletonAnalysis", "SkeletonGraph", "BRANCH_COLUMNS",
           "BRANCH_TYPES"]
