"""Point-issuance service: municipal point programs, their budget ledger and provider webhooks."""
