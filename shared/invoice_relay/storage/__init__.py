"""State: one DynamoDB table (single-table design, see keys.py) and one S3 bucket (see objects.py)."""
