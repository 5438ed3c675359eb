"""The runtime: the engine verbs and what one unit of work is made of."""
