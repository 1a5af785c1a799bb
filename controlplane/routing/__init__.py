"""Routing: the one reconciler that turns the database into Traefik's file and the edge's map."""
