"""Tests of the state store (engine.state)."""
