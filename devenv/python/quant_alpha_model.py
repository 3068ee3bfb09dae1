"""The fixture model's pyfunc loader, shipped inside every model directory the fixture writes as
`code/quant_alpha_model.py` (MLmodel: `python_function.loader_module: quant_alpha_model`, `code: code`,
`data: .`), so that `mlflow.pyfunc.load_model` scores the model with nothing but numpy, pandas and
safetensors.

The classifier is linear over a bag of words: the `text` column is lower-cased, split on whitespace and each
token looked up in the model's own vocabulary (components/tokenizer/vocab.txt, unknown tokens as [UNK]); a
row's score is the sum of its tokens' weights plus the bias (model/classifier.safetensors) and its label is
1 ("up") when the score is positive, else 0 ("down").
"""
import os

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

CLASSIFIER = "model/classifier.safetensors"
VOCAB = "components/tokenizer/vocab.txt"


class BagOfWordsClassifier:
    """Scores a DataFrame's `text` column; `predict` returns a DataFrame with one int64 column, `label`."""

    def __init__(self, root: str) -> None:
        tensors = load_file(os.path.join(root, CLASSIFIER))
        self.weight = tensors["weight"].astype(np.float64)
        self.bias = float(tensors["bias"][0])
        with open(os.path.join(root, VOCAB), encoding="utf-8") as f:
            self.vocab = {tok: i for i, tok in enumerate(f.read().splitlines())}
        self.unk = self.vocab["[UNK]"]

    def scores(self, texts) -> np.ndarray:
        ids = [[self.vocab.get(t, self.unk) for t in str(text).lower().split()] for text in texts]
        return np.array([self.weight[row].sum() + self.bias for row in ids], dtype=np.float64)

    def predict(self, model_input, params=None) -> pd.DataFrame:
        texts = model_input["text"] if isinstance(model_input, pd.DataFrame) else pd.Series(model_input)
        return pd.DataFrame({"label": (self.scores(texts) > 0).astype("int64")})


def _load_pyfunc(data_path: str) -> BagOfWordsClassifier:
    """MLflow's loader entry point: `data_path` is the model directory (MLmodel `data: .`)."""
    return BagOfWordsClassifier(data_path)
