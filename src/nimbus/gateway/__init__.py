"""The HTTP gateway: every AWS request enters here and leaves serialized."""
