"""Pure domain code: values in, values out. No boto3, no network, no files."""
