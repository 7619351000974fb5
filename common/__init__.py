"""What every chiiki service shares: settings, database, tables, errors, auth, request ids, money."""
