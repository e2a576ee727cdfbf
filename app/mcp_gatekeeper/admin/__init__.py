"""Administration: an API on loopback behind a token, and the CLI that calls it."""
