"""Baseline for `workbench bench train`: scikit-learn on the rows the workbench trained on.

Usage: sklearn_train.py ROWS.csv TREE_SMALL_ROWS LOGISTIC_SMALL_ROWS
ROWS.csv holds the feature columns, `label` (0/1) and `is_test` (0/1), written by the workbench
(integers: the kernel features at decision points), so both sides see identical values.
Prints one JSON object; each fit is timed alone (reading and scaling are not part of it).
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier


def timed(fit):
    started = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - started


def main() -> None:
    frame = pd.read_csv(sys.argv[1])
    small = int(sys.argv[2])
    small_logistic = int(sys.argv[3])
    test = frame["is_test"].to_numpy() == 1
    y = frame["label"].to_numpy().astype(bool)
    x = frame.drop(columns=["label", "is_test"]).to_numpy(dtype=np.float64)
    x_train, y_train, x_test, y_test = x[~test], y[~test], x[test], y[test]
    out = {"sklearn_version": sklearn.__version__, "rows_train": int(len(y_train)), "rows_test": int(len(y_test))}

    tree, fit_s = timed(lambda: DecisionTreeClassifier(max_depth=12, random_state=0).fit(x_train, y_train))
    out["tree"] = {
        "rows_train": int(len(y_train)),
        "fit_s": fit_s,
        "accuracy": float((tree.predict(x_test) == y_test).mean()),
        "nodes": int(tree.tree_.node_count),
        "depth": int(tree.get_depth()),
    }
    # The first SMALL rows of the training side: the size linfa-trees is timed on.
    small_tree, small_s = timed(
        lambda: DecisionTreeClassifier(max_depth=12, random_state=0).fit(x_train[:small], y_train[:small])
    )
    out["tree_small"] = {
        "rows_train": int(min(small, len(y_train))),
        "fit_s": small_s,
        "accuracy": float((small_tree.predict(x_test) == y_test).mean()),
        "depth": int(small_tree.get_depth()),
    }
    # Standardised on the training side, as the workbench does; C=1 is linfa's alpha=1.
    scaler = StandardScaler().fit(x_train)
    xs_train, xs_test = scaler.transform(x_train), scaler.transform(x_test)
    logistic, fit_s = timed(lambda: LogisticRegression(C=1.0, max_iter=100).fit(xs_train, y_train))
    out["logistic"] = {
        "fit_s": fit_s,
        "accuracy": float((logistic.predict(xs_test) == y_test).mean()),
        "iterations": int(logistic.n_iter_[0]),
    }
    # The first rows of the training side, standardised on themselves: what linfa-logistic gets.
    k = min(small_logistic, len(y_train))
    scaler_small = StandardScaler().fit(x_train[:k])
    logistic_small, small_s = timed(
        lambda: LogisticRegression(C=1.0, max_iter=100).fit(scaler_small.transform(x_train[:k]), y_train[:k])
    )
    out["logistic_small"] = {
        "rows_train": int(k),
        "fit_s": small_s,
        "accuracy": float((logistic_small.predict(scaler_small.transform(x_test)) == y_test).mean()),
        "iterations": int(logistic_small.n_iter_[0]),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
