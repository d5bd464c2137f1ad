"""The HTTP API: thin routes over the Temporal client (writes, live state) and the read model."""
