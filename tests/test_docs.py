"""The documentation generated from the rule table stays in step with it."""

from pathlib import Path

from dualad.rules import RULES, coverage_table

ROOT = Path(__file__).resolve().parents[1]


def test_coverage_page_matches_rule_table():
    page = (ROOT / "docs" / "coverage.md").read_text()
    assert coverage_table() in page, "docs/coverage.md is stale: regenerate it from dualad.rules.coverage_table()"


def test_every_rule_is_listed():
    table = coverage_table()
    for name in RULES:
        assert f"| {name} |" in table


def _public_names():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dualad_docs_conf", ROOT / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)  # also writes docs/api_more.rst, as a docs build does
    return conf


def test_every_public_name_has_a_place_on_the_api_page():
    """A name added to ``dualad.__all__`` (or to a public module's ``__all__``) must be placed in
    a section of docs/api.rst; the docs build would otherwise put it on the catch-all page."""
    conf = _public_names()
    missing = conf.more_public_names((ROOT / "docs" / "api.rst").read_text())
    assert not missing, f"add these public names to a section of docs/api.rst: {missing}"


def _autosummary_names(rst: str) -> list[str]:
    names, inside = [], False
    for line in rst.splitlines():
        if line.startswith(".. autosummary::"):
            inside = True
        elif line and not line.startswith(" "):
            inside = False
        elif inside and line.strip() and not line.strip().startswith(":"):
            names.append(line.strip())
    return names


def test_every_name_on_the_api_page_exists_and_has_an_example():
    import importlib

    import dualad

    listed = _autosummary_names((ROOT / "docs" / "api.rst").read_text())
    assert len(listed) > 30
    for name in listed:
        obj = dualad
        for i, part in enumerate(name.split(".")):
            nxt = getattr(obj, part, None)
            if nxt is None or (i + 1 < len(name.split(".")) and not hasattr(nxt, name.split(".")[i + 1])):
                try:  # a submodule (``explain.trace`` is a module and, in ``explain``, a function)
                    nxt = importlib.import_module("dualad." + ".".join(name.split(".")[: i + 1]))
                except ImportError:
                    nxt = None
            assert nxt is not None, f"docs/api.rst lists {name}, which dualad does not have"
            obj = nxt
        doc = obj.__doc__ or ""
        assert "Examples" in doc or "Example" in doc, f"dualad.{name} has no Examples section in its docstring"
