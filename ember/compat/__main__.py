"""``python -m ember.compat script.py [args]`` / ``python -m ember.compat -m module [args]``:
run a PyTorch program on Ember (see :mod:`ember.compat`)."""
import os
import runpy
import sys

from ember.compat import install

USAGE = """usage: python -m ember.compat script.py [args ...]
       python -m ember.compat -m package.module [args ...]

Runs a program written for PyTorch with Ember serving the torch and torchvision modules."""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "-m":
        if len(argv) < 2:
            print("ember.compat: -m needs a module name\n" + USAGE, file=sys.stderr)
            return 2
        install()
        sys.argv = [argv[1]] + argv[2:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.isfile(script):
        print(f"ember.compat: can't open file {script!r}: no such file", file=sys.stderr)
        return 2
    install()
    sys.argv = argv
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
