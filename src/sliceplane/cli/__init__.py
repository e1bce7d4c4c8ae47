"""Command-line entry points: argument parsing only, each command hands off to a library."""
