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
templates_path = ["_templates"]

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True  # one page per public name, under docs/generated (not in git)
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

    def sub(f) -> str:  # np.linalg.* and np.fft.* keep their submodule
        return next((f"{m}." for m in ("linalg", "fft") if f.__module__ and m in f.__module__), "")

    names = sorted({f"`np.{sub(f)}{f.__name__}`" for f in FUNCTIONS})
    prims = ", ".join(f"`{name}`" for name in PRIMITIVES)
    return (
        f"{len(names)} NumPy functions dispatch to dualad (besides every ufunc of the elementwise table and "
        "the operators `+ - * / ** @`, indexing and item assignment):\n\n"
        + ", ".join(names)
        + f"\n\nThey are built from {len(PRIMITIVES)} structural primitives, each declared once with its transpose: {prims}.\n"
    )


def more_public_names(api_source: str) -> list[str]:
    """Every name of ``dualad.__all__`` (functions and classes of its public modules and of the
    ``dualad.scipy`` namespaces included) that the API page does not list: no public name goes
    without a page."""
    import importlib
    import re
    import types

    listed = set(re.findall(r"^ {3}([A-Za-z_][\w.]*)\s*$", api_source, flags=re.M))
    names = []
    for name in dualad.__all__:
        obj = getattr(dualad, name)
        if isinstance(obj, types.ModuleType):
            names += [f"{name}.{n}" for n in getattr(obj, "__all__", []) if callable(getattr(obj, n, None))]
        else:
            names.append(name)
    try:  # namespaces imported on demand (``dualad.scipy.special`` ...)
        pkg = importlib.import_module("dualad.scipy")
    except ImportError:
        pkg = None
    for sub in getattr(pkg, "__all__", []):
        module = importlib.import_module(f"dualad.scipy.{sub}")
        names += [f"scipy.{sub}.{n}" for n in getattr(module, "__all__", [])
                  if callable(getattr(module, n, None)) and _own(getattr(module, n))]
    return [n for n in names if n not in listed]


def _own(obj) -> bool:
    """dualad's own function or class (not one of SciPy's ufuncs re-exported beside them)."""
    return str(getattr(obj, "__module__", None) or "").startswith("dualad")


def _write_more_page() -> None:
    """docs/api_more.rst (not in git): the names :func:`more_public_names` finds, written before
    Sphinx reads the sources so that autosummary generates their pages too."""
    here = Path(__file__).resolve().parent
    names = more_public_names((here / "api.rst").read_text())
    lines = ["More public names", "=================", ""]
    if names:
        lines += ["Public names not yet placed in a section of the API page.", "",
                  ".. currentmodule:: dualad", "", ".. autosummary::", "   :toctree: generated", ""]
        lines += [f"   {n}" for n in names]
    else:
        lines += ["Every public name is listed in a section of the API page."]
    (here / "api_more.rst").write_text("\n".join(lines) + "\n")


_write_more_page()


def _fill(app, docname, source):
    if "{{ numpy_functions }}" in source[0]:
        source[0] = source[0].replace("{{ numpy_functions }}", _numpy_functions())


def setup(app):
    app.connect("source-read", _fill)
