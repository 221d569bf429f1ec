"""Registervård: the CLI, settings and logging that tie the packages together."""
