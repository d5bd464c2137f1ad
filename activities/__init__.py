"""Activities: every step that touches the outside. Small, idempotent, retry-safe."""
