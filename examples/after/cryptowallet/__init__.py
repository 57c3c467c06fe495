"""A small wallet API: wallets, their transactions, labels and contacts."""
