"""A fuzzing suite for every reader of a user's file (issue 23).

It keeps ``ember.reading``'s contract true: whatever the bytes, each reader returns, or
raises Ember's documented error (``ember.FileFormatError`` and its subclasses; ``DataError``
for data sets opened by name) with one line naming the file -- or, for the ``ember`` command,
exits with 1 and one such line -- within a memory bound and a time limit.

* ``seeds.py`` writes one or more valid files of every format (Ember checkpoints of data,
  whole modules and training runs; PyTorch files in the zip, legacy and tar layouts; IDX
  files raw and gzipped; CIFAR pickles; PNG, JPEG, BMP, PGM/PPM, TIFF, GIF and WebP images).
* ``mutations.py`` damages them: structure-aware mutations (zip header fields and members,
  ``.npy`` headers, JSON manifests, pickle opcodes and their arguments, CIFAR objects, IDX
  headers, image headers and PNG chunks, tar headers) stacked with random byte mutations
  (bit flips, interesting integers, insertions, deletions, truncations, splices).
* ``targets.py`` names the readers and their contracts: ``ember.load`` (Ember and PyTorch
  files), ``read_idx``, ``MNIST``, ``CIFAR10``, ``load_image``, image folders, and the
  ``ember inspect`` / ``eval`` / ``predict`` commands.
* ``engine.py`` runs each case in a child process forked from a worker that has imported
  Ember once, under an address-space limit (``RLIMIT_AS``: what the worker has mapped plus
  ``--memory-mib``, default 1024) and a time limit (``--timeout``, default 10 s), and classes
  the outcome: returned, the documented error, a raw exception (any other type, or a message
  that is not one line naming the file), a crash (a signal), a hang, a ``MemoryError`` or a
  peak RSS growth above the bound, or a file written where the reader should write nothing.
  A violation's bytes are kept with the command that replays it.

Why a fuzzer of our own rather than ``hypothesis`` or a coverage-guided one (atheris):
each case must run in its own process, under its own memory and time limits, so a memory
blow-up or a crash is an observed outcome and not the end of the run; atheris runs cases in
its own process and needs a native build for each Python, and hypothesis generates inside
the test process and shrinks by re-running there. Here every case is a pure function of
``(seed, target, index)`` -- a case id replays exactly -- and the mutations know the formats,
which is what reaches the readers' checks past the first magic number.

Runs: ``tests/fuzz/test_fuzz.py`` (part of ``make test``: a fixed, deterministic set of cases,
about a minute on two cores) and ``make fuzz`` (``python -m tests.fuzz``: as long as asked).
"""
