"""Pure formats and rules: blocks, manifests, settings, ids and merges of their text.

Nothing here touches Git or the disk: no dulwich, watchdog or click (checked in
CI by import-linter, see pyproject.toml).
"""
