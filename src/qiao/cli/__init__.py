"""The ``qiao`` command line."""
