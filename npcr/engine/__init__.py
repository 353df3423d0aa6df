"""pytorch-ignite engines: training and rendering."""
from .render import render_views
from .trainer import run_training

__all__ = ["run_training", "render_views"]
