"""Channels: how people reach the assistant. Every turn goes through :mod:`.turn` (input limits,
the emergency override, the shared busy/failed replies). Inside the Rasa server: :mod:`.rest`
and :mod:`.voice` (input channels Rasa builds from credentials.yml). Outside it, talking to the
REST channel through :mod:`.rasa_client`: :mod:`.terminal` and :mod:`.telegram`. Outbox
notifications go out through delivery adapters (:class:`bot.outbox.DeliveryAdapter`)."""
