"""The one thing pyproject.toml cannot say: the optional C extension.

`telemetry._native.merkle` computes the Merkle roots of sealed batches (see its source).
It is optional: where no C compiler is found the build goes on without it, and
`telemetry.merkle` computes the same roots in Python.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "telemetry._native.merkle",
            ["telemetry/_native/merkle.c"],
            libraries=["dl"] if sys.platform.startswith("linux") else [],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
