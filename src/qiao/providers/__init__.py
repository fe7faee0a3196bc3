"""Provider modules (one per wire protocol) and the registry that finds them."""
