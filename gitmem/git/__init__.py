"""Git mechanics: objects, trees, the index, checkout, refs, log, remotes, fsck.

This package knows nothing of blocks or agents; what it needs to know about the
store (a size cap, which paths matter) is passed in by its callers.
"""
