"""Adversarial tests: path traversal forms, fuzzed URI/JSON/file inputs, canary leaks (issue 12)."""
