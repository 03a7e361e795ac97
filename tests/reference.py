"""Imports for the Python tests: the references from the pinned environment, or a failure naming what is missing."""
import os
import sys


def import_references(*modules):
    """Import and return the named modules; a missing one fails the test (exit 1) with the set-up command."""
    loaded = []
    for name in modules:
        try:
            loaded.append(__import__(name))
        except ImportError as e:
            print(f"FAILED: reference '{name}' cannot be imported by {sys.executable} ({e}); "
                  "run scripts/setup.sh --test")
            sys.exit(1)
    return loaded[0] if len(loaded) == 1 else loaded


def test_tool(name):
    """Path of the helper program tests/tools/NAME.c built into $TFM_BUILD/tests/tools; missing: fail."""
    build = os.environ.get("TFM_BUILD")
    path = os.path.join(build or "", "tests", "tools", name)
    if not build or not os.access(path, os.X_OK):
        print(f"FAILED: {name} is not built (TFM_BUILD={build!r}, looked for {path})")
        sys.exit(1)
    return path


def asset(name):
    """Path of a reference file unpacked by scripts/setup.sh --test (.venv/assets/NAME); missing: fail."""
    path = os.path.join(os.environ.get("TFM_ASSETS") or os.path.join(os.path.dirname(sys.executable), "..", "assets"), name)
    if not os.path.exists(path):
        print(f"FAILED: reference file {path} is missing; run scripts/setup.sh --test")
        sys.exit(1)
    return path


def real_sentences(count):
    """The first `count` lines of real English prose (this repository's README and docs/*.md), code blocks left out."""
    import glob
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    lines = []
    for path in [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        with open(path, encoding="utf-8") as f:
            lines += [line.strip() for line in f if len(line.strip()) > 20 and not line.startswith("```")]
    return lines[:count]
