"""Rasa custom actions: thin adapters from rasa_sdk to the domain layer in ``bot``."""
