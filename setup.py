"""Builds every ext/*.pyx into ironpost._ext.<name>. Metadata lives in pyproject.toml.

Extensions that need a system library declare it in EXT_LIBS; if the library's headers are
missing the build fails loudly rather than silently shipping only the Python twins.
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
# name -> extra Extension kwargs (libraries, include dirs) for extensions that link C libraries
EXT_LIBS = {
    "matcher": {"libraries": ["hs", "pcre2-8"], "include_dirs": ["/usr/include/hs"]},
}

extensions = []
for pyx in sorted((HERE / "ext").glob("*.pyx")):
    name = pyx.stem
    extensions.append(
        Extension(
            f"ironpost._ext.{name}",
            [str(pyx.relative_to(HERE))],
            extra_compile_args=["-O3"],
            **EXT_LIBS.get(name, {}),
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
        include_path=[str(HERE / "ext")],
        nthreads=int(os.environ.get("IRONPOST_BUILD_JOBS", "2")),
    ),
)
