"""The worker: the scheduler loop and the outbox dispatcher, around afterword.engine."""
