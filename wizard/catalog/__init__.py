"""What the planner plans for: models (bundled catalog, local directories, the Hub) and GPUs (catalog, NVML)."""
