"""Running Wharf: the database to open (configured or embedded) and `wharf up`'s child processes."""
