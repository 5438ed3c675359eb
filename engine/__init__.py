"""The after-sales process engine: definitions, runtime verbs, timers, audit and replay.

Pure Python on SpiffWorkflow and SQLAlchemy. Never imports flask or web/.
"""
