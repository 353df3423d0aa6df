"""The command-line tools: each module's ``main`` parses its arguments and runs, ``cli`` is its
console entry point (``npcr-train`` ... from ``pip install``); ``tools/*.py`` call the same."""
