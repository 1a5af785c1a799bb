"""Monitoring of live environments: periodic checks, their history, and announcements."""
