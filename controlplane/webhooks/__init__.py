"""Webhooks: the URLs a site's alerts are POSTed to, signed, retried and logged."""
