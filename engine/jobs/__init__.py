"""Background jobs: the scheduler and what it runs (timers, outbox, SLA checks, surges)."""
