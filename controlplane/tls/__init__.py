"""TLS: the five strategies, uploaded certificates, and issuance from an ACME CA."""
