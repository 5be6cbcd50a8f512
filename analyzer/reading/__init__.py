"""Reading: capture files, datasets and storage, local and S3."""
