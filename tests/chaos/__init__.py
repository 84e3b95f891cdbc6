"""Crash-safety tests: real SIGKILLs of a worker process at random and at named points."""
