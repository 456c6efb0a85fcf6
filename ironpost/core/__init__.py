"""What every module shares: events, config, errors, the bus, the Module protocol, logging."""
