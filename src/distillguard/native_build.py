"""Build the compiled twins of the hot modules (``native``) in place, or remove them.

Needs a C compiler and the Python headers; ``scripts/setup.sh`` runs it when they are missing or
stale::

    .venv/bin/python -m distillguard.native_build
    .venv/bin/python -m distillguard.native_build --clean
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from distillguard.native import GROUP, MANIFEST, MODULES, PACKAGE, digest, source_of


def _extensions() -> list[Path]:
    names = [m.rsplit(".", 1)[-1] for m in MODULES] + ["_native__mypyc"]
    return [p for p in PACKAGE.rglob("*.so") if p.name.split(".", 1)[0] in names]


def clean() -> None:
    for path in _extensions():
        path.unlink()
    MANIFEST.unlink(missing_ok=True)


def build() -> None:
    """Compile MODULES in place (needs a C compiler and the Python headers) and record the
    digests of the sources they were built from."""
    from mypyc.build import mypycify
    from setuptools import setup

    clean()
    root = PACKAGE.parent
    sources = [str(source_of(m).relative_to(root)) for m in MODULES]
    digests = {m: digest(m) for m in MODULES}
    cwd = os.getcwd()
    cache = os.environ.get("MYPY_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="distillguard-native-") as tmp:
        # Everything but the extensions (generated C, objects, mypy's cache) stays in tmp.
        os.chdir(root)
        os.environ["MYPY_CACHE_DIR"] = str(Path(tmp, "mypy"))
        try:
            # (Third-party packages without type information are Any to mypyc, wherever the
            # build runs from: mypy's own settings may not be found there.)
            args = ["--ignore-missing-imports", *sources]
            extensions = mypycify(args, opt_level="3", group_name=GROUP, target_dir=tmp)
            build_args = ["build_ext", "--inplace", "--build-temp", tmp, "--build-lib", tmp]
            setup(name="distillguard-native", ext_modules=extensions, script_args=build_args)
        finally:
            os.chdir(cwd)
            if cache is None:
                os.environ.pop("MYPY_CACHE_DIR", None)
            else:
                os.environ["MYPY_CACHE_DIR"] = cache
    MANIFEST.write_text(json.dumps({"modules": digests}, indent=1) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m distillguard.native_build", description=__doc__
    )
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = parser.parse_args(argv)
    if args.clean:
        clean()
        print("removed the compiled modules")
        return
    build()
    print(f"compiled {len(MODULES)} modules: {', '.join(MODULES)}")


if __name__ == "__main__":
    main()
