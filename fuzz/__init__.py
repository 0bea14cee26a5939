"""Fuzzing harnesses for every parser of outside input; see README.md."""
