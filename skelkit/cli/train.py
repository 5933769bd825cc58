"""`skelkit train MODEL`: training commands, one module per model."""

import importlib

import click

MODELS = {"skelite": "skelkit.cli.train_skelite", "unet": "skelkit.cli.train_unet"}


class _TrainGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(MODELS)

    def get_command(self, ctx, name):
        if name not in MODELS:
            return None
        return importlib.import_module(MODELS[name]).command


@click.group(cls=_TrainGroup)
def command():
    """Train a model (skelite, unet) with the project's own data and code."""
