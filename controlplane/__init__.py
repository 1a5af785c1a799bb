"""Wharf control plane: API, admin UI, Traefik config writer, build worker."""
