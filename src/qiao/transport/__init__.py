"""I/O: the pooled upstream HTTP client and the incremental stream decoders."""
