"""Writes or checks the notebooks of the tutorials.

Each tutorial is written as `tutorials/NN_name.py` in jupytext's "percent" format; the
`tutorials/NN_name.ipynb` beside it is generated from it, with stripped outputs (small,
diffable files) and stable cell ids (regenerating an unchanged tutorial changes nothing).

    python .ci/sync_tutorials.py          # (re)write every notebook from its .py
    python .ci/sync_tutorials.py --check  # fail if a notebook differs from its .py (CI)
"""

import argparse
import glob
import os
import sys

import jupytext
import nbformat

TUTORIALS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tutorials")


def notebook_from_script(path):
    """The notebook jupytext makes of a percent-format script, with ids `cell-0`, `cell-1`..."""
    notebook = jupytext.read(path)
    notebook.metadata.pop("jupytext", None)  # holds the jupytext version: churn, no content
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return notebook


def cells(notebook):
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def problems(script, notebook_path):
    """What is wrong with the committed notebook of `script` (an empty list if nothing)."""
    if not os.path.exists(notebook_path):
        return [f"{notebook_path} is missing"]
    expected = notebook_from_script(script)
    committed = nbformat.read(notebook_path, as_version=4)
    found = []
    if cells(committed) != cells(expected):
        found.append(f"{notebook_path}: its cells differ from {script}")
    if any(cell.get("outputs") or cell.get("execution_count") for cell in committed.cells):
        found.append(f"{notebook_path}: has outputs (commit notebooks with outputs stripped)")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Check instead of writing.")
    args = parser.parse_args(argv)
    scripts = sorted(glob.glob(os.path.join(TUTORIALS, "[0-9]*.py")))
    notebooks = sorted(glob.glob(os.path.join(TUTORIALS, "[0-9]*.ipynb")))
    if not scripts:
        sys.exit(f"no tutorials found in {os.path.normpath(TUTORIALS)}")
    found = []
    for notebook_path in notebooks:
        if notebook_path[: -len(".ipynb")] + ".py" not in scripts:
            found.append(f"{notebook_path} has no .py source")
    for script in scripts:
        notebook_path = script[: -len(".py")] + ".ipynb"
        if args.check:
            found += problems(script, notebook_path)
        else:
            nbformat.write(notebook_from_script(script), notebook_path)
            print(f"wrote {os.path.relpath(notebook_path)}")
    if found:
        print("\n".join(found), file=sys.stderr)
        if args.check:
            print("Regenerate them with: python .ci/sync_tutorials.py", file=sys.stderr)
        sys.exit(1)
    if args.check:
        print(f"{len(scripts)} tutorial notebooks match their .py sources")


if __name__ == "__main__":
    main()
