"""What more than one tool package reads. Imports nothing heavy: the
pipeline's verifier installs only its own pins."""
