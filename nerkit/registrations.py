"""nerkit's built-in components: one line each, registered by ``populate()``.

Importing a nerkit module registers nothing. The consumers of the registry
(config validation and resolution, model loading, ``nerkit registry``) call
``populate()``, which imports the listed modules and registers each function
explicitly, as spaCy 3.8's ``spacy/registrations.py`` does. Components are
referenced by ``"module:function"`` strings, the way entry points reference
plugins, so this module sits in the core layer and imports no component.

To add a built-in component, write its builder (defaults in its signature,
docstring first line = summary) and add one line to ``BUILTINS`` under its
kind, then run ``python -m nerkit.registrations > tests/fixtures/registry.json``
(the snapshot test compares the registry with that file).
"""

from __future__ import annotations

import importlib
from typing import Dict

from .registry import registry

# kind -> versioned name -> "module:function"
BUILTINS: Dict[str, Dict[str, str]] = {
    "encoders": {
        "nerkit.TransformerEncoder.v1": "nerkit.models.encoders.transformer:transformer_encoder",
    },
    "segmenters": {
        "nerkit.PkusegSegmenter.v1": "nerkit.lexicon.pkuseg:pkuseg_segmenter",
        "nerkit.LexiconMatcher.v1": "nerkit.lexicon.matcher:lexicon_matcher",
        "nerkit.UnionSegmenter.v1": "nerkit.lexicon.union:union_segmenter",
    },
    "vectors": {
        "nerkit.Word2Vec.v1": "nerkit.lexicon.word2vec:word2vec",
    },
    "lexicons": {
        "nerkit.Lexicon.v1": "nerkit.lexicon.lexicon:lexicon",
    },
    "fusions": {
        "nerkit.NoFusion.v1": "nerkit.models.fusion.identity:no_fusion",
        "nerkit.ConcatFusion.v1": "nerkit.models.fusion.concat:concat_fusion",
        "nerkit.FLAT.v1": "nerkit.models.fusion.flat:flat_fusion",
        "nerkit.FLATLight.v1": "nerkit.models.fusion.flat_light:flat_light_fusion",
    },
    "decoders": {
        "nerkit.LinearDecoder.v1": "nerkit.models.decoders.linear:linear_decoder",
        "nerkit.LinearNestedDecoder.v1": "nerkit.models.decoders.linear:linear_nested_decoder",
        "nerkit.CRFDecoder.v1": "nerkit.models.decoders.crf:crf_decoder",
        "nerkit.CRFNestedDecoder.v1": "nerkit.models.decoders.crf:crf_nested_decoder",
        "nerkit.GlobalPointer.v1": "nerkit.models.decoders.global_pointer:global_pointer",
        "nerkit.EfficientGlobalPointer.v1": "nerkit.models.decoders.efficient_global_pointer:efficient_global_pointer",
    },
    "label_schemes": {
        "nerkit.BIO.v1": "nerkit.data.schemes.bio:bio_scheme",
        "nerkit.NestedBIO.v1": "nerkit.data.schemes.nested_bio:nested_bio_scheme",
        "nerkit.Spans.v1": "nerkit.data.schemes.spans:span_scheme",
    },
    "readers": {
        "nerkit.CMeEEJson.v1": "nerkit.data.formats.cmeee:cmeee_json_reader",
        "nerkit.JsonLines.v1": "nerkit.data.formats.cmeee:jsonl_reader",
        "nerkit.CMeEEAuto.v1": "nerkit.data.formats.cmeee:cmeee_auto_reader",
        "nerkit.CoNLL.v1": "nerkit.data.formats.conll:conll_reader",
        "nerkit.Brat.v1": "nerkit.data.formats.brat:brat_reader",
        "nerkit.Doccano.v1": "nerkit.data.formats.doccano:doccano_reader",
        "nerkit.LabelStudio.v1": "nerkit.data.formats.label_studio:label_studio_reader",
        "nerkit.CCKS.v1": "nerkit.data.formats.ccks:ccks_reader",
    },
    "writers": {
        "nerkit.CMeEEWriter.v1": "nerkit.data.formats.cmeee:cmeee_writer",
        "nerkit.CoNLLWriter.v1": "nerkit.data.formats.conll:conll_writer",
        "nerkit.BratWriter.v1": "nerkit.data.formats.brat:brat_writer",
        "nerkit.DoccanoWriter.v1": "nerkit.data.formats.doccano:doccano_writer",
        "nerkit.LabelStudioWriter.v1": "nerkit.data.formats.label_studio:label_studio_writer",
        "nerkit.CCKSWriter.v1": "nerkit.data.formats.ccks:ccks_writer",
    },
    "adversarial": {
        "nerkit.NoAdversarial.v1": "nerkit.training.adversarial:no_adversarial",
        "nerkit.FGM.v1": "nerkit.training.adversarial:fgm",
        "nerkit.PGD.v1": "nerkit.training.adversarial:pgd",
        "nerkit.FreeLB.v1": "nerkit.training.adversarial:freelb",
    },
    "averaging": {
        "nerkit.NoAveraging.v1": "nerkit.training.averaging:no_averaging",
        "nerkit.EMA.v1": "nerkit.training.averaging:ema",
    },
    "optimizers": {
        "nerkit.AdamW.v1": "nerkit.training.optimizers:adamw",
    },
    "schedules": {
        "nerkit.ConstantSchedule.v1": "nerkit.training.schedules:constant_schedule",
        "nerkit.LinearWarmupDecay.v1": "nerkit.training.schedules:linear_warmup_decay",
        "nerkit.CosineSchedule.v1": "nerkit.training.schedules:cosine_schedule",
    },
    "loggers": {
        "nerkit.ConsoleLogger.v1": "nerkit.training.loggers:console_logger",
        "nerkit.JsonlLogger.v1": "nerkit.training.loggers:jsonl_logger",
        "nerkit.TensorBoardLogger.v1": "nerkit.training.loggers:tensorboard_logger",
        "nerkit.WandbLogger.v1": "nerkit.training.loggers:wandb_logger",
        "nerkit.MLflowLogger.v1": "nerkit.training.loggers:mlflow_logger",
        "nerkit.MultiLogger.v1": "nerkit.training.loggers:multi_logger",
        "nerkit.DefaultLoggers.v1": "nerkit.training.loggers:default_loggers",
    },
    "models": {
        "nerkit.NERModel.v1": "nerkit.models.ner_model:ner_model",
    },
    "maskers": {
        "nerkit.WholeWordMasker.v1": "nerkit.training.masking:whole_word_masker",
        "nerkit.CharMasker.v1": "nerkit.training.masking:char_masker",
    },
    "samplers": {
        "nerkit.GridSampler.v1": "nerkit.sweep.components:grid_sampler",
        "nerkit.RandomSampler.v1": "nerkit.sweep.components:random_sampler",
        "nerkit.TPESampler.v1": "nerkit.sweep.components:tpe_sampler",
    },
    "spaces": {
        "nerkit.Choice.v1": "nerkit.sweep.components:choice",
        "nerkit.IntRange.v1": "nerkit.sweep.components:int_range",
        "nerkit.FloatRange.v1": "nerkit.sweep.components:float_range",
    },
    "pruners": {
        "nerkit.NoPruner.v1": "nerkit.sweep.components:no_pruner",
        "nerkit.MedianPruner.v1": "nerkit.sweep.components:median_pruner",
    },
}


def populate() -> None:
    """Register every built-in component (once per process; cheap afterwards)."""
    if registry.populated:
        return
    registry.populated = True  # set first: the imports below may look components up
    for kind, entries in BUILTINS.items():
        reg = getattr(registry, kind)
        for name, target in entries.items():
            module, func = target.split(":")
            reg.register(name, func=getattr(importlib.import_module(module), func))


def snapshot() -> Dict[str, Dict[str, str]]:
    """Every registered component (entry-point plugins included) as ``module:function``."""
    populate()
    return {
        kind: {
            name: f"{func.__module__}:{func.__qualname__}"
            for name, func in sorted(getattr(registry, kind).get_all().items())
        }
        for kind in registry.kinds()
    }


if __name__ == "__main__":  # python -m nerkit.registrations > tests/fixtures/registry.json
    import json

    print(json.dumps(snapshot(), indent=2, ensure_ascii=False))
