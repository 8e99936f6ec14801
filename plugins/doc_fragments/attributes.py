# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Descriptions of the attributes every module of the collection states."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode and return a prediction of changed status without modifying
        the target.
  diff_mode:
    description:
      - Returns details on what has changed, or would change in check mode, in diff mode.
  idempotent:
    description:
      - Run twice in a row outside check mode with the same arguments, the second run
        reports no change.
"""
