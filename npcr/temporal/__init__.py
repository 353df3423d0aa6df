"""Temporal refinement (``tools/refine.py``): a small net that blends each rendered frame with
the earlier refined frames reprojected into its view, so that a camera path renders without
flicker.

- ``warp``: earlier frames reprojected into the current view by depth;
- ``net``: the refine net (``TemporalRefiner``, ``build_refiner``);
- ``stream``: refining a path in order in constant memory, and the flicker it leaves;
- ``sequences``: short camera sequences approaching the training photos, to train on;
- ``train``: training the net on a frozen renderer (ignite engine, checkpoints, resume);
- ``render``: refining a camera path, live or from a render's cache.

Camera-pose refinement during training is another thing: npcr.modeling.poses.
"""
