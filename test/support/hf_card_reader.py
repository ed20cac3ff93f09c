"""Reads model card READMEs with huggingface_hub, as the Hub's own client does, and prints JSON.

Used by the tests of `mlpipe card export --hf` / `card import` (test/support/huggingface-hub.ts):
ModelCard.load parses the front matter into ModelCardData (whose model-index parsing gives
eval_results), metadata_load reads the raw front matter, model_index_to_eval_results parses it.
"""

import json
import sys

from huggingface_hub import ModelCard
from huggingface_hub.repocard import metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results


def result(item):
    return {
        "task_type": item.task_type,
        "task_name": item.task_name,
        "dataset_type": item.dataset_type,
        "dataset_name": item.dataset_name,
        "dataset_config": item.dataset_config,
        "dataset_split": item.dataset_split,
        "dataset_revision": item.dataset_revision,
        "dataset_args": item.dataset_args,
        "metric_type": item.metric_type,
        "metric_name": item.metric_name,
        "metric_value": item.metric_value,
        "verified": item.verified,
    }


cards = []
for path in sys.argv[1:]:
    card = ModelCard.load(path)
    metadata = metadata_load(path) or {}
    name, results = (None, [])
    if "model-index" in metadata:
        name, results = model_index_to_eval_results(metadata["model-index"])
    # The same results through ModelCardData, as the Hub's card class holds them.
    through_data = [result(item) for item in (card.data.eval_results or [])]
    direct = [result(item) for item in results]
    if through_data != direct:
        raise SystemExit(f"{path}: ModelCardData.eval_results differ from model_index_to_eval_results")
    cards.append({"data": card.data.to_dict(), "model_name": name, "eval_results": direct, "text": card.text})

json.dump(cards, sys.stdout, default=str)
