"""``seqframe --version`` (and ``-v``: torch's, Python's and every plugin's versions)."""

from __future__ import annotations

from seqframe import api
from seqframe.runs import versions

__all__ = ["print_version"]


def print_version(*, verbose: bool) -> int:
    """Print ``seqframe X.Y.Z``; verbose: where it is imported from, Python, torch and its
    CUDA build, and each plugin's distribution, version and status."""
    report = api.version_report() if verbose else None
    print(f"seqframe {versions()['seqframe']}")
    if report is None:
        return 0
    print(f"  location  {report['location']}")
    print(f"  python    {report['python']}")
    print(f"  torch     {report['torch']} (CUDA {report['cuda'] or 'none: CPU build'})")
    print("plugins:")
    width = max((len(p["name"]) for p in report["plugins"]), default=0)
    for plugin in report["plugins"]:
        status = "" if plugin["status"] == "ok" else f"  [{plugin['status']}]"
        print(f"  {plugin['name']:<{width}}  {plugin['distribution']} {plugin['version']}{status}")
    return 0
