"""The docs cannot drift: the component reference is the registries' output,
every relative link resolves, and the plugin example of docs/plugins.md works."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
from typer.testing import CliRunner

from nerkit.cli.main import app

from .conftest import CORPUS, ROOT, TINY_BERT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

DOCS = ROOT / "docs"
# Markdown files whose links are checked: the docs, and the READMEs that link into them.
LINKED = sorted(DOCS.glob("**/*.md")) + [
    ROOT / "README.md",
    ROOT / "projects" / "cmeee" / "README.md",
]
REGENERATE = "python -m nerkit registry --markdown > docs/components.md"


def test_components_md_is_the_registry_output():
    result = CliRunner().invoke(app, ["registry", "--markdown"])
    assert result.exit_code == 0, result.output
    current = (DOCS / "components.md").read_text(encoding="utf8")
    if current != result.output:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(True),
                    result.output.splitlines(True),
                    "docs/components.md",
                    "nerkit registry --markdown",
                )
            )[:40]
        )
        pytest.fail(
            f"docs/components.md is out of date. Regenerate it with\n    {REGENERATE}\n\n{diff}"
        )


# ---------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _links(text: str) -> List[str]:
    text = FENCE.sub("", text)  # links inside code blocks are not links
    text = re.sub(r"`[^`\n]*`", "", text)
    return [a or b for a, b in LINK.findall(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(
        r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()
    ).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf8"))
    out: Set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        base, n = slug(heading), 0
        while (base if n == 0 else f"{base}-{n}") in out:
            n += 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slug_matches_github():
    assert slug("The `[training]` section") == "the-training-section"
    assert slug("Without the training file") == "without-the-training-file"
    assert slug("Interpolation: `${section.key}`") == "interpolation-sectionkey"


@pytest.mark.parametrize("doc", LINKED, ids=[str(p.relative_to(ROOT)) for p in LINKED])
def test_relative_links_resolve(doc: Path):
    if not doc.exists():
        pytest.skip(f"{doc} does not exist")
    broken: List[str] = []
    for target in _links(doc.read_text(encoding="utf8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http(s):, mailto:, ...
        path_part, _, anchor = target.partition("#")
        dest = doc if not path_part else (doc.parent / path_part).resolve()
        if not dest.exists():
            broken.append(f"{target}: {dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, f"{doc.relative_to(ROOT)} has broken links:\n  " + "\n  ".join(broken)


def test_docs_index_lists_every_guide():
    index = (DOCS / "index.md").read_text(encoding="utf8")
    linked = {t.partition("#")[0] for t in _links(index)}
    missing = [
        p.name for p in sorted(DOCS.glob("*.md")) if p.name != "index.md" and p.name not in linked
    ]
    assert not missing, f"docs/index.md does not link {missing}"


# ---------------------------------------------------------------------------
# The plugin package of docs/plugins.md, extracted and run
# ---------------------------------------------------------------------------


def _files_in(doc: Path) -> Dict[str, str]:
    """Code blocks whose first line is a comment naming a file: {path: content}."""
    files = {}
    for lang, body in re.findall(
        r"^```(\w+)\n(.*?)^```", doc.read_text(encoding="utf8"), re.MULTILINE | re.DOTALL
    ):
        first, _, rest = body.partition("\n")
        m = re.fullmatch(r"#\s*(\S+\.(?:py|toml|cfg))", first.strip())
        if m:
            files[m.group(1)] = rest if lang in ("toml", "ini") else body
    return files


def _install(files: Dict[str, str], root: Path) -> Tuple[Path, str]:
    """Write the package's source and a dist-info with its entry points (what pip would)."""
    pyproject = tomllib.loads(files["pyproject.toml"])
    project = pyproject["project"]
    src = root / "src"
    for rel, content in files.items():
        if rel.startswith("src/"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content, encoding="utf8")
    module = next(p.name for p in src.iterdir() if p.is_dir())
    dist = src / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf8",
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {ref}" for name, ref in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf8")
    (dist / "top_level.txt").write_text(module + "\n", encoding="utf8")
    (dist / "RECORD").write_text("", encoding="utf8")
    return src, project["name"]


CHECK = textwrap.dedent(
    """
    import json, sys
    import torch
    from nerkit.config import load_config
    from nerkit.models.decoders.linear import LinearDecoder
    from nerkit.registry import registry
    from nerkit.training.loop import train
    from nerkit.types import Entity

    cfg_path, out, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    cfg = load_config(cfg_path, overrides, interpolate=True)
    name = cfg["model"]["decoder"]["@decoders"]
    factory = registry.get("decoders", name)
    scheme = registry.get("label_schemes", "nerkit.NestedBIO.v1")(labels=["dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"])

    # gamma = 0 is plain cross-entropy: the same loss as nerkit's linear head
    torch.manual_seed(0)
    dec = factory(scheme, gamma=0.0, dropout=0.0)(8)
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    gold = [[Entity(0, 2, "sym"), Entity(0, 1, "bod")], [Entity(2, 2, "dis")]]
    targets = dec.make_targets(gold, [5, 3])
    focal = dec.loss(hidden, mask, targets)
    assert torch.allclose(focal, LinearDecoder.loss(dec, hidden, mask, targets)), focal
    focal.backward()
    assert hidden.grad is not None and torch.isfinite(hidden.grad).all()
    # gamma > 0 down-weights: never more than cross-entropy
    dec.gamma = 2.0
    assert dec.loss(hidden, mask, targets) < focal

    result = train(load_config(cfg_path, overrides), out)
    meta = json.load(open(out + "/model-best/meta.json"))
    print(json.dumps({"steps": result.steps, "meta": meta}))
    """
)


def test_plugin_example_installs_registers_and_trains(tmp_path: Path):
    files = _files_in(DOCS / "plugins.md")
    assert {"pyproject.toml", "src/nerkit_focal/__init__.py", "configs/bert-focal.cfg"} <= set(
        files
    )
    site, dist_name = _install(files, tmp_path / "pkg")
    config = tmp_path / "bert-focal.cfg"
    config.write_text(
        files["configs/bert-focal.cfg"].replace('"base.cfg"', f'"{ROOT / "configs" / "base.cfg"}"'),
        encoding="utf8",
    )
    env = dict(os.environ, PYTHONPATH=str(site), NERKIT_CACHE=str(tmp_path / "cache"))

    listed = subprocess.run(
        [sys.executable, "-m", "nerkit", "registry", "decoders"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    assert (
        "acme.FocalLinearDecoder.v1  [nerkit_focal (plugin)]  (scheme, gamma=2.0, dropout=0.1)"
        in listed.stdout
    )

    overrides = {
        "paths.train": str(CORPUS / "train.json"),
        "paths.dev": str(CORPUS / "dev.json"),
        "initialize.model.encoder.name_or_path": str(TINY_BERT),
        "initialize.model.encoder.pretrained": False,
        "corpora.max_train_records": 12,
        "corpora.max_dev_records": 6,
        "training.max_steps": 2,
        "training.batch_size": 6,
        "training.logger": {"@loggers": "nerkit.ConsoleLogger.v1", "progress_bar": False},
        "system.device": "cpu",
        "system.num_threads": 1,
    }
    run = subprocess.run(
        [sys.executable, "-c", CHECK, str(config), str(tmp_path / "run"), json.dumps(overrides)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["steps"] == 2
    assert report["meta"]["components"]["decoders:acme.FocalLinearDecoder.v1"] == dist_name, report[
        "meta"
    ]


def test_settings_tables_list_every_setting():
    """docs/training.md and docs/configs.md document every key of the settings sections."""
    from nerkit.config import CorporaSettings, SystemSettings, TrainingSettings

    training = (DOCS / "training.md").read_text(encoding="utf8")
    components = {"optimizer", "schedule", "adversarial", "logger"}
    missing = [
        f
        for f in TrainingSettings.model_fields
        if f not in components and f"| `{f}` |" not in training
    ]
    assert not missing, f"docs/training.md's [training] table lacks {missing}"
    configs = (DOCS / "configs.md").read_text(encoding="utf8")
    for schema in (SystemSettings, CorporaSettings):
        missing = [f for f in schema.model_fields if f"`{f}`" not in configs]
        assert not missing, f"docs/configs.md's settings table lacks {missing}"


def test_quickstart_time_and_f1_are_the_same_everywhere():
    """Issue 13 (4): the quickstart's measured CPU time and dev F1 are stated, and agree, in the
    config, README, projects/quickstart/README.md and docs/results.md; the config runs one thread
    (with two, the tiny model's steps mostly spin: 373 s of CPU before, 47 s now)."""
    from nerkit.config import load_config, settings

    cfg = load_config(ROOT / "configs" / "quickstart.cfg")
    assert settings(cfg, "system").num_threads == 1
    assert settings(cfg, "training").max_epochs == 40
    files = [
        ROOT / "configs" / "quickstart.cfg",
        ROOT / "README.md",
        ROOT / "projects" / "quickstart" / "README.md",
        DOCS / "results.md",
    ]
    for path in files:
        text = path.read_text(encoding="utf8")
        assert "64.17" in text and "36 s" in text, (
            f"{path.name}: the quickstart's F1 64.17 and 36 s of CPU"
        )
        assert "a few minutes" not in text and "under a minute" not in text, path.name
    assert "22.92" not in (DOCS / "results.md").read_text(encoding="utf8")  # the stale row is gone


def test_main_readme_links_the_guides():
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    assert "(docs/getting-started.md)" in readme and "(projects/cmeee/README.md)" in readme
    assert "end inclusive" in readme
