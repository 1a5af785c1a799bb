"""Custom domains: validation, attachment to a site, and ownership checks."""
