"""`replaced_directory(target)`: write a directory's files elsewhere, then swap them in whole.

A failure while writing leaves `target` as it was; a success leaves only what was written
(nothing of an earlier `target` is left over).
"""

import contextlib
import os
import shutil
import uuid


@contextlib.contextmanager
def replaced_directory(target):
    """Yields a new, empty directory beside `target` (on the same file system, so renaming it
    is atomic). When the block ends normally it takes `target`'s place, and an earlier
    `target` is removed; when the block raises, it is removed and `target` is left as it was.
    A symbolic link `target` is followed: the directory it points to is replaced."""
    target = os.path.realpath(target)
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{name}.writing-{uuid.uuid4().hex[:8]}")
    os.mkdir(staging)  # not mkdtemp: its mode 0o700 would stay on the result
    try:
        yield staging
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging, target):
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    # Two renames: POSIX has no portable atomic exchange of two directories.
    old = staging.replace(".writing-", ".old-")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    # The new directory is in place: a leftover of the old one must not fail the write.
    shutil.rmtree(old, ignore_errors=True)
