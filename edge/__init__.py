"""The edge file server: serves live releases from disk, never touching the database."""
