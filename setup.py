"""Builds the optional C extensions (ring buffer, /proc field reader); without a compiler the
pure-Python twins are used."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed compile is a warning, not a failed install: memmap falls back to PyRingBuffer."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure
            self.warn(f"C extensions not built ({exc}); using the pure-Python fallbacks")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self.warn(f"{ext.name} not built ({exc}); using the pure-Python fallback")


setup(
    ext_modules=[
        Extension(
            "memmap_tui._ringbuf",
            sources=["memmap_tui/_ringbuf.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
            optional=True,
        ),
        Extension(
            "memmap_tui._fieldread",
            sources=["memmap_tui/_fieldread.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
