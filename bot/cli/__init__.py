"""``python -m bot`` / ``xiangyin``: the command line over the domain layer."""
from bot.cli.main import main  # noqa: F401
