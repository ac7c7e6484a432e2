"""C extensions, each optional: built by an install that finds a C compiler (setup.py),
each with a Python road that gives the same results where it is missing."""
