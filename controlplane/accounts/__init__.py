"""Accounts: users, logins, API tokens, credentials, and the first admin."""
