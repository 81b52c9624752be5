"""Upload one file to the API and print the answer (`python -m tools.dev.upload --help`)."""
