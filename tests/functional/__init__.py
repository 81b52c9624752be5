"""The handler on moto, driven by API Gateway REST proxy events."""
