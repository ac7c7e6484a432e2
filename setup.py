"""The one thing pyproject.toml cannot say: the optional C extension.

`telemetry._native.merkle` computes the Merkle roots of sealed batches, and
`telemetry._native.lines` splits a batch's lines for DuckdbStore's bulk loader (see each
source). Both are optional: where no C compiler is found the build goes on without them,
and `telemetry.merkle` and `telemetry.store._split` do the same in Python.
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
        ),
        Extension(
            "telemetry._native.lines",
            ["telemetry/_native/lines.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
