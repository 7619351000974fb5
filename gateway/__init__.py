"""The gateway: one address for apps, providers and ops, in front of the three services."""
