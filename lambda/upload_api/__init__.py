"""POST /upload: store a product's file in S3 and its metadata in DynamoDB."""
