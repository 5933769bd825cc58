"""Skeleton and segmentation metrics: overlap, distance, topology, thinness, graph.

All functions take numpy arrays (2D ``(H, W)`` or 3D ``(D, H, W)``, bool or
binary) and return Python numbers.
"""

from .distance import directed_distances, hausdorff, hd95
from .graph import neighbour_count, skeleton_graph_stats
from .overlap import cldice, dice, pooled_f1, precision_recall_f1, skelneton_score
from .report import evaluate_pair
from .thinness import full_blocks, thinness
from .topology import betti_errors, betti_numbers, component_errors, split_gaps, stray_components

__all__ = [
    "betti_numbers", "betti_errors", "precision_recall_f1", "pooled_f1", "skelneton_score", "dice", "cldice",
    "hausdorff", "hd95", "directed_distances", "thinness", "full_blocks", "skeleton_graph_stats",
    "neighbour_count", "evaluate_pair", "split_gaps", "stray_components", "component_errors",
]
