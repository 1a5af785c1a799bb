"""Sites: the named things users own, deploy to and route."""
