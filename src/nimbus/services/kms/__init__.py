"""AWS KMS: symmetric keys, aliases, envelope encryption with real AES-256-GCM."""
