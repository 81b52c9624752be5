"""Local mode: the upload API served on loopback, API Gateway and AWS emulated.

    python -m tools.dev.local --port 3000 --outputs local-outputs.json    (what `make local` runs)

gateway.py   what API Gateway does in front of the handler (routes, throttle, model, proxy event)
server.py    the HTTP front (aiohttp): answers what the gateway refuses without the handler
s3_front.py  the handler's S3 endpoint: presigned uploads checked as S3 does, then moto;
             each stored one handed to the finalizer as S3's EventBridge event
aws.py       the stack's bucket, table and keys, created in moto from the synthesized template
template.py  that template, read from template.json (written by a synth; local mode needs no CDK)
__main__.py  start-up: moto, the resources, the handler, the outputs file
"""
