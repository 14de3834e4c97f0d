"""Prints the README's test command (the code block between the markers below), which
`.ci/run` runs as written: what the README tells a new user to run is what CI runs."""

import pathlib

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- test command: .ci/run runs the block below as written -->"
END = "<!-- end of the test command -->"


def test_command(text):
    """The shell lines of the block between `BEGIN` and `END`: no fences, comments or blanks."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"{README} must hold {BEGIN!r} and then {END!r} once each.")
    block = text.split(BEGIN)[1].split(END)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    if not (lines and lines[0].startswith("```") and lines[-1].startswith("```")):
        raise ValueError(f"The test command in {README} must be one code block.")
    command = [line for line in lines[1:-1] if not line.lstrip().startswith("#")]
    if not command:
        raise ValueError(f"The test command block in {README} holds no command.")
    return "\n".join(command)


if __name__ == "__main__":
    print(test_command(README.read_text()))
