"""Password gates: basic auth, the visitor login, share links."""
