"""Migration toolkit: scan, plan, estimate, rewrite, compare (``qiao migrate ...``)."""
