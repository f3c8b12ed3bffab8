"""fleet: serving simulation, disaggregated prefill/decode, routing and planning."""
