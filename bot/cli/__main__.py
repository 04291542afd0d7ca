"""``python -m bot.cli``: the ``supportbot`` console script (tests run it this way in a subprocess)."""

from bot.cli import main

main()
