"""``python -m lifsampling`` is the ``lifsampling`` command."""

from .cli import main

main()
