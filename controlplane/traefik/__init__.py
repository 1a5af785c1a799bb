"""Traefik integration: rule strings, the rendered dynamic config, validation, atomic files."""
