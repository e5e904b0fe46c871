"""``seqframe validate`` and ``seqframe recipes``: check, list and copy recipes."""

from __future__ import annotations

import argparse

from seqframe import api
from seqframe.errors import SeqframeError

__all__ = ["add_parsers"]


def _cmd_validate(args: argparse.Namespace) -> int:
    recipe = api.validate(args.recipe, args.overrides)
    print(recipe.to_yaml() if args.print else f"{recipe.source}: OK", end="\n" if not args.print else "")
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    if args.action == "copy":
        if not args.name or not args.dest:
            raise SeqframeError("usage: seqframe recipes copy NAME DEST (see 'seqframe recipes' for the names)")
        print(f"copied {args.name} to {api.copy_recipe(args.name, args.dest, overwrite=args.overwrite)}")
        return 0
    for name, description in api.shipped_recipes().items():
        print(f"{name:<16} {description}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    validate = sub.add_parser("validate", help="check a recipe without running it")
    validate.add_argument("recipe")
    validate.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    validate.add_argument("--print", action="store_true", help="print the resolved recipe")
    validate.set_defaults(func=_cmd_validate)
    recipes = sub.add_parser("recipes", help="list the shipped recipes, or copy one for editing")
    recipes.add_argument("action", nargs="?", choices=["list", "copy"], default="list")
    recipes.add_argument("name", nargs="?", help="shipped recipe to copy")
    recipes.add_argument("dest", nargs="?", help="file or folder to copy it to")
    recipes.add_argument("--overwrite", action="store_true", help="replace an existing file")
    recipes.set_defaults(func=_cmd_recipes)
