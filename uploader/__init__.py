"""Upload sealed bundles to S3-compatible storage, and download them for labs."""
