"""The `wharf` command line: the server commands and the JSON API client."""
