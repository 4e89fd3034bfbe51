"""Credentials: the server secret and what is derived from it, password/PIN hashing, signed
session tokens, and voice-device request signatures. See docs/security.md for the threat model.

Identity always comes from one of these credentials, never from a field a client chooses.
"""
