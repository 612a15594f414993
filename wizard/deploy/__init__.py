"""Deployment artifacts rendered from a plan: vllm serve, Docker, Compose, Kubernetes, Ray."""
