"""Repeat groups on disk: recognise and read ``group.json``, and compare two groups' test accuracy.

Reading a group needs no TensorFlow, so ``cnnlab compare`` stays light; :mod:`cnnlab.experiments.repeat`
trains and writes the groups.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cnnlab.config import config_differences
from cnnlab.errors import RunError
from cnnlab.experiments.stats import ALPHA, mean_interval, welch_test

GROUP_VERSION = 1
GROUP_FILE = "group.json"


def is_repeat_group(path: str | os.PathLike) -> bool:
    return (Path(path) / GROUP_FILE).is_file()


def load_group(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``group.json`` of a repeat group; RunError if ``path`` is not one."""
    file = Path(path) / GROUP_FILE
    if not file.is_file():
        raise RunError(f"{path} is not a repeat group (no {GROUP_FILE}); pass a directory written by 'cnnlab repeat'")
    try:
        group = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{file} is not valid JSON ({err}); the repeat group is damaged") from None
    if not isinstance(group, dict) or group.get("cnnlab_repeat_group") != GROUP_VERSION or "runs" not in group:
        raise RunError(f"{file} is not a cnnlab repeat group file")
    return group


def compare_groups(dir_a: str | os.PathLike, dir_b: str | os.PathLike, alpha: float = ALPHA) -> dict[str, Any]:
    """Compare the test accuracy of two repeat groups (``cnnlab repeat``) with Welch's t-test.

    Returns both groups' summaries, the difference ``b - a`` of mean test accuracy with its 95 % interval,
    the p-value, and whether the difference exceeds the seed-to-seed noise (``p < alpha``).

    Example:
        >>> result = compare_groups("runs/dropout-0", "runs/dropout-0.5")  # doctest: +SKIP
        >>> result["difference"], result["p_value"], result["significant"]
    """
    group_a, group_b = load_group(dir_a), load_group(dir_b)
    acc_a, acc_b = _accuracies(group_a, dir_a), _accuracies(group_b, dir_b)
    return {
        "a": {"group": str(dir_a), "config": group_a["config"], **mean_interval(acc_a)},
        "b": {"group": str(dir_b), "config": group_b["config"], **mean_interval(acc_b)},
        "differences": config_differences(group_a["config"], group_b["config"]),
        "metric": "test_accuracy",
        "test": "Welch's t-test (scipy.stats.ttest_ind, equal_var=False)",
        **welch_test(acc_a, acc_b, alpha),
    }


def _accuracies(group: dict[str, Any], path) -> list[float]:
    values = [r["test_accuracy"] for r in group["runs"] if r.get("test_accuracy") is not None]
    if len(values) < 2:
        raise RunError(f"{path} has {len(values)} finished run(s); a comparison needs at least 2 seeds a group "
                       "(finish it with 'cnnlab repeat --resume')")
    return values
