"""Writes a historical sample for the consumer's validation: `text,label` rows drawn from the same process
the fixture's models were trained on (transformer_fixture.sample), as CSV or Parquet by the file's suffix.

  python historical_sample.py --out sample.csv|sample.parquet --rows 400 --seed 7 [--shift 0.5]

On an unshifted sample the winning model (iteration 2) has a precision of about 0.87, above the 0.8 the
team validates against. `--shift X` (0..1) draws the labels from a changed market, X of the way to other
token weights: at 0.6 the same model's precision falls to about 0.7, so a failed validation is real.
Deterministic in --seed. Prints {"out", "rows", "positives", "sha256"} as JSON.
"""
import argparse
import hashlib
import json

import pandas as pd

from transformer_fixture import sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shift", type=float, default=0.0, help="0 (the training market) .. 1 (another market)")
    a = ap.parse_args()
    if not 0 <= a.shift <= 1:
        ap.error("--shift must be between 0 and 1")
    texts, labels = sample(a.rows, a.seed, a.shift)
    df = pd.DataFrame({"text": texts, "label": labels})
    if a.out.endswith(".parquet"):
        df.to_parquet(a.out, index=False)
    elif a.out.endswith(".csv"):
        df.to_csv(a.out, index=False)
    else:
        ap.error("--out must end in .csv or .parquet")
    with open(a.out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(json.dumps({"out": a.out, "rows": a.rows, "positives": int(labels.sum()), "sha256": digest}))


if __name__ == "__main__":
    main()
