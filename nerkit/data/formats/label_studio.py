"""Label Studio JSON export (``nerkit.LabelStudio.v1``, ``nerkit.LabelStudioWriter.v1``).

A JSON list of tasks; a task's text is ``data.text`` (``text_key`` to change),
its entities the ``labels`` results of its first annotation that is not
cancelled, end offsets *exclusive*::

    [{"id": 3, "data": {"text": "右下腹疼痛"},
      "annotations": [{"result": [{"type": "labels", "from_name": "label", "to_name": "text",
        "value": {"start": 0, "end": 3, "text": "右下腹", "labels": ["部位"]}}]}]}]

The reader checks each offset against the text and ``value.text`` (when given)
against the text at the offsets; a result with several labels is one entity
per label. Other result types (choices, relations, ...) and ``predictions``
are ignored and counted in the warnings. The writer writes one annotation per
task with one result per entity.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...errors import DataError
from ...types import Entity, Example
from .base import JsonRecordsReader, JsonRecordsWriter, corpus_format, describe, id_value, require

WHAT = 'a Label Studio task {"data": {"text": ...}, "annotations": [{"result": [...]}]}'


class LabelStudioReader(JsonRecordsReader):
    file_what = "Label Studio JSON"

    def __init__(self, labels: Optional[Sequence[str]], text_key: str) -> None:
        super().__init__(labels)
        self.text_key = text_key

    def record(self, place: str, task: Any, ignored: Counter) -> Tuple[str, List[Entity]]:
        data = require(place, task, "data", dict, WHAT)
        text = data.get(self.text_key)
        if not isinstance(text, str):
            raise DataError(
                f"{place}, data.{self.text_key}: expected the task's text (a string), got {describe(text)}. "
                "Fix the task, or set the reader's text_key to the field that holds the text."
            )
        if task.get("predictions"):
            ignored["predictions"] += len(task["predictions"])
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise DataError(
                f"{place}, annotations: expected a list, got {describe(annotations)}. Fix the task."
            )
        chosen = [
            k
            for k, a in enumerate(annotations)
            if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        entities: List[Entity] = []
        if chosen:
            k = chosen[0]
            if len(chosen) > 1:  # a Counter keeps a key added with 0: "ignored 0 ..."
                ignored["further annotations of a task"] += len(chosen) - 1
            results = annotations[k].get("result") or []
            for j, res in enumerate(results):
                where = f"{place}, annotations[{k}].result[{j}]"
                if not isinstance(res, dict) or not isinstance(res.get("value"), dict):
                    raise DataError(
                        f"{where}: expected an object with a 'value', got {describe(res)}. Fix the task."
                    )
                value = res["value"]
                if res.get("type", "labels") != "labels" or "labels" not in value:
                    ignored[f"{res.get('type', 'other')} results"] += 1
                    continue
                labs = value["labels"]
                if not isinstance(labs, list) or not labs:
                    raise DataError(
                        f"{where}.value.labels: expected a non-empty list, got {describe(labs)}."
                    )
                for lab in labs:
                    ent = self.span(
                        f"{where}.value", text, value.get("start"), value.get("end"), lab
                    )
                    surface = value.get("text")
                    if surface is not None and surface != text[ent.start : ent.end + 1]:
                        raise DataError(
                            f"{where}.value.text: {surface!r} does not match the text at start {value['start']}, "
                            f"end {value['end']} ({text[ent.start : ent.end + 1]!r}; end is exclusive). Fix the offsets."
                        )
                    entities.append(ent)
        return text, entities


class LabelStudioWriter(JsonRecordsWriter):
    lines = False  # one JSON list of tasks

    def __init__(self, text_key: str, from_name: str, to_name: str) -> None:
        self.text_key, self.from_name, self.to_name = text_key, from_name, to_name

    def record(self, ex: Example, ents: List[Entity]) -> Dict[str, Any]:
        result = [
            {
                "id": f"e{k}",
                "from_name": self.from_name,
                "to_name": self.to_name,
                "type": "labels",
                "value": {
                    "start": e.start,
                    "end": e.end + 1,
                    "text": ex.text[e.start : e.end + 1],
                    "labels": [e.label],
                },
            }
            for k, e in enumerate(ents, start=1)
        ]
        return {
            "id": id_value(ex),
            "data": {self.text_key: ex.text},
            "annotations": [{"result": result}],
        }


def _sniff(path: Path, head: str) -> bool:
    first = head.lstrip()[:4000]
    return '"annotations"' in first or ('"data"' in first and first.startswith("["))


@corpus_format("labelstudio", sniff=_sniff, priority=-2, description="Label Studio JSON export")
def label_studio_reader(
    labels: Optional[List[str]] = None, text_key: str = "text"
) -> LabelStudioReader:
    """Label Studio JSON export: the first non-cancelled annotation of each task (ends exclusive).

    labels: the entity types allowed (null: any). text_key: the data field holding the text.
    """
    return LabelStudioReader(labels, text_key)


@corpus_format("labelstudio", description="Label Studio JSON export")
def label_studio_writer(
    text_key: str = "text", from_name: str = "label", to_name: str = "text"
) -> LabelStudioWriter:
    """Label Studio JSON tasks with one annotation each (import them into a project with a
    Labels control named ``from_name`` over the Text ``to_name``)."""
    return LabelStudioWriter(text_key, from_name, to_name)
