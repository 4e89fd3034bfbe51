"""The Telegram channel (python-telegram-bot): see :mod:`bot.channels.telegram.app`."""
