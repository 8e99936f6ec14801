"""Make midserver.claude_stack importable from the checkout for unit tests.

`make` links the checkout at .collections/ansible_collections/midserver/claude_stack.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"
if not (COLLECTIONS / "ansible_collections" / "midserver" / "claude_stack").exists():
    raise RuntimeError("run `make collection` first: .collections/ is missing")
sys.path.insert(0, str(COLLECTIONS))
