"""Validation of the ``train`` section: its fixed fields and nested tables, the optimizer's
options, then settings that cannot work together. Imports layers 0-1 and torch.
"""

from __future__ import annotations

from typing import Any

from seqframe.errors import RecipeIssue
from seqframe.optim import OPTIMIZERS, optimizer_options
from seqframe.recipe.checks import train_code_issues
from seqframe.recipe.fields import check_fields, option_problem
from seqframe.recipe.load import Recipe
from seqframe.recipe.schema import (
    OPTIMIZER_FIELDS,
    SCHEDULER_FIELDS,
    TRAIN_FIELDS,
    TRAIN_SUBSECTIONS,
    check_value,
    scheduler_node,
)

__all__ = ["check_train"]


def check_train(recipe: Recipe, train: Any) -> list[RecipeIssue]:
    """The ``train`` section: fixed fields, nested tables, then settings that contradict,
    then the device and optimizer as training builds them."""
    issues = check_fields(recipe, "train", train, TRAIN_FIELDS, "train")
    if not isinstance(train, dict):
        return issues
    optimizer = train.get("optimizer")
    if isinstance(optimizer, dict):
        issues += [
            recipe.issue(f"train.optimizer.{k}", p)
            for k, s in OPTIMIZER_FIELDS.items()
            if k in optimizer and (p := check_value(optimizer[k], s))
        ]
        name = optimizer.get("name", "adam")
        accepted = optimizer_options(name) if isinstance(name, str) and name in OPTIMIZERS else {}
        issues += [
            recipe.issue(f"train.optimizer.{k}", p)
            for k, v in optimizer.items()
            if k not in OPTIMIZER_FIELDS
            and k in accepted
            and (p := option_problem(OPTIMIZERS[name], accepted[k], k, v))
        ]
    if isinstance(train.get("scheduler"), str) and (
        problem := check_value(train["scheduler"], SCHEDULER_FIELDS["name"])
    ):
        issues.append(recipe.issue("train.scheduler", problem))
    for key, fields in TRAIN_SUBSECTIONS.items():
        if isinstance(train.get(key), dict):
            issues += check_fields(recipe, f"train.{key}", train[key], fields, f"train.{key}")
    bad = {issue.path for issue in issues}
    optimizer_ok = isinstance(optimizer, dict) and not any(p.startswith("train.optimizer") for p in bad)
    code = train_code_issues(
        recipe, train, device="train.device" not in bad, optimizer=optimizer_ok or "optimizer" not in train
    )
    return issues + code if issues else check_train_settings(recipe, train) + code


def check_train_settings(recipe: Recipe, train: dict[str, Any]) -> list[RecipeIssue]:
    """Well-typed settings that cannot work together (checked once the types are right)."""
    scheduler = scheduler_node(train.get("scheduler", {}))
    name = scheduler.get("name", "constant")
    evaluates = train.get("eval_every", TRAIN_FIELDS["eval_every"].default) > 0
    lr = train.get("optimizer", {}).get("lr", OPTIMIZER_FIELDS["lr"].default)
    issues = []
    if name == "linear_warmup" and scheduler.get("warmup_steps", 0) < 1:
        issues.append(
            recipe.issue("train.scheduler", "linear_warmup needs warmup_steps >= 1; set train.scheduler.warmup_steps")
        )
    if name == "reduce_on_plateau" and not evaluates:
        issues.append(
            recipe.issue(
                "train.scheduler",
                "reduce_on_plateau lowers the rate after evaluations, "
                "but train.eval_every is 0; set train.eval_every > 0",
            )
        )
    if name in ("cosine", "reduce_on_plateau") and isinstance(lr, (int, float)) and scheduler.get("min_lr", 0.0) >= lr:
        issues.append(
            recipe.issue(
                "train.scheduler.min_lr",
                f"expected a value below train.optimizer.lr ({lr}), got {scheduler['min_lr']!r}",
            )
        )
    if train.get("early_stopping") is not None and not evaluates:
        issues.append(
            recipe.issue(
                "train.early_stopping",
                "early stopping watches evaluations, but train.eval_every is 0; set train.eval_every > 0",
            )
        )
    return issues
