"""The WeChat channel: an Official Account (公众号) for residents, a small service in front of
the Rasa server like the Telegram channel.

    python -m bot.channels.wechat

* :mod:`.protocol` — URL verification, signed and encrypted (安全模式) callbacks, passive
  replies (wechatpy: ``check_signature``, ``WeChatCrypto``, ``parse_message``, ``create_reply``);
* :mod:`.server` — the Starlette callback app and the 5-second rule (answer in the response when
  the turn is quick, else ``success`` at once and a customer-service message later; a retried
  ``MsgId`` never runs twice, also after a restart or at another replica: the keys are kept in
  the database, :mod:`.limits`);
* :mod:`.handlers` — text, voice (WeChat's transcript, else ffmpeg + the Vosk recogniser), menu
  clicks, subscribe events, linking, the text commands that stand in for Telegram's slash
  commands (我的待办, 语音回复, 查积分, ...), spoken replies, photos for a grievance being filed,
  polite answers to locations and stickers; turns go to Rasa as ``wechat:<openid>`` through
  :mod:`bot.channels.rasa_client`;
* :mod:`.api` — access token, customer-service messages (客服消息: text, voice), template
  messages (模板消息), media downloads and uploads;
* :mod:`.delivery` — the outbox delivery adapter (客服消息 within WeChat's 48-hour window, a
  configured template message outside it);
* :mod:`.wecom` — the same for staff on a WeCom (企业微信) self-built app, with alert cards whose
  button takes charge of an emergency;
* :mod:`.accounts` (the channels' shared :mod:`bot.channels.accounts` with WeChat's wording, and
  the text commands), :mod:`.render`, :mod:`.limits`, :mod:`.config`, :mod:`.texts`;
* :mod:`.app` — the channel (uvicorn on ``settings.security.bind``:``settings.wechat.port``);
  ``__main__`` starts it and/or the WeCom app, whichever is configured.

Configuration: the ``settings.wechat`` section of :mod:`bot.config`.
"""
