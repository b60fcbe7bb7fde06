"""gitmem's features, one per module, built on ``model`` (what a store holds)
and ``git`` (how it is kept): the store, memory tools, history, working tree,
sync, hooks, check, watch and events.
"""
