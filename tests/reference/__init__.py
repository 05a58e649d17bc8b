"""Slow, obviously-correct reference implementations the fast code is tested and benchmarked
against. They live with the tests: the product never runs them."""
