"""Helpers for tests and benchmarks only: sample answers, the flicker meter. Never imported
by the runtime package."""
