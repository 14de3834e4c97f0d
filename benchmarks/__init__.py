"""Benchmarks of keras_vim against the PyTorch implementations users would otherwise pick.

Not part of the library or of the test suite; see `benchmarks/README.md`.
"""

import os

# PyTorch's OpenMP threads spin between parallel regions. On a 2-core machine shared with
# other jobs, that made two threads 13x slower than one (parti-pytorch encode, measured here);
# waiting passively removes the stall. It must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
