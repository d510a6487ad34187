"""The readers the fuzzing suite attacks, and the contract each must keep.

A target places a mutated file where its reader looks (``place``), runs the reader
(``run``) and says whether what happened keeps the contract (``classify``): the reader
returned, or raised one of the documented errors with a one-line message naming the file;
for the ``ember`` command, it returned 0, or 1 with exactly one ``ember <command>: error:``
line on stderr naming the file. Anything else is a violation.

``SELF_TESTS`` are targets that break the contract on purpose; the engine's own tests run
them to show that each kind of violation is caught.
"""
import abc
import contextlib
import ctypes
import io
import os
import time
import traceback

class ContractViolation(Exception):
    """What a command target raises when the command itself broke the contract."""


class Target(abc.ABC):
    """A reader of files of ``families`` (the seeds whose names match ``seeds``); the
    mutated file is named after its seed."""
    families = ()
    seeds = r".*"

    def __init__(self, name):
        self.name = name

    def place(self, folder, data, seed_name):
        path = os.path.join(folder, seed_name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    @abc.abstractmethod
    def run(self, subject):
        """Read ``subject`` as a user would."""

    def allowed(self):
        import ember
        return (ember.FileFormatError,)

    def classify(self, error, subject):
        """``error`` raised by ``run(subject)``: the documented outcome or a violation."""
        message = str(error)
        named = os.path.basename(subject.rstrip(os.sep))
        if isinstance(error, self.allowed()) and message and "\n" not in message \
                and named in message:
            return {"kind": "error", "type": type(error).__name__, "message": message[:300]}
        frames = traceback.extract_tb(error.__traceback__)[-3:]
        return {"kind": "raw", "type": type(error).__name__, "message": message[:500],
                "where": [f"{'/'.join(f.filename.split(os.sep)[-3:])}:{f.lineno} {f.name}"
                          for f in frames]}


class EmberLoad(Target):
    families = ("ember", "torch_zip", "torch_legacy", "torch_tar")

    def run(self, subject):
        import ember
        ember.load(subject)


class ReadIdx(Target):
    families = ("idx", "idx_gz")

    def run(self, subject):
        from ember.vision.datasets import read_idx
        read_idx(subject)


class Mnist(Target):
    """``MNIST(root)`` with the mutated file as one of its four files, the others valid."""
    families = ("idx", "idx_gz")

    def place(self, folder, data, seed_name):
        from tests.fuzz.seeds import mnist_files
        gz = seed_name.endswith(".gz")
        files = mnist_files()
        role = {"images": "t10k-images-idx3-ubyte", "labels": "t10k-labels-idx1-ubyte"}.get(
            seed_name.split(".")[0], "t10k-images-idx3-ubyte")
        for name, content in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(content)
        path = os.path.join(folder, role + (".gz" if gz else ""))
        with open(path, "wb") as f:
            f.write(data)
        if gz:
            os.remove(os.path.join(folder, role))
        return path

    def run(self, subject):
        from ember.vision.datasets import MNIST
        MNIST(os.path.dirname(subject), train=False)


class Cifar(Target):
    """``CIFAR10(root, train=False)`` with the mutated batch or meta file."""
    families = ("cifar_batch", "cifar_meta")

    def place(self, folder, data, seed_name):
        from tests.fuzz.seeds import cifar_files
        base = os.path.join(folder, "cifar-10-batches-py")
        os.makedirs(base, exist_ok=True)
        for name, content in cifar_files().items():
            with open(os.path.join(base, name), "wb") as f:
                f.write(content)
        path = os.path.join(base, "test_batch" if seed_name.startswith("test_batch")
                            else "batches.meta")
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run(self, subject):
        from ember.vision.datasets import CIFAR10
        CIFAR10(os.path.dirname(os.path.dirname(subject)), train=False)


class LoadImage(Target):
    families = ("image",)

    def run(self, subject):
        from ember.vision.datasets.folder import load_image, pil_loader
        load_image(subject)
        pil_loader(subject)


class ImageFolderData(Target):
    """``ember train --dataset PATH``'s loader on a folder of valid images and one mutated."""
    families = ("image",)

    def place(self, folder, data, seed_name):
        from tests.fuzz.seeds import folder_images
        for i, (name, content) in enumerate(folder_images().items()):
            os.makedirs(os.path.join(folder, "root", f"class{i % 2}"), exist_ok=True)
            with open(os.path.join(folder, "root", f"class{i % 2}", name), "wb") as f:
                f.write(content)
        path = os.path.join(folder, "root", "class1", "z_" + seed_name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def allowed(self):
        import ember
        from ember.train.data import DataError
        return (ember.FileFormatError, DataError)

    def run(self, subject):
        from ember.train.data import load_arrays
        load_arrays("folder", os.path.dirname(os.path.dirname(subject)))


class Command(Target):
    """The ``ember`` command on the file: exit 0, or 1 with one error line naming it."""

    def __init__(self, name, families, argv, seeds=r".*"):
        super().__init__(name)
        self.families = families
        self.argv = argv
        self.seeds = seeds

    def run(self, subject):
        from ember.cli import main
        argv = [part.replace("{file}", subject).replace("{checkpoint}", CHECKPOINT[0])
                for part in self.argv]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        lines = err.getvalue().strip().splitlines()
        if code == 0:
            return
        named = os.path.basename(subject)
        if code != 1 or len(lines) != 1 or not lines[0].startswith(f"ember {argv[0]}: error: ") \
                or named not in lines[0]:
            raise ContractViolation(f"exit {code}, stderr {err.getvalue()[:400]!r}")
        raise _CommandError(lines[0])

    def allowed(self):
        return (_CommandError,)


class _CommandError(Exception):
    """The command's one error line (the documented outcome)."""


# the training checkpoint ``predict`` uses (written into the seeds folder by the engine)
CHECKPOINT = [""]

TARGETS = {target.name: target for target in (
    EmberLoad("ember.load"), ReadIdx("read_idx"), Mnist("MNIST"), Cifar("CIFAR10"),
    LoadImage("load_image"), ImageFolderData("image_folder"),
    Command("ember_inspect", ("ember", "torch_zip", "torch_legacy", "torch_tar"),
            ["inspect", "{file}"]),
    Command("ember_eval", ("ember",), ["eval", "{file}"], seeds=r"train\.ember"),
    Command("ember_predict", ("image",), ["predict", "{checkpoint}", "{file}"]),
)}


# ------------------------------------------------------------------------------ self tests
class _Broken(Target):
    families = ("idx",)

    def __init__(self, name, action):
        super().__init__(name)
        self.action = action

    def run(self, subject):
        self.action(subject)


def _allocate(subject):
    import numpy as np
    blocks = []
    while True:
        blocks.append(np.ones(2 ** 27, np.uint8))


def _segfault(subject):
    ctypes.string_at(0)


def _write_beside(subject):
    with open("stray-file", "w") as f:
        f.write("x")


def _raise_value_error(subject):
    raise ValueError("a raw error")


def _unnamed(subject):
    import ember
    raise ember.FileFormatError("something is wrong with some file")


SELF_TESTS = {target.name: target for target in (
    _Broken("self_raw", _raise_value_error), _Broken("self_unnamed", _unnamed),
    _Broken("self_hang", lambda subject: time.sleep(60)), _Broken("self_memory", _allocate),
    _Broken("self_crash", _segfault), _Broken("self_write", _write_beside),
    _Broken("self_ok", lambda subject: None),
)}


def prepare():
    """Import everything the targets use, once, in the worker (children inherit it)."""
    import ember.cli  # noqa: F401
    import ember.nn  # noqa: F401
    import ember.optim  # noqa: F401
    import ember.train.data  # noqa: F401
    import ember.vision.datasets  # noqa: F401
    import ember.vision.models  # noqa: F401
    from PIL import Image
    Image.init()
    from ember.serialization import allowlist
    allowlist.Resolver().resolve("ember.nn.Linear")
