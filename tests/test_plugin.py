"""A third-party package adds a decoder through the ``nerkit_decoders`` entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import QUICKSTART, ROOT, cli_args, plugin_site

PLUGIN = textwrap.dedent(
    '''
    """A demo plugin: the linear head with label smoothing."""
    import torch.nn.functional as F
    from nerkit.models.base import DecoderFactory
    from nerkit.models.decoders.linear import IGNORE, LinearDecoder
    from nerkit.registry import registry


    class SmoothedLinearDecoder(LinearDecoder):
        def __init__(self, scheme, input_dim, dropout, smoothing):
            super().__init__(scheme, input_dim, dropout, "strict")
            self.smoothing = smoothing

        def loss(self, hidden, mask, targets):
            gold = targets["tags"].to(hidden.device)
            gold = F.pad(gold, (0, hidden.shape[1] - gold.shape[2]), value=IGNORE)
            gold = gold.masked_fill(~mask[:, None, :], IGNORE)
            logits = self.logits(hidden).clamp(min=-1e4)
            return F.cross_entropy(
                logits.reshape(-1, self.max_tags), gold.reshape(-1),
                ignore_index=IGNORE, label_smoothing=self.smoothing,
            )


    def smoothed_decoder(smoothing: float = 0.1, dropout: float = 0.1, labels=None):
        """Linear nested head trained with label smoothing (labels: learned by nerkit train if left out)."""
        scheme = registry.get("label_schemes", "nerkit.NestedBIO.v1")(labels=labels)
        build = lambda input_dim: SmoothedLinearDecoder(scheme, input_dim, dropout, smoothing)
        return DecoderFactory(build, scheme, None)  # labels: this block's own argument
    '''
)


def make_plugin(root: Path) -> Path:
    entry_points = (
        "[nerkit_decoders]\ndemo.SmoothedLinear.v1 = nerkit_demo_plugin:smoothed_decoder\n"
    )
    return plugin_site(root, "nerkit_demo_plugin", PLUGIN, "nerkit-demo-plugin", entry_points)


def run(args, site: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-m", "nerkit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plugin_listed_and_trained(tmp_path: Path):
    site = make_plugin(tmp_path)
    listed = run(["registry", "decoders"], site)
    assert listed.returncode == 0, listed.stderr
    assert "demo.SmoothedLinear.v1  [nerkit_demo_plugin (plugin)]" in listed.stdout
    assert "nerkit.LinearDecoder.v1" in listed.stdout

    overrides = cli_args(
        **{"model.decoder": {"@decoders": "demo.SmoothedLinear.v1", "smoothing": 0.05}}
    )
    out = tmp_path / "run"
    trained = run(["train", str(QUICKSTART), "--output", str(out), *overrides], site)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    meta = json.loads((out / "model-best" / "meta.json").read_text())
    assert meta["components"]["decoders:demo.SmoothedLinear.v1"] == "nerkit-demo-plugin"
    # the labels the plugin's block leaves out were learned and recorded in its own block
    assert meta["labels_learned"] is True
    assert (
        f"labels = {json.dumps(meta['labels'])}" in (out / "model-best" / "config.cfg").read_text()
    )

    # Without the plugin on the path, loading names the component and its package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = f"import nerkit; nerkit.load({str(out / 'model-best')!r})"
    failed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert failed.returncode != 0
    assert "demo.SmoothedLinear.v1" in failed.stderr
    assert "nerkit-demo-plugin" in failed.stderr
