"""Deploys: uploads checked, built into immutable releases, published, rolled back, pruned."""
