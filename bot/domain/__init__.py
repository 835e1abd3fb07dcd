"""Pure data and rules, no I/O: models, Sora's requests and prices, quota policy, server rules."""
