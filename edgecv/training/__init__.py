"""Training: config, data pipeline, loop, optimizers/schedules and callbacks (needs torch)."""
