"""What the data-loss tests compare: a directory's files, byte for byte."""

import os


def directory_files(directory):
    """Every file under `directory`: relative path -> bytes."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files
