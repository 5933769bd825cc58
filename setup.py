"""Build of the compiled thinning kernel; everything else is in pyproject.toml.

The kernel is optional at run time: without a C compiler the package installs
without it and exact thinning runs its numpy implementation (same results).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Skip the extension, with a warning, where it cannot be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers
            print(f"warning: skelkit's compiled thinning kernel was not built ({exc}); using numpy")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"warning: skelkit's compiled thinning kernel was not built ({exc}); using numpy")


setup(
    ext_modules=[Extension("skelkit.core._thinc", ["skelkit/core/_thinc.c"], extra_compile_args=["-O3"])],
    cmdclass={"build_ext": OptionalBuildExt},
)
