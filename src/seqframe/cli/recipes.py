"""``seqframe validate`` and ``seqframe recipes``: check, list and copy recipes."""

from __future__ import annotations

import argparse

from shtab import FILE

from seqframe import api
from seqframe.cli.common import add_action, add_command, complete, print_json
from seqframe.errors import RecipeError, SeqframeError

__all__ = ["add_parsers", "add_recipe_arguments"]


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        recipe = api.validate(args.recipe, args.overrides)
    except RecipeError as exc:
        if not args.json:
            raise
        print_json({"ok": False, "recipe": args.recipe, "issues": [issue.to_dict() for issue in exc.issues]})
        return exc.exit_code
    if args.json:
        print_json({"ok": True, "recipe": recipe.source, "issues": [], "resolved": recipe.data})
    elif args.print:
        print(recipe.to_yaml(), end="")
    else:
        print(f"{recipe.source}: OK")
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    if args.action == "copy":
        if not args.name or not args.dest:
            raise SeqframeError("usage: seqframe recipes copy NAME DEST (see 'seqframe recipes' for the names)")
        copied = api.copy_recipe(args.name, args.dest, overwrite=args.overwrite)
        if args.json:
            print_json({"copied": args.name, "to": str(copied)})
        else:
            print(f"copied {args.name} to {copied}")
        return 0
    shipped = api.shipped_recipes()
    if args.json:
        print_json(
            [
                {"name": name, "description": text, "path": str(api.RECIPES_DIR / f"{name}.yaml")}
                for name, text in shipped.items()
            ]
        )
        return 0
    width = max(map(len, shipped), default=0)
    for name, description in shipped.items():
        print(f"{name:<{width}}  {description}")
    return 0


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``RECIPE [KEY=VALUE ...]`` positionals of ``run`` and ``validate``."""
    complete(
        parser.add_argument(
            "recipe", help="a recipe file (recipes/lm.yaml) or a shipped recipe's name (lm; see 'seqframe recipes')"
        ),
        FILE,
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="set a recipe value (train.steps=100, model.topology.cell=gru) or remove one (~KEY)",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    validate = add_command(
        sub,
        "validate",
        help="check a recipe without running it",
        examples=[
            "seqframe validate recipes/lm.yaml                 # OK, or every problem with file:line",
            "seqframe validate lm model.topology.cell=gru --print   # the recipe as it would run",
            "seqframe validate my.yaml --json                  # issues as JSON: path, line, message, suggestion",
        ],
        description="Check a recipe as 'seqframe run' would, building nothing and reading no data: every problem "
        "at once, with its key, file:line and a suggestion. Exit 0 when valid, 2 otherwise.",
    )
    add_recipe_arguments(validate)
    validate.add_argument("--print", action="store_true", help="print the resolved recipe (after overrides)")
    validate.add_argument(
        "--json",
        action="store_true",
        help="print {ok, recipe, issues: [{path, file, line, column, override, message, "
        "suggestion}], resolved} as JSON",
    )
    validate.set_defaults(func=_cmd_validate)
    recipes = add_command(
        sub,
        "recipes",
        help="list the shipped recipes, or copy one for editing",
        examples=[
            "seqframe recipes                       # names and what each trains",
            "seqframe recipes copy lm my-lm.yaml    # a copy to edit, then: seqframe run my-lm.yaml",
            "seqframe recipes --json",
        ],
    )
    add_action(
        recipes,
        "copy",
        help="list (default) the shipped recipes, or copy one",
        name="for copy: the shipped recipe to copy (lm, translate...)",
    )
    complete(recipes.add_argument("dest", nargs="?", help="for copy: the file or folder to copy it to"), FILE)
    recipes.add_argument("--overwrite", action="store_true", help="replace an existing file")
    recipes.add_argument("--json", action="store_true", help="print [{name, description, path}] as JSON")
    recipes.set_defaults(func=_cmd_recipes)
