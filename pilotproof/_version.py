"""The version, without importlib.metadata (it costs a start-up); tests/test_cli.py holds
it equal to pyproject.toml's."""

__version__ = "0.1.0"
