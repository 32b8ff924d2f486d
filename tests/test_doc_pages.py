"""The code in the documentation pages runs: every ```python block of docs/*.md.

Each page's blocks run in order in one fresh interpreter (a page may declare a rule, which must
not leak into this process's rule table).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if "```python" in p.read_text())
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_pages_have_code():
    assert {p.stem for p in PAGES} >= {"index", "modes", "nesting", "traces", "extending", "training"}


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_code_runs(page, tmp_path):
    blocks = BLOCK.findall(page.read_text())
    assert blocks
    script = tmp_path / f"page_{page.stem}.py"  # a file (rules hash their source); not named like a module (scipy.md)
    script.write_text("\n\n".join(blocks))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, f"{page.name}:\n{proc.stderr[-3000:]}"
