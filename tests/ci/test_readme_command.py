"""CI runs the README's test command as written, and that command installs what it runs."""

import importlib.util
import pathlib
import re
import tomllib

import pytest
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECT = "keras-vim"


def readme_command_module():
    spec = importlib.util.spec_from_file_location("readme_command", ROOT / ".ci/readme_command.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_test_command():
    module = readme_command_module()
    return module.test_command((ROOT / "README.md").read_text())


def installed_extras(command):
    """The extras of this project that `pip install -e ".[a,b]"` in `command` installs."""
    found = re.findall(r'pip install -e "\.\[([^\]]*)\]"', command)
    assert len(found) == 1, f"the README's test command installs the repo once: {command!r}"
    return {extra.strip() for extra in found[0].split(",")}


def requirements_of(extras):
    """The requirement names the extras pull in, following `keras-vim[...]` self-references."""
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names, pending, seen = set(), list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional[extra]:
            requirement = Requirement(line)
            if requirement.name == PROJECT:
                pending += sorted(requirement.extras)
            else:
                names.add(requirement.name)
    return names


def test_readme_holds_one_command_that_installs_then_runs_the_test_script():
    command = readme_test_command()
    assert "\n" not in command and command.endswith("&& bash .ci/test.sh")
    assert {"test", "jax", "torch"} <= installed_extras(command)


def test_readme_command_installs_everything_the_test_script_runs():
    # .ci/test.sh runs pytest (the `test` extra), then .ci/tutorials.sh (the `tutorials` one).
    assert ".ci/tutorials.sh" in (ROOT / ".ci/test.sh").read_text()
    installed = requirements_of(installed_extras(readme_test_command()))
    needed = requirements_of({"test", "tutorials"})
    assert needed <= installed, f"the README's test command misses {sorted(needed - installed)}"
    assert {"pytest", "jupytext", "nbmake", "ipykernel"} <= installed
    # scipy (the probe's L-BFGS, the Fréchet distance check) comes with the package itself.
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "scipy" in {Requirement(line).name for line in base}


def test_ci_runs_the_readme_command_and_installs_nothing_else():
    script = (ROOT / ".ci/run").read_text()
    assert "python .ci/readme_command.py" in script
    assert '-c "$test_command"' in script
    installs = [line for line in script.splitlines() if "pip install" in line]
    assert installs == ["python -m pip install --quiet --upgrade pip"], installs
    assert "ruff check" in script and "ruff format --check" in script


@pytest.mark.parametrize(
    "text, match",
    [
        ("no markers", "must hold"),
        ("{begin}\n```bash\npip install x\n```\n", "must hold"),
        ("{begin}\npip install x\n{end}", "one code block"),
        ("{begin}\n```bash\n# only a comment\n```\n{end}", "holds no command"),
    ],
)
def test_readme_command_errors(text, match):
    module = readme_command_module()
    text = text.format(begin=module.BEGIN, end=module.END)
    with pytest.raises(ValueError, match=match):
        module.test_command(text)
