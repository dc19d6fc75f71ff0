"""Fuzzing the real server (hypothesis) and the attack cases of issue 7 as regression tests."""
