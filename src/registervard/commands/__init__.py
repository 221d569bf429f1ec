"""Command groups of the registervard CLI, one module each, added to the app in cli.py."""
