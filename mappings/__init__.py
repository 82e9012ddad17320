"""Field mappings, lookup tables, conditional rules and the engine that runs them."""
