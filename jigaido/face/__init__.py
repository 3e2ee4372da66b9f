"""The faces: Telegram (the router, the polling loop, the webhook, the Bot API calls),
the settings, and the command line's run, try and check."""
