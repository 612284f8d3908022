"""``python -m afterword.cli``: the same command as the ``afterword`` script."""

from afterword.cli import main

main()
