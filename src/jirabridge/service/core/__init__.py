"""The service's plumbing, used by every feature: the unit of work and running it from async code,
the ports the adapters implement, `Idempotency-Key`, the outbound guard, the secret key."""
