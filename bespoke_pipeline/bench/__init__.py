"""Benchmarks that print figures (`bespoke bench ...`) and the random full-size models they
time. Above training and evaluation: they run both."""
