"""The ``nerkit`` command line: wiring only, one table. Each command is a function in its own
module; this table names it and registers it, in the order ``nerkit --help`` lists them."""

from __future__ import annotations

import sys

from . import (
    convert,
    evaluate,
    export,
    info,
    plot,
    predict,
    pretrain,
    registry,
    score,
    serve,
    train,
    vectors,
)
from . import debug_commands as debug
from . import ensemble as ensemble_cmd
from . import sweep as sweep_cmd
from . import visualize as visualize_cmd
from .common import OVERRIDES, app, debug_app

app.command(context_settings=OVERRIDES)(train.train)
app.command(context_settings=OVERRIDES)(pretrain.pretrain)
app.command(context_settings=OVERRIDES)(vectors.vectors)
app.command(context_settings=OVERRIDES)(sweep_cmd.sweep)
app.command()(ensemble_cmd.ensemble)
app.command()(evaluate.evaluate)
app.command()(predict.predict)
app.command()(serve.serve)
app.command()(convert.convert)
app.command()(export.export)
app.command("score")(score.score_cmd)
debug_app.command("config", context_settings=OVERRIDES)(debug.debug_config)
debug_app.command("data", context_settings=OVERRIDES)(debug.debug_data)
debug_app.command("vectors", context_settings=OVERRIDES)(debug.debug_vectors)
app.command("registry")(registry.registry_cmd)
app.command()(visualize_cmd.visualize)
app.command()(plot.plot)
app.command()(info.info)

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
