"""Checks against reality: real vLLM start-up logs and benchmark results set beside the plan."""
