"""Sphinx configuration for dualad's documentation.

Build (warnings are errors)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the package itself, when it is not installed

import dualad  # noqa: E402

project = "dualad"
author = "the dualad developers"
copyright = "the dualad developers"
release = dualad.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# coverage.md is generated from the rule table (tests/test_docs.py keeps it in step); it is
# included into numpy.md rather than built as a page of its own.
exclude_patterns = ["_build", "coverage.md", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = False  # the API page lists every name itself; no stub files are written
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"dualad {release}"
html_static_path = ["_static"]


def _numpy_functions() -> str:
    """The NumPy functions dualad handles, as a Markdown list generated from its dispatch table."""
    from dualad.core.numpy_api import FUNCTIONS
    from dualad.rules.base import PRIMITIVES

    names = sorted({f"`np.{'linalg.' if f.__module__ and 'linalg' in f.__module__ else ''}{f.__name__}`" for f in FUNCTIONS})
    prims = ", ".join(f"`{name}`" for name in PRIMITIVES)
    return (
        f"{len(names)} NumPy functions dispatch to dualad (besides every ufunc of the elementwise table and "
        "the operators `+ - * / ** @`, indexing and item assignment):\n\n"
        + ", ".join(names)
        + f"\n\nThey are built from {len(PRIMITIVES)} structural primitives, each declared once with its transpose: {prims}.\n"
    )


def _fill(app, docname, source):
    if "{{ numpy_functions }}" in source[0]:
        source[0] = source[0].replace("{{ numpy_functions }}", _numpy_functions())


def setup(app):
    app.connect("source-read", _fill)
