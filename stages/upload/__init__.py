"""The upload stack: API Gateway -> Lambda -> S3 + DynamoDB, with keys, alarms, deployment, scanning."""
