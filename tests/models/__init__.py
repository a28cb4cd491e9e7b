"""Tests of egoaction.models (a package so test module names do not clash with tests/data)."""
