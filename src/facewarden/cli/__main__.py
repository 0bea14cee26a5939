"""``python -m facewarden.cli``: the same as the ``facewarden`` command."""

from facewarden.cli import main

main()
